/// An encoded image could not be written to `file` (no such folder, no permission, disk full).
public struct ImageWriteError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String
    public var reason: String

    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String {
        "cannot write image '\(file)': \(reason); expected a writable folder with free space."
    }
}
