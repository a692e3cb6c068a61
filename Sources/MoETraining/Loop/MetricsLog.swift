import Foundation
import MoEData

/// Appends one JSON object per line to `metrics.jsonl` beside the checkpoint.
public final class MetricsLog {
    public let path: String
    private let handle: FileHandle?

    /// The TensorBoard event file every record is mirrored to, if any.
    public let tensorBoard: TensorBoardLog?

    /// `metrics.jsonl` in the checkpoint's folder (the working folder for a bare file name).
    public static func path(besideCheckpoint checkpoint: String) -> String {
        let folder = (checkpoint as NSString).deletingLastPathComponent
        return ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent("metrics.jsonl")
    }

    /// Opens (creating, or appending when resuming) the log at `path`; with `tensorBoard`, a
    /// new event file beside it gets the same numbers.
    public init(path: String, append: Bool, tensorBoard: Bool = false) throws {
        self.path = path
        let fm = FileManager.default
        try createFolder((path as NSString).deletingLastPathComponent)
        if !append || !fm.fileExists(atPath: path) {
            guard fm.createFile(atPath: path, contents: nil) else {
                throw TrainingError.cannotWrite(path: path)
            }
        }
        handle = FileHandle(forWritingAtPath: path)
        if handle == nil { throw TrainingError.cannotWrite(path: path) }
        handle?.seekToEndOfFile()
        self.tensorBoard =
            tensorBoard ? try TensorBoardLog(folder: (path as NSString).deletingLastPathComponent) : nil
    }

    deinit { try? handle?.close() }

    /// Writes one record; keys are sorted so lines diff well. Throws when the disk is full
    /// or the file cannot be written (the run then stops; its last checkpoint stays).
    public func write(_ record: [String: Any]) throws {
        guard let handle else { throw TrainingError.cannotWrite(path: path) }
        let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        do {
            try handle.write(contentsOf: data + Data("\n".utf8))
        } catch {
            throw TrainingError.cannotWrite(path: path)
        }
        if let tensorBoard, let step = record["step"] as? Int {
            try tensorBoard.scalars(TensorBoardLog.scalars(of: record), step: step)
        }
    }
}

/// Creates `folder` and its parents; an error names the part of the path that is in the
/// way (a file where a folder should be) or the folder that cannot be created.
public func createFolder(_ folder: String) throws {
    guard !folder.isEmpty else { return }
    var isDirectory: ObjCBool = false
    var prefix = folder.hasPrefix("/") ? "/" : ""
    for part in folder.split(separator: "/") {
        prefix = (prefix as NSString).appendingPathComponent(String(part))
        if FileManager.default.fileExists(atPath: prefix, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw TrainingError.cannotCreateFolder(path: folder, reason: "'\(prefix)' is a file, not a folder")
        }
    }
    do {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
        throw TrainingError.cannotCreateFolder(path: folder, reason: "permission denied or read-only file system")
    }
}
