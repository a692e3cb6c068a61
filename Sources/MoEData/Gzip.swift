import CZlib
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// gzip (and zlib) decoding on whole in-memory buffers, backed by the system zlib.
///
/// Decoding runs zlib's `inflate` over the whole input at once into an output buffer
/// preallocated from the gzip trailer's size field, so there is no per-byte Swift work.
public enum Gzip {
    /// The two magic bytes that open every gzip member.
    static let magic: (UInt8, UInt8) = (0x1F, 0x8B)

    /// Whether `data` starts with the gzip magic bytes.
    public static func isGzip(_ data: [UInt8]) -> Bool {
        data.count >= 2 && data[0] == magic.0 && data[1] == magic.1
    }

    /// Decompresses a gzip (or zlib) stream held entirely in memory.
    ///
    /// Concatenated gzip members (as produced by `cat a.gz b.gz`) are decoded one after the
    /// other, and trailing zero padding is ignored, as `gunzip` does.
    /// - Parameters:
    ///   - data: the compressed bytes.
    ///   - path: where the bytes came from; used only in error messages.
    /// - Throws: `DataError.corrupt` for an invalid or truncated stream or trailing garbage.
    public static func decompress(_ data: [UInt8], path: String) throws -> [UInt8] {
        guard !data.isEmpty else { throw DataError.corrupt(path: path, detail: "empty gzip stream") }
        guard data.count <= Int(UInt32.max) else {
            throw DataError.invalid(detail: "\(path): compressed input larger than 4 GiB is not supported")
        }
        // Size hint: the gzip trailer stores the uncompressed size mod 2^32 (little-endian).
        // It is only a hint (multi-member files, corrupt trailers), clamped to deflate's
        // maximum ratio so a damaged trailer cannot trigger a huge allocation.
        var capacity = data.count * 4 + 1024
        if isGzip(data), data.count >= 18 {
            let n = data.count
            let isize = Int(data[n - 4]) | Int(data[n - 3]) << 8 | Int(data[n - 2]) << 16 | Int(data[n - 1]) << 24
            capacity = max(1024, min(isize, data.count * 1032 + 1024))
        }
        var out = [UInt8](repeating: 0, count: capacity)
        var produced = 0

        var stream = z_stream()
        // 15 + 32: maximum window, auto-detect a gzip or zlib header.
        let initStatus = inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard initStatus == Z_OK else {
            throw DataError.invalid(detail: "zlib inflateInit2 failed with status \(initStatus)")
        }
        defer { inflateEnd(&stream) }

        try data.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!)
            stream.avail_in = UInt32(input.count)
            while true {
                if produced == out.count {
                    out.append(contentsOf: repeatElement(0, count: max(out.count, 1 << 16)))
                }
                let status: Int32 = out.withUnsafeMutableBufferPointer { output in
                    let room = min(output.count - produced, Int(UInt32.max))
                    stream.next_out = output.baseAddress! + produced
                    stream.avail_out = UInt32(room)
                    let s = inflate(&stream, Z_NO_FLUSH)
                    produced += room - Int(stream.avail_out)
                    return s
                }
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    let remaining = Int(stream.avail_in)
                    if remaining == 0 { return }
                    let offset = input.count - remaining
                    if remaining >= 2, input[offset] == magic.0, input[offset + 1] == magic.1 {
                        inflateReset(&stream)  // next gzip member; next_in/avail_in are kept
                        continue
                    }
                    if input[offset...].allSatisfy({ $0 == 0 }) { return }
                    throw DataError.corrupt(
                        path: path, detail: "\(remaining) bytes of trailing garbage after the gzip stream")
                case Z_BUF_ERROR:
                    if stream.avail_in == 0 {
                        throw DataError.corrupt(
                            path: path,
                            detail: "truncated gzip stream (input ended after \(produced) decompressed bytes)")
                    }
                    continue  // output was full; the loop grows it
                case Z_NEED_DICT:
                    throw DataError.corrupt(path: path, detail: "zlib stream needs a preset dictionary")
                case Z_MEM_ERROR:
                    throw DataError.invalid(detail: "\(path): zlib ran out of memory")
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                    throw DataError.corrupt(path: path, detail: "invalid gzip data: \(message)")
                }
            }
        }
        out.removeSubrange(produced...)
        return out
    }

    /// Compresses `data` into a single gzip member with zlib's `deflate`.
    ///
    /// `moe` only reads gzip; this exists so tests (and tools) can write small `.gz` fixtures.
    /// - Parameter level: zlib compression level, 0 (store) ... 9 (best); -1 is zlib's default.
    public static func compress(_ data: [UInt8], level: Int32 = -1) throws -> [UInt8] {
        guard data.count <= Int(UInt32.max) else {
            throw DataError.invalid(detail: "gzip compression of more than 4 GiB is not supported")
        }
        var stream = z_stream()
        // 15 + 16: maximum window, gzip wrapper.
        let initStatus = deflateInit2_(
            &stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
            Int32(MemoryLayout<z_stream>.size))
        guard initStatus == Z_OK else {
            throw DataError.invalid(detail: "zlib deflateInit2 failed with status \(initStatus)")
        }
        defer { deflateEnd(&stream) }
        // deflateBound does not count the gzip header/trailer (18 bytes + no name).
        let bound = Int(deflateBound(&stream, UInt(data.count))) + 32
        var out = [UInt8](repeating: 0, count: bound)
        var input = data
        let status: Int32 = input.withUnsafeMutableBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress  // nil for empty input is fine: avail_in is 0
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress!
                stream.avail_out = UInt32(outBuf.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else {
            throw DataError.invalid(detail: "zlib deflate failed with status \(status)")
        }
        out.removeSubrange(Int(stream.total_out)...)
        return out
    }

    /// Reads a whole file, gunzipping it transparently.
    ///
    /// A file is decompressed when its name ends in `.gz` or its contents start with the gzip
    /// magic bytes; any other file is returned as is.
    /// - Throws: `DataError.fileNotFound` (with a generic hint; dataset loaders substitute the
    ///   package to install), `DataError.corrupt` for a bad or truncated gzip stream,
    ///   `DataError.invalid` for other I/O failures (permissions, directories…).
    public static func readFile(_ path: String) throws -> [UInt8] {
        let raw = try readRawFile(path)
        if path.hasSuffix(".gz") || isGzip(raw) {
            guard isGzip(raw) else {
                throw DataError.corrupt(path: path, detail: "not a gzip file (missing 1f 8b magic bytes)")
            }
            return try decompress(raw, path: path)
        }
        return raw
    }

    /// Reads a file's bytes with POSIX `open`/`read` into a preallocated array.
    static func readRawFile(_ path: String) throws -> [UInt8] {
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is rejected below.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 {
            let err = errno
            if err == ENOENT || err == ENOTDIR {
                throw DataError.fileNotFound(path: path, hint: "check the path")
            }
            throw DataError.invalid(detail: "cannot open \(path): \(String(cString: strerror(err)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw DataError.invalid(detail: "cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw DataError.invalid(detail: "\(path) is not a regular file (a directory, FIFO or device)")
        }
        let size = Int(info.st_size)
        var readError: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var done = 0
            while done < size {
                let n = read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    readError = errno
                    break
                }
                if n == 0 { break }  // file shrank while reading
                done += n
            }
            initialized = done
        }
        if readError != 0 {
            throw DataError.invalid(detail: "cannot read \(path): \(String(cString: strerror(readError)))")
        }
        return bytes
    }
}
