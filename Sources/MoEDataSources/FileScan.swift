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
    /// by those bytes (locale-independent), each after `prefix`. `readdir`, and a sort of
    /// byte spans by `memcmp`: Foundation's listing and a sort of `String`s cost more than a
    /// cache hit's whole load on folders of many small images.
    static func sortedChildren(
        _ folder: String, prefix: String = "", keep: (UnsafeBufferPointer<UInt8>) -> Bool = { _ in true }
    ) throws -> [String] {
        guard let directory = opendir(folder) else {
            throw DataError.fileNotFound(
                path: folder, hint: "cannot list the folder: \(String(cString: strerror(errno)))")
        }
        defer { closedir(directory) }
        var bytes: [UInt8] = []
        var spans: [Range<Int>] = []
        errno = 0
        while let entry = readdir(directory) {
            withUnsafeBytes(of: entry.pointee.d_name) { raw in
                let start = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
                let name = UnsafeBufferPointer(start: start, count: strlen(raw.baseAddress!))
                guard keep(name), !name.elementsEqual([0x2E]), !name.elementsEqual([0x2E, 0x2E]) else { return }
                spans.append(bytes.count..<(bytes.count + name.count))
                bytes.append(contentsOf: name)
            }
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
            }.map { spans[$0] }.map { span in
                String(unsafeUninitializedCapacity: head.count + span.count) { out in
                    _ = out.initialize(fromContentsOf: head)
                    _ = out[head.count...].initialize(fromContentsOf: all[span])
                    return head.count + span.count
                }
            }
        }
    }

    /// Full paths of the image files (by extension, any case) directly in `folder`, sorted;
    /// hidden files are skipped.
    static func images(in folder: String) throws -> [String] {
        try sortedChildren(folder, prefix: folder.hasSuffix("/") ? folder : folder + "/", keep: isVisibleImage)
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
