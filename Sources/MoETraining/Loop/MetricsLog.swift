import Foundation
import MoEData

/// Appends one JSON object per line to `metrics.jsonl` beside the checkpoint.
public final class MetricsLog {
    public let path: String
    private let handle: FileHandle?

    /// Opens (creating, or appending when resuming) the log at `path`.
    public init(path: String, append: Bool) throws {
        self.path = path
        let fm = FileManager.default
        try fm.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if !append || !fm.fileExists(atPath: path) {
            guard fm.createFile(atPath: path, contents: nil) else {
                throw TrainingError.cannotWrite(path: path)
            }
        }
        handle = FileHandle(forWritingAtPath: path)
        if handle == nil { throw TrainingError.cannotWrite(path: path) }
        handle?.seekToEndOfFile()
    }

    deinit { try? handle?.close() }

    /// Writes one record; keys are sorted so lines diff well.
    public func write(_ record: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        else { return }
        handle?.write(data + Data("\n".utf8))
    }
}
