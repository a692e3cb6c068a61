import CZstd
import Foundation
import MoEData

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

    /// The key of `files` (paths, sizes, modification times in ns) under `settings`.
    /// - Throws: `DataError.fileNotFound` naming a file that cannot be stat'ed.
    public static func key(files: [String], settings: String) throws -> String {
        // stat() dominates a cache hit on many small files; it runs on the worker threads.
        let lines = ParallelDecoder.decodeEach(files.count, progress: nil) { i -> String in
            var info = stat()
            guard stat(files[i], &info) == 0 else {
                throw DataError.fileNotFound(path: files[i], hint: "listed by the dataset but not readable")
            }
            let mtime = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
            return "\(files[i])\t\(info.st_size)\t\(mtime)"
        }
        return try (["moe-cache v1", settings] + lines.map { try $0.get() }).joined(separator: "\n")
    }

    /// FNV-1a 64 of `text`, as 16 hex digits.
    static func hash(_ text: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
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

    /// The cached split for `key`, or nil (missing, damaged, or written for another key).
    public func load(name: String, key: String) -> LoadedSplit? {
        guard let bytes = FileManager.default.contents(atPath: path(name: name, key: key)) else { return nil }
        let size = bytes.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        guard size != ZSTD_CONTENTSIZE_ERROR, size != ZSTD_CONTENTSIZE_UNKNOWN, size <= UInt64(Int.max) else {
            return nil
        }
        var ok = false
        let raw = [UInt8](unsafeUninitializedCapacity: max(Int(size), 1)) { out, initialized in
            let rc = bytes.withUnsafeBytes { ZSTD_decompress(out.baseAddress, Int(size), $0.baseAddress, $0.count) }
            ok = ZSTD_isError(rc) == 0 && rc == Int(size)
            initialized = ok ? Int(size) : 0
        }
        return ok ? CacheCodec.decode(raw, key: key) : nil
    }

    /// Writes `split` for `key`; returns an explanation when it could not (the run goes on
    /// without a cache).
    @discardableResult
    public func store(_ split: LoadedSplit, name: String, key: String) -> String? {
        let raw = CacheCodec.encode(split, key: key)
        let bound = ZSTD_compressBound(raw.count)
        var failed = false
        let compressed = [UInt8](unsafeUninitializedCapacity: max(bound, 1)) { out, initialized in
            let rc = raw.withUnsafeBytes { ZSTD_compress(out.baseAddress, bound, $0.baseAddress, $0.count, 1) }
            failed = ZSTD_isError(rc) != 0
            initialized = failed ? 0 : rc
        }
        guard !failed else { return "zstd could not compress the cache" }
        let target = path(name: name, key: key)
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data(compressed).write(to: URL(fileURLWithPath: target), options: .atomic)
            return nil
        } catch {
            return "cannot write the cache \(target): \(error.localizedDescription)"
        }
    }
}
