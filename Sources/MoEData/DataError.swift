/// Errors raised while locating, reading, decoding or validating a dataset.
///
/// Every case carries enough context for a user to act on it: a missing file names the
/// path and the Debian package that provides it, a corrupt file names the path and what
/// was wrong (including a line number for CSV rows).
public enum DataError: Error, CustomStringConvertible, Equatable {
    /// `path` does not exist. `hint` tells the user how to get it, e.g.
    /// `"install it with: apt-get install dataset-fashion-mnist"`.
    case fileNotFound(path: String, hint: String)
    /// `path` exists but its contents are unusable: bad gzip stream, truncated data, bad IDX
    /// magic or sizes, images/labels count mismatch, malformed CSV row, label out of range…
    case corrupt(path: String, detail: String)
    /// Invalid arguments or an I/O failure that is not about a file's contents.
    case invalid(detail: String)

    /// A one-line, human-readable message.
    public var description: String {
        switch self {
        case .fileNotFound(let path, let hint):
            return hint.isEmpty ? "file not found: \(path)" : "file not found: \(path) (\(hint))"
        case .corrupt(let path, let detail):
            return "corrupt data file \(path): \(detail)"
        case .invalid(let detail):
            return "invalid data: \(detail)"
        }
    }
}
