import Foundation
import MoEData
import MoEImage

#if canImport(Glibc)
import Glibc
#endif

/// A prepared split larger than its memory budget (DESIGN §8.1): decoded chunk by chunk into
/// one uncompressed file, then mapped, so batches read their pages from the file and the
/// split never sits in memory whole. Layout (little-endian):
///
///     "MOESTRM1" | u64 pixelsOffset (4096) | u64 pixelBytes | u64 masksOffset | u64 maskBytes
///     | u64 metaOffset | u64 metaBytes | zeros to 4096 | pixels | masks | meta
///
/// `meta` is the `CacheCodec` encoding of the split with empty pixel and mask blobs: the key,
/// the preprocessing, the letterbox transforms and the labels or boxes. A file that does not
/// parse exactly, or was written for another key, is not used.
public enum StreamedSplitFile {
    static let magic = Array("MOESTRM1".utf8)
    static let pixelsOffset = 4096
    static let headerFields = 6

    /// The split stored at `path` for `key`, mapped; nil when missing, damaged or stale.
    public static func load(path: String, key: String) -> LoadedSplit? {
        guard let file = try? MappedFile(path: path), file.length >= magic.count + 8 * headerFields else { return nil }
        let raw = UnsafeRawPointer(file.base)
        guard (0..<magic.count).allSatisfy({ file.base[$0] == magic[$0] }) else { return nil }
        let fields = (0..<headerFields).map {
            raw.loadUnaligned(fromByteOffset: magic.count + 8 * $0, as: UInt64.self).littleEndian
        }
        guard fields.allSatisfy({ $0 <= UInt64(file.length) }) else { return nil }
        let f = fields.map { Int($0) }
        let (pixels, pixelBytes, masks, maskBytes, meta, metaBytes) = (f[0], f[1], f[2], f[3], f[4], f[5])
        guard pixels == pixelsOffset, masks == pixels + pixelBytes, meta == masks + maskBytes,
            meta <= file.length - metaBytes, meta + metaBytes == file.length
        else { return nil }
        let metadata = Array(UnsafeBufferPointer(start: file.base + meta, count: metaBytes))
        let external = (
            pixels: ByteStore(mapped: file, offset: pixels, count: pixelBytes),
            masks: maskBytes > 0 ? ByteStore(mapped: file, offset: masks, count: maskBytes) : nil
        )
        return CacheCodec.decode(metadata, key: key, external: external)
    }

    /// Decodes `count` images with `decode`, `chunk` at a time, into `path` (a temporary file
    /// renamed into place), and returns the split mapped from it.
    /// - Throws: what `decode` throws; `DataError.invalid` naming the file when it cannot be
    ///   written (e.g. the disk is full), with the temporary file removed.
    public static func write(
        path: String, key: String, count: Int, preprocessing: ImagePreprocessing, masks hasMasks: Bool, chunk: Int,
        decode: (Range<Int>) throws -> LoadedSplit
    ) throws -> LoadedSplit {
        let plane = preprocessing.height * preprocessing.width
        let (pixelBytes, overflowP) = count.multipliedReportingOverflow(by: preprocessing.sampleSize)
        let (maskBytes, overflowM) = count.multipliedReportingOverflow(by: hasMasks ? plane : 0)
        guard !overflowP, !overflowM, pixelBytes <= Int.max - pixelsOffset - maskBytes else {
            throw DataError.invalid(detail: "\(path): \(count) images are too many to stream")
        }
        let temporary =
            ((path as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent(
                ".\((path as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let out = try StreamWriter(path: temporary)
        do {
            var transforms: [LetterboxTransform?] = []
            var targets: LoadedSplit.Targets?
            for start in stride(from: 0, to: count, by: max(chunk, 1)) {
                let range = start..<min(start + max(chunk, 1), count)
                let part = try decode(range)
                guard part.count == range.count, part.images.pixels.count == range.count * preprocessing.sampleSize
                else { throw DataError.invalid(detail: "\(path): a decoded chunk has the wrong size") }
                try out.write(part.images.pixels, at: pixelsOffset + start * preprocessing.sampleSize)
                if case .masks(let m) = part.targets {
                    guard hasMasks, m.count == range.count * plane else {
                        throw DataError.invalid(detail: "\(path): a decoded chunk has masks of the wrong size")
                    }
                    try out.write(m, at: pixelsOffset + pixelBytes + start * plane)
                }
                transforms += part.images.transforms
                targets = appending(part.targets, to: targets)
            }
            let split = LoadedSplit(
                images: PreparedImages(preprocessing: preprocessing, pixels: ByteStore([]), transforms: transforms),
                targets: targets ?? .labels([]))
            let meta = ByteStore(CacheCodec.encode(split, key: key, external: true))
            let metaOffset = pixelsOffset + pixelBytes + maskBytes
            try out.write(meta, at: metaOffset)
            var header = ByteWriter()
            header.bytes(magic)
            for v in [pixelsOffset, pixelBytes, pixelsOffset + pixelBytes, maskBytes, metaOffset, meta.count] {
                header.u64(UInt64(v))
            }
            try out.write(ByteStore(header.data), at: 0)
            try out.finish(renamingTo: path)
        } catch {
            out.abandon()
            throw error
        }
        guard let mapped = load(path: path, key: key) else {
            throw DataError.corrupt(path: path, detail: "the streamed split just written does not read back")
        }
        return mapped
    }

    /// `part` appended to `so` (masks stay in the file: only their kind is kept).
    static func appending(_ part: LoadedSplit.Targets, to so: LoadedSplit.Targets?) -> LoadedSplit.Targets {
        switch (so, part) {
        case (.labels(let a)?, .labels(let b)): .labels(a + b)
        case (.boxes(let a)?, .boxes(let b)): .boxes(a + b)
        case (nil, .labels), (nil, .boxes): part
        default: .masks(ByteStore([]))
        }
    }
}

/// Positioned writes into a new file, made durable and renamed into place by `finish`.
private final class StreamWriter {
    let path: String
    private var fd: Int32

    init(path: String) throws {
        self.path = path
        fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Self.failure(path, "cannot create") }
    }

    func write(_ bytes: ByteStore, at offset: Int) throws {
        try bytes.withUnsafeBufferPointer { buffer in
            var done = 0
            while done < buffer.count {
                let n = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw Self.failure(path, "cannot write") }
                done += n
            }
        }
    }

    func finish(renamingTo target: String) throws {
        guard fsync(fd) == 0 else { throw Self.failure(path, "cannot flush") }
        close(fd)
        fd = -1
        guard rename(path, target) == 0 else { throw Self.failure(target, "cannot rename the streamed split to") }
    }

    func abandon() {
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(path)
    }

    private static func failure(_ path: String, _ what: String) -> DataError {
        .invalid(detail: "\(what) \(path): \(String(cString: strerror(errno)))")
    }
}
