import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// POSIX file helpers: whole-file reads and crash-safe (atomic, durable) whole-file writes.
enum FileIO {
    struct Failure: Error {
        var code: Int32
        var detail: String
        /// A failure of the POSIX call described by `operation`, with the error `code`.
        init(errno code: Int32, operation: String) {
            self.code = code
            self.detail = "\(operation): \(String(cString: strerror(code)))"
        }
        init(code: Int32, detail: String) {
            self.code = code
            self.detail = detail
        }
    }

    /// Reads the whole file at `path`.
    static func readAll(path: String) throws(Failure) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is rejected below.
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        guard fd >= 0 else { throw Failure(errno: errno, operation: "open") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Failure(errno: errno, operation: "fstat") }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw Failure(code: EISDIR, detail: "it is not a regular file")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        var probe = [UInt8](repeating: 0, count: 4096)
        while true {
            let n: Int
            if filled < bytes.count {
                n = bytes.withUnsafeMutableBytes { buf in
                    read(fd, buf.baseAddress! + filled, buf.count - filled)
                }
            } else {
                // Expected end of file; the file may have grown since fstat, so check.
                n = probe.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
                if n > 0 {
                    bytes.removeSubrange(filled...)
                    bytes.append(contentsOf: probe[0..<n])
                    filled += n
                    bytes.reserveCapacity(bytes.count * 2)
                    bytes.append(contentsOf: [UInt8](repeating: 0, count: bytes.count))
                    continue
                }
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(errno: errno, operation: "read")
            }
            if n == 0 { break }
            filled += n
        }
        bytes.removeSubrange(filled...)
        return bytes
    }

    /// Writes `bytes` to `url` atomically: a temporary file in the same directory is written,
    /// fsync'ed and renamed over the destination, then the directory is fsync'ed. The parent
    /// directory is created if missing. On failure the temporary file is removed and any
    /// existing destination file is untouched.
    ///
    /// `beforeRename` is a test hook called with the temporary path just before the rename.
    static func writeAtomically(
        _ bytes: [UInt8], to url: URL, beforeRename: (String) throws -> Void = { _ in }
    ) throws(Failure) {
        let directory = url.deletingLastPathComponent()
        let directoryPath = directory.path
        let name = url.lastPathComponent
        do {
            try FileManager.default.createDirectory(
                at: directory, withIntermediateDirectories: true)
        } catch {
            throw Failure(
                code: EIO,
                detail: "creating directory '\(directoryPath)': \(error.localizedDescription)")
        }

        removeStaleTemporaries(in: directoryPath)
        let tempPath = directory.appendingPathComponent(temporaryName(for: name)).path
        let fd = retryingEINTR { open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
        guard fd >= 0 else {
            throw Failure(errno: errno, operation: "creating a temporary file in '\(directoryPath)'")
        }
        var closed = false
        var renamed = false
        defer {
            if !closed { close(fd) }
            if !renamed { unlink(tempPath) }
        }

        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { buf in
                write(fd, buf.baseAddress! + written, buf.count - written)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(errno: errno, operation: "writing '\(tempPath)'")
            }
            written += n
        }
        guard retryingEINTR({ fsync(fd) }) == 0 else {
            throw Failure(errno: errno, operation: "fsync of '\(tempPath)'")
        }
        closed = true
        guard close(fd) == 0 else { throw Failure(errno: errno, operation: "closing '\(tempPath)'") }

        do {
            try beforeRename(tempPath)
        } catch {
            throw Failure(code: EIO, detail: "\(error)")
        }
        guard rename(tempPath, url.path) == 0 else {
            throw Failure(errno: errno, operation: "renaming the temporary file over '\(url.path)'")
        }
        renamed = true

        // Make the rename itself durable.
        let dirfd = retryingEINTR { open(directoryPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        if dirfd >= 0 {
            defer { close(dirfd) }
            if retryingEINTR({ fsync(dirfd) }) != 0 && errno != EINVAL && errno != ENOTSUP {
                throw Failure(errno: errno, operation: "fsync of directory '\(directoryPath)'")
            }
        }
    }

    /// `.<name>.tmp-<pid>-<random>`, shortened so it stays within NAME_MAX (255 bytes).
    static func temporaryName(for name: String) -> String {
        let suffix = ".tmp-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        var base = Substring(name)
        while 1 + base.utf8.count + suffix.utf8.count > 255 { base = base.dropLast() }
        return "." + base + suffix
    }

    /// Removes temporary files (`.<name>.tmp-<pid>-<hex>`) that writers which no longer
    /// run left in `directory` (a kill -9 between create and rename). Files of live
    /// processes, this one included, stay.
    static func removeStaleTemporaries(in directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(".") {
            guard let range = name.range(of: ".tmp-", options: .backwards) else { continue }
            let fields = name[range.upperBound...].split(separator: "-")
            guard fields.count == 2, let pid = pid_t(fields[0]), pid > 0, UInt64(fields[1], radix: 16) != nil
            else { continue }
            if kill(pid, 0) == -1 && errno == ESRCH {
                unlink((directory as NSString).appendingPathComponent(name))
            }
        }
    }

    private static func retryingEINTR(_ body: () -> Int32) -> Int32 {
        while true {
            let rc = body()
            if rc == -1 && errno == EINTR { continue }
            return rc
        }
    }
}
