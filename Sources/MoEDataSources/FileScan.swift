import Foundation
import MoEData

/// Directory listing helpers: sorted, hidden entries skipped, errors as `DataError`.
enum FileScan {
    static func isDirectory(_ path: String) -> Bool {
        var flag: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &flag) && flag.boolValue
    }

    /// Entry names of `folder`, sorted by their UTF-8 bytes (locale-independent).
    static func sortedChildren(_ folder: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: folder).sorted {
                $0.utf8.lexicographicallyPrecedes($1.utf8)
            }
        } catch {
            throw DataError.fileNotFound(path: folder, hint: "cannot list the folder: \(error.localizedDescription)")
        }
    }

    /// Full paths of the image files (by extension) directly in `folder`, sorted.
    static func images(in folder: String) throws -> [String] {
        try sortedChildren(folder).filter { name in
            !name.hasPrefix(".")
                && ImageFolder.imageExtensions.contains((name as NSString).pathExtension.lowercased())
        }.map { (folder as NSString).appendingPathComponent($0) }
    }

    /// A file name without its extension.
    static func stem(_ path: String) -> String {
        ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    }
}
