import CZstd
import Foundation
import MoEData
import MoETensor
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Prepared splits on disk (DESIGN §8.1), so a second run, `eval`, `adapt` or `predict`'s
/// training data start without decoding: one zstd-compressed `CacheCodec` file per split in
/// `folder`, named `<name>-<hash>.zst` with hash = FNV-1a 64 of the key. The key lists every
/// input file with its size and modification time, and the preprocessing settings, and is
/// stored whole in the file: any change to the data or the settings misses the cache. Writes
/// go to a temporary file renamed into place; a damaged or stale file is ignored and rebuilt.
public struct PreparedCache: Sendable {
    public let folder: String

    public init(folder: String) { self.folder = folder }

    /// The key of `files` (paths, sizes, modification times in ns) under `settings`: one
    /// line `path\tsize\tmtime` per file after a version line and the settings.
    /// - Throws: `DataError.fileNotFound` naming the first file (in order) that cannot be
    ///   stat'ed.
    public static func key(files: [String], settings: String) throws -> String {
        key(paths: files, stamps: try stamps(of: files).map(Optional.some), settings: settings)
    }

    /// The key of files stamped already (while listing them, `FileScan`), `stamps[i]` being
    /// `paths[i]`'s. Blocks of lines are written on the worker threads and joined in order.
    /// A missing stamp is written `-\t-`, which no stamped file's line matches.
    public static func key(paths: [String], stamps: [FileStamp?], settings: String) -> String {
        let count = min(paths.count, stamps.count)
        let blocks = (count + keyBlock - 1) / keyBlock
        let lines = Mutex<[Int: [UInt8]]>([:])
        Parallel.forEach(count: blocks) { b in
            var bytes: [UInt8] = []
            bytes.reserveCapacity(keyBlock * 96)
            for i in (b * keyBlock)..<min(count, (b + 1) * keyBlock) {
                var path = paths[i]
                path.withUTF8 { bytes.append(contentsOf: $0) }
                bytes.append(0x09)
                if let stamp = stamps[i] {
                    appendDecimal(stamp.size, to: &bytes)
                    bytes.append(0x09)
                    appendDecimal(stamp.modified, to: &bytes)
                } else {
                    bytes += [0x2D, 0x09, 0x2D]
                }
                bytes.append(0x0A)
            }
            lines.withLock { $0[b] = bytes }
        }
        var key = Array("moe-cache v1\n\(settings)\n".utf8)
        lines.withLock { done in
            key.reserveCapacity(key.count + done.values.reduce(0) { $0 + $1.count })
            for b in 0..<blocks { key += done[b]! }
        }
        key.removeLast()  // lines are joined, not terminated
        return String(decoding: key, as: UTF8.self)
    }

