import Foundation
import MoEData

#if canImport(Glibc)
import Glibc
#endif

/// A whole file mapped read-only (`mmap`, `MAP_PRIVATE`), unmapped when the last user goes.
///
/// The mapping outlives the path: a file replaced by an atomic rename, or unlinked, stays
/// readable through it. Truncating the file in place while it is mapped is not supported
/// (reading a page past the new end raises SIGBUS); `moe` itself never does that.
final class MappedFile: @unchecked Sendable {
    /// Read-only after `init`; `@unchecked` because a raw pointer is not `Sendable`.
    let base: UnsafePointer<UInt8>
    let length: Int

    /// Maps `path`.
    /// - Throws: `DataError.fileNotFound` naming the file when it cannot be opened or mapped.
    init(path: String) throws {
        // Non-blocking, so a FIFO in the file's place is an error at once rather than a hang.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw DataError.fileNotFound(path: path, hint: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size > 0 else {
            throw DataError.fileNotFound(path: path, hint: "cannot map an empty, unreadable or special file")
        }
        let length = Int(info.st_size)
        guard let address = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
            throw DataError.fileNotFound(path: path, hint: "cannot map: \(String(cString: strerror(errno)))")
        }
        base = UnsafePointer(address.assumingMemoryBound(to: UInt8.self))
        self.length = length
    }

    /// `body` on the mapped bytes, with the mapping kept alive until it returns (a use of
    /// `base` alone does not keep it: the mapping may go right after that use).
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(UnsafeRawBufferPointer(start: base, count: length)) }
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), length) }
}
