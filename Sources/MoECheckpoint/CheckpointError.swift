/// Everything that can go wrong reading or writing a checkpoint. Every case's `description` is
/// one sentence naming the file, tensor or key involved, followed by a `hint:` for the user.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(path: String)
    /// The file does not start with the zstd magic bytes.
    case notZstd(path: String)
    /// The file ends before its zstd frame does.
    case truncated(path: String)
    /// Checksum mismatch, zstd error, bad safetensors layout or bad JSON header.
    case corrupt(path: String, detail: String)
    case unsupportedVersion(path: String, found: String, supported: Int)
    case missingTensor(name: String, path: String?)
    case wrongShape(name: String, expected: [Int], found: [Int], path: String?)
    case unsupportedDType(name: String, dtype: String)
    case missingMetadata(key: String, path: String?)
    case badMetadata(key: String, detail: String)
    case writeFailed(path: String, detail: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "checkpoint file '\(path)' does not exist. "
                + "hint: check the path and the run directory; checkpoints are written as '<name>.moe'."
        case .notZstd(let path):
            return "'\(path)' is not a moe checkpoint: it does not start with the zstd magic bytes 28 B5 2F FD. "
                + "hint: pass the '.moe' file written by moe, not an uncompressed '.safetensors' "
                + "file or some other file; if it should be a checkpoint, use the previous one."
        case .truncated(let path):
            return "checkpoint '\(path)' is truncated: the file ends before its zstd frame does. "
                + "hint: the file is incomplete — was the run interrupted while copying? "
                + "use the previous checkpoint or re-run."
        case .corrupt(let path, let detail) where detail.hasPrefix(Self.unreadablePrefix):
            return "checkpoint '\(path)' is unusable: \(detail). "
                + "hint: check that the path is a regular file and that you have permission to read it."
        case .corrupt(let path, let detail):
            return "checkpoint '\(path)' is corrupt: \(detail). "
                + "hint: the file was damaged on disk or in transfer; restore it from a backup "
                + "or use the previous checkpoint."
        case .unsupportedVersion(let path, let found, let supported):
            return "checkpoint '\(path)' has format_version \"\(found)\", but this build of moe "
                + "reads only version \(supported). "
                + "hint: read it with the moe release that wrote it, or upgrade moe if it is newer."
        case .missingTensor(let name, let path):
            return "tensor '\(name)' is missing from \(Self.describe(path)). "
                + "hint: this checkpoint was made by a different model config; check its "
                + "model_config metadata (scripts/check_safetensors.py lists it) and use the matching config."
        case .wrongShape(let name, let expected, let found, let path):
            return "tensor '\(name)' in \(Self.describe(path)) has shape \(found), expected \(expected). "
                + "hint: this checkpoint was made by a different model config; check its "
                + "model_config metadata and use the matching config."
        case .unsupportedDType(let name, let dtype):
            return "tensor '\(name)' has dtype \(dtype), but moe checkpoints support only F32. "
                + "hint: convert the tensor to float32 (e.g. numpy `.astype(np.float32)`) and save again."
        case .missingMetadata(let key, let path):
            return "metadata key '\(key)' is missing from \(Self.describe(path)). "
                + "hint: the file was not written by moe (or by an older tool); "
                + "re-create it with `moe`, or add the key when writing."
        case .badMetadata(let key, let detail):
            return "metadata key '\(key)' has an invalid value: \(detail). "
                + "hint: the value must be a JSON string of the expected type; "
                + "the checkpoint may come from an incompatible moe version."
        case .writeFailed(let path, let detail):
            return "could not write checkpoint '\(path)': \(detail). "
                + "hint: check that the directory is writable and the disk is not full; "
                + "any previous file at that path was left unchanged."
        }
    }

    /// Start of the `.corrupt` detail used when the file exists but cannot be read.
    static let unreadablePrefix = "the file cannot be read"

    private static func describe(_ path: String?) -> String {
        path.map { "checkpoint '\($0)'" } ?? "the checkpoint (in memory)"
    }
}
