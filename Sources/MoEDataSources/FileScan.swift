import Foundation
import MoEData

#if canImport(Glibc)
import Glibc
#endif

/// Directory listing helpers: sorted, hidden entries skipped, errors as `DataError`.
enum FileScan {
    static func isDirectory(_ path: String) -> Bool {
        var flag: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &flag) && flag.boolValue
    }

    /// Entry names of `folder` that `keep` accepts (given the name's UTF-8 bytes), sorted
    /// by those bytes (locale-independent), each after `prefix`.
    static func sortedChildren(
        _ folder: String, prefix: String = "", keep: (UnsafeBufferPointer<UInt8>) -> Bool = { _ in true }
    ) throws -> [String] {
        try listing(folder, prefix: prefix, stamped: false, keep: keep).map(\.path)
    }

    /// Full paths of the image files (by extension, any case) directly in `folder`, sorted;
    /// hidden files are skipped.
    static func images(in folder: String) throws -> [String] {
        try imageListing(folder, stamped: false).map(\.path)
    }

    /// `images(in:)` with each file's stamp, taken while listing (see `listing`).
    /// - Throws: as `listing`.
    static func stampedImages(in folder: String) throws -> [(path: String, stamp: FileStamp?)] {
        try imageListing(folder, stamped: true)
    }

    private static func imageListing(_ folder: String, stamped: Bool) throws -> [(path: String, stamp: FileStamp?)] {
        try listing(
            folder, prefix: folder.hasSuffix("/") ? folder : folder + "/", stamped: stamped, keep: isVisibleImage)
    }

    /// The entries of `folder` that `keep` accepts, as `prefix` + name, sorted by the names'
    /// bytes, each with its `FileStamp` when `stamped`. `readdir`, `fstatat` relative to the
    /// open folder (one path component to resolve, not the whole path: a cache hit's key
    /// stamps every file), and a sort of byte spans by `memcmp` (Foundation's listing and a
    /// sort of `String`s cost more than a cache hit's whole load on many small images).
    /// - Throws: `DataError.fileNotFound` naming the folder when it cannot be listed, or the
    ///   first entry that cannot be stamped.
    static func listing(
        _ folder: String, prefix: String, stamped: Bool, keep: (UnsafeBufferPointer<UInt8>) -> Bool
    ) throws -> [(path: String, stamp: FileStamp?)] {
        guard let directory = opendir(folder) else {
            throw DataError.fileNotFound(
                path: folder, hint: "cannot list the folder: \(String(cString: strerror(errno)))")
        }
        defer { closedir(directory) }
        var bytes: [UInt8] = []
        var spans: [Range<Int>] = []
        var stamps: [FileStamp] = []
        var unreadable: (name: String, error: Int32)?
        var info = stat()
        errno = 0
        while unreadable == nil, let entry = readdir(directory) {
            withUnsafeBytes(of: entry.pointee.d_name) { raw in
                let start = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
                let name = UnsafeBufferPointer(
                    start: raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count: strlen(start))
                guard keep(name), !name.elementsEqual([0x2E]), !name.elementsEqual([0x2E, 0x2E]) else { return }
                if stamped {
                    guard fstatat(dirfd(directory), start, &info, 0) == 0 else {
                        unreadable = (String(decoding: name, as: UTF8.self), errno)
                        return
                    }
                    stamps.append(FileStamp(info))
                }
                spans.append(bytes.count..<(bytes.count + name.count))
                bytes.append(contentsOf: name)
            }
            errno = 0  // readdir reports its errors in errno alone
        }
        if let unreadable {
            throw DataError.fileNotFound(
                path: (folder as NSString).appendingPathComponent(unreadable.name),
                hint: "listed by the dataset but not readable: \(String(cString: strerror(unreadable.error)))")
        }
        guard errno == 0 else {
            throw DataError.fileNotFound(
                path: folder, hint: "cannot list the folder: \(String(cString: strerror(errno)))")
        }
        let head = Array(prefix.utf8)
        return bytes.withUnsafeBufferPointer { all in
            // Names compare by their first 8 bytes as one big-endian integer (zero-padded, as
            // no name holds a NUL); only names sharing those go on to `memcmp`.
            let heads = spans.map { span in
                (0..<8).reduce(UInt64(0)) { h, k in h << 8 | UInt64(k < span.count ? all[span.lowerBound + k] : 0) }
            }
            return spans.indices.sorted { i, j in
                if heads[i] != heads[j] { return heads[i] < heads[j] }
                let (a, b) = (spans[i], spans[j])
                let common = memcmp(
                    all.baseAddress! + a.lowerBound, all.baseAddress! + b.lowerBound, min(a.count, b.count))
                return common != 0 ? common < 0 : a.count < b.count
            }.map { i in
                let span = spans[i]
                let path = String(unsafeUninitializedCapacity: head.count + span.count) { out in
                    _ = out.initialize(fromContentsOf: head)
                    _ = out[head.count...].initialize(fromContentsOf: all[span])
                    return head.count + span.count
                }
                return (path, stamped ? stamps[i] : nil)
            }
        }
    }

    /// Whether a file name is not hidden and ends in `.png`, `.jpg` or `.jpeg` (any case;
    /// compared as ASCII bytes, without building strings, for listings of many files).
    static func isVisibleImage(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        guard name.first != 0x2E, let dot = name.lastIndex(of: 0x2E) else { return false }
        let suffix = name[(dot + 1)...]
        return imageSuffixes.contains { $0.count == suffix.count && zip($0, suffix).allSatisfy { $0 == $1 | 0x20 } }
    }

    /// `ImageFolder.imageExtensions` as lowercase ASCII bytes.
    private static let imageSuffixes = ImageFolder.imageExtensions.map { Array($0.utf8) }

    /// A file name without its extension.
    static func stem(_ path: String) -> String {
        ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    }
}