    /// The stamps of `files`, by `stat`: it dominates a cache hit on many small files, so
    /// blocks of files are claimed by the worker threads as they go (a thread the kernel
    /// holds up leaves its share to the others).
    /// - Throws: `DataError.fileNotFound` naming the first file (in order) that cannot be
    ///   stat'ed.
    public static func stamps(of files: [String]) throws -> [FileStamp] {
        var stamps = [FileStamp](repeating: FileStamp(size: 0, modified: 0), count: files.count)
        let firstMissing = Atomic<Int>(Int.max)
        let blocks = (files.count + keyBlock - 1) / keyBlock
        let nextBlock = Atomic<Int>(0)
        stamps.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(count: min(Parallel.threads, blocks)) { _ in
                var info = stat()
                while true {
                    let b = nextBlock.add(1, ordering: .relaxed).oldValue
                    guard b < blocks else { return }
                    for i in (b * keyBlock)..<min(files.count, (b + 1) * keyBlock) {
                        guard stat(files[i], &info) == 0 else {
                            firstMissing.min(i, ordering: .relaxed)
                            break
                        }
                        out[i] = FileStamp(info)
                    }
                }
            }
        }
        let missing = firstMissing.load(ordering: .relaxed)
        guard missing == Int.max else {
            throw DataError.fileNotFound(path: files[missing], hint: "listed by the dataset but not readable")
        }
        return stamps
    }

    /// Files per block of `stamps(of:)`'s and `key(paths:stamps:settings:)`'s work.
    static let keyBlock = 512

    /// Appends the decimal digits of `value` (as `String(value)` writes them). Digits come
    /// from division by the constant 10, which compiles to a multiply: a key holds two
    /// numbers per file, and division by a variable cost more than the rest of its line.
    static func appendDecimal(_ value: Int64, to bytes: inout [UInt8]) {
        if value < 0 { bytes.append(0x2D) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes ≥ the 20 digits of UInt64.max
        withUnsafeMutableBytes(of: &digits) { buffer in
            var start = buffer.count
            repeat {
                start -= 1
                buffer[start] = 0x30 + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start...]))
        }
    }

    /// FNV-1a 64 of `text` taken over 8-byte little-endian words (then the last bytes one
    /// by one), as 16 hex digits: one multiply per word, not per byte, on a key of 1.5 MB
    /// for 20,000 files. It only names the file; the key stored in it is what is compared.
    static func hash(_ text: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var text = text
        text.withUTF8 { bytes in
            let words = bytes.count / 8
            let raw = UnsafeRawBufferPointer(bytes)
            for w in 0..<words {
                h ^= UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self))
                h = h &* 0x100_0000_01b3
            }
            for b in bytes[(words * 8)...] {
                h ^= UInt64(b)
                h = h &* 0x100_0000_01b3
            }
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    func path(name: String, key: String) -> String {
        (folder as NSString).appendingPathComponent("\(name)-\(Self.hash(key)).zst")
    }

    /// Where a split above its memory budget is streamed from (`StreamedSplitFile`).
    public func streamPath(name: String, key: String) -> String {
        (folder as NSString).appendingPathComponent("\(name)-\(Self.hash(key)).stream")
    }

    /// The cached split for `key`, or nil (missing, damaged, or written for another key);
    /// from `prefetched`'s bytes when it decompressed the file `key` names.
    public func load(name: String, key: String, prefetched: CachePrefetch? = nil) -> LoadedSplit? {
        let path = path(name: name, key: key)
        if let raw = prefetched?.bytes(name: name, path: path) { return CacheCodec.decode(raw, key: key) }
        guard let file = try? MappedFile(path: path) else { return nil }
        return file.withBytes { Self.decode(file: $0, key: key) }
    }

    /// The split in a cache file's bytes (zstd frames of a `CacheCodec` record) for `key`;
    /// nil when they are damaged, written for another key, or state more than `limit` bytes.
    public static func decode(
        file bytes: UnsafeRawBufferPointer, key: String,
        limit: Int = PreparedCache.decompressionLimit
    ) -> LoadedSplit? {
        decompressFrames(bytes, limit: limit).flatMap { CacheCodec.decode($0, key: key) }
    }

    /// The split in an uncompressed `CacheCodec` record for `key` (what the fuzzers reach
    /// past zstd with); nil when damaged or written for another key.
    public static func decode(record: [UInt8], key: String) -> LoadedSplit? {
        CacheCodec.decode(record, key: key)
    }

    /// Writes `split` for `key`; returns an explanation when it could not (the run goes on
    /// without a cache).
    @discardableResult
    public func store(_ split: LoadedSplit, name: String, key: String) -> String? {
        guard let compressed = Self.compressFrames(CacheCodec.encode(split, key: key)) else {
            return "zstd could not compress the cache"
        }
        let target = path(name: name, key: key)
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data(compressed).write(to: URL(fileURLWithPath: target), options: .atomic)
            return nil
        } catch {
            return "cannot write the cache \(target): \(error.localizedDescription)"
        }
    }

    /// The default cap on the bytes a cache file may state it holds: physical memory (a
    /// damaged header may state any size, and the output is allocated first).
    public static let decompressionLimit = Int(clamping: ProcessInfo.processInfo.physicalMemory)

    /// Raw bytes per zstd frame. Frames are independent, so they compress and decompress on
    /// the worker threads; concatenated, they are still one valid zstd stream.
    static let frameBytes = 1 << 20

    /// zstd's fast level −3: literals stay raw, so prepared pixels (about 2:1 at level 1)
    /// decompress 1.7× and compress 2× as fast for a cache about 10 % larger.
    static let compressionLevel: Int32 = -3

    /// `raw` as concatenated zstd frames (`compressionLevel`) of `frameBytes` each; nil on a
    /// zstd error.
    static func compressFrames(_ raw: [UInt8]) -> [UInt8]? {
        let frames = max(1, (raw.count + frameBytes - 1) / frameBytes)
        let parts = Mutex<[Int: [UInt8]]>([:])
        raw.withUnsafeBytes { source in
            Parallel.forEach(count: frames) { f in
                let input = UnsafeRawBufferPointer(
                    rebasing: source[(f * frameBytes)..<min(raw.count, (f + 1) * frameBytes)])
                let bound = ZSTD_compressBound(input.count)
                var failed = false
                let part = [UInt8](unsafeUninitializedCapacity: max(bound, 1)) { out, initialized in
                    let rc = ZSTD_compress(
                        out.baseAddress, bound, input.baseAddress, input.count, compressionLevel)
                    failed = ZSTD_isError(rc) != 0
                    initialized = failed ? 0 : rc
                }
                if !failed { parts.withLock { $0[f] = part } }
            }
        }
        let done = parts.withLock { $0 }
        guard done.count == frames else { return nil }
        return (0..<frames).flatMap { done[$0]! }
    }

    /// The concatenated frames of `source` decompressed, each into its place and on the
    /// worker threads; nil unless every frame parses, states its size (in all at most
    /// `limit` bytes), and decompresses.
    static func decompressFrames(
        _ source: UnsafeRawBufferPointer, limit: Int = PreparedCache.decompressionLimit
    ) -> [UInt8]? {
        guard let job = FrameDecompression(source, limit: limit) else { return nil }
        return job.run { Parallel.forEach(count: min(Parallel.threads, job.frames.count)) { _ in job.work() } }
    }
}
