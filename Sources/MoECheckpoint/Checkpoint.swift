import Foundation
import MoETensor

/// A tensor with the name it is stored under in a checkpoint.
public struct NamedTensor: Sendable, Equatable {
    public var name: String
    public var tensor: Tensor

    public init(_ name: String, _ tensor: Tensor) {
        self.name = name
        self.tensor = tensor
    }
}

/// An ordered set of named float32 tensors plus string metadata, stored on disk as one zstd
/// frame (with content size and content checksum) around a safetensors file.
///
/// `zstd -d run.moe -o run.safetensors` gives a file that Python's `safetensors` opens; the
/// metadata always carries `format = "moe-checkpoint"` and `format_version = "1"`.
public struct Checkpoint: Sendable, Equatable {
    /// Tensors in the order they are written (and read back).
    public var tensors: [NamedTensor]
    /// String metadata. After `read(from:)` this includes the `format` and `format_version`
    /// keys; `write(to:)` always sets those two keys itself.
    public var metadata: [String: String]
    /// The file this checkpoint was read from (nil when built in memory). Used to name the file
    /// in errors; not part of equality.
    public var sourcePath: String?

    public static let formatVersion: Int = 1
    /// Metadata key whose value identifies the file format.
    public static let formatKey = "format"
    /// Metadata key holding the format version, as a decimal string.
    public static let formatVersionKey = "format_version"
    /// Value of the `format` metadata key.
    public static let formatName = "moe-checkpoint"

    public init(tensors: [NamedTensor] = [], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
        self.sourcePath = nil
    }

    public static func == (lhs: Checkpoint, rhs: Checkpoint) -> Bool {
        lhs.tensors == rhs.tensors && lhs.metadata == rhs.metadata
    }

    // MARK: Writing

    /// Writes the checkpoint to `url` atomically (temporary file + fsync + rename + directory
    /// fsync), creating the parent directory if needed. Tensors are stored in order; the
    /// `format` and `format_version` metadata keys are set to this format's values.
    ///
    /// Throws `CheckpointError.writeFailed` on any failure, leaving an existing file at `url`
    /// unchanged.
    public func write(to url: URL, compressionLevel: Int32 = 3) throws {
        try write(to: url, compressionLevel: compressionLevel, formatVersion: String(Self.formatVersion))
    }

    /// The writer behind `write(to:compressionLevel:)`; internal parameters exist for tests
    /// (writing a foreign format version, injecting a failure just before the rename).
    func write(
        to url: URL, compressionLevel: Int32, formatVersion: String,
        beforeRename: (String) throws -> Void = { _ in }
    ) throws(CheckpointError) {
        let path = url.path
        guard Zstd.compressionLevels.contains(compressionLevel) else {
            throw .writeFailed(
                path: path,
                detail: "compression level \(compressionLevel) is outside zstd's range \(Zstd.compressionLevels)")
        }
        let compressed = try Self.encode(
            tensors: tensors, metadata: metadata, formatVersion: formatVersion,
            compressionLevel: compressionLevel, path: path)
        do {
            try FileIO.writeAtomically(compressed, to: url, beforeRename: beforeRename)
        } catch {
            throw .writeFailed(path: path, detail: error.detail)
        }
    }

    /// The exact bytes of a `.moe` file for `tensors` and `metadata`.
    static func encode(
        tensors: [NamedTensor], metadata: [String: String], formatVersion: String,
        compressionLevel: Int32, path: String
    ) throws(CheckpointError) -> [UInt8] {
        var fullMetadata = metadata
        fullMetadata[formatKey] = formatName
        fullMetadata[formatVersionKey] = formatVersion
        let raw: [UInt8]
        do {
            raw = try Safetensors.encode(tensors: tensors, metadata: fullMetadata)
        } catch {
            throw .writeFailed(path: path, detail: error.detail)
        }
        let result = raw.withUnsafeBytes { buffer in
            Result { () throws(Zstd.CompressionFailure) in
                try Zstd.compress(buffer, level: compressionLevel)
            }
        }
        switch result {
        case .success(let compressed): return compressed
        case .failure(let failure): throw .writeFailed(path: path, detail: failure.detail)
        }
    }

    // MARK: Reading

    /// Reads and fully validates the checkpoint at `url`: zstd magic, frame completeness,
    /// content checksum, safetensors layout, format name and version, dtypes and offsets.
    /// Never traps on malformed input; every problem is a `CheckpointError`.
    public static func read(from url: URL) throws -> Checkpoint {
        try read(path: url.path)
    }

    /// Decodes and validates the bytes of a `.moe` file as `read` does; `name` stands for
    /// the file in errors.
    public static func decode(bytes: [UInt8], name: String) throws -> Checkpoint {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(CheckpointError) in try decode(buffer, path: name) }
        }.get()
    }

    /// Decodes an uncompressed safetensors buffer (what a `.moe` file's zstd frame holds),
    /// with the same checks; `name` stands for the file in errors.
    public static func decode(safetensors bytes: [UInt8], name: String) throws -> Checkpoint {
        let (tensors, metadata) = try bytes.withUnsafeBytes { buffer in
            Result { () throws(CheckpointError) in try Safetensors.decode(buffer, path: name) }
        }.get()
        return Checkpoint(tensors: tensors, metadata: metadata)
    }

    static func read(path: String) throws(CheckpointError) -> Checkpoint {
        let bytes: [UInt8]
        do {
            bytes = try FileIO.readAll(path: path)
        } catch {
            if error.code == ENOENT || error.code == ENOTDIR { throw .fileNotFound(path: path) }
            throw .corrupt(
                path: path, detail: "\(CheckpointError.unreadablePrefix) (\(error.detail))")
        }
        var checkpoint = try bytes.withUnsafeBytes { buffer in
            Result { () throws(CheckpointError) in try decode(buffer, path: path) }
        }.get()
        checkpoint.sourcePath = path
        return checkpoint
    }

    /// Decodes the bytes of a `.moe` file. `path` names the file in errors.
    static func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError)
        -> Checkpoint
    {
        let magic = Zstd.magic
        guard bytes.count >= magic.count else {
            // An empty file or a proper prefix of the magic looks like an interrupted copy.
            if zip(bytes, magic).allSatisfy({ $0 == $1 }) { throw .truncated(path: path) }
            throw .notZstd(path: path)
        }
        guard zip(bytes, magic).allSatisfy({ $0 == $1 }) else { throw .notZstd(path: path) }

        let decompressed: [UInt8]
        do {
            decompressed = try Zstd.decompressSingleFrame(bytes)
        } catch {
            switch error {
            case .truncated: throw .truncated(path: path)
            case .corrupt(let detail): throw .corrupt(path: path, detail: detail)
            }
        }
        let (tensors, metadata) = try decompressed.withUnsafeBytes { buffer in
            Result { () throws(CheckpointError) in try Safetensors.decode(buffer, path: path) }
        }.get()
        return Checkpoint(tensors: tensors, metadata: metadata)
    }

    // MARK: Access

    /// The tensor called `name`; `.missingTensor` if there is none.
    public func tensor(_ name: String) throws -> Tensor {
        guard let found = tensors.first(where: { $0.name == name }) else {
            throw CheckpointError.missingTensor(name: name, path: sourcePath)
        }
        return found.tensor
    }

    /// The tensor called `name`, which must have exactly `shape`; `.missingTensor` or
    /// `.wrongShape` otherwise.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        let found = try tensor(name)
        guard found.shape == shape else {
            throw CheckpointError.wrongShape(
                name: name, expected: shape, found: found.shape, path: sourcePath)
        }
        return found
    }

    /// The metadata string for `key`; `.missingMetadata` if absent.
    public func metadataValue(_ key: String) throws -> String {
        guard let value = metadata[key] else {
            throw CheckpointError.missingMetadata(key: key, path: sourcePath)
        }
        return value
    }

    /// JSON-decodes the metadata string for `key` as `T`; `.missingMetadata` if absent,
    /// `.badMetadata` if it does not decode.
    public func decodeMetadata<T: Decodable>(_ type: T.Type, key: String) throws -> T {
        let string = try metadataValue(key)
        do {
            return try JSONDecoder().decode(T.self, from: Data(string.utf8))
        } catch {
            throw CheckpointError.badMetadata(key: key, detail: Self.describe(error))
        }
    }

    /// Encodes `value` as a JSON string with sorted keys, for use as a metadata value.
    public static func encodeMetadata<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw CheckpointError.badMetadata(
                key: "<value of type \(T.self)>", detail: Self.describe(error))
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(let type, let context):
            return "expected \(type) at \(codingPath(context)): \(context.debugDescription)"
        case DecodingError.valueNotFound(let type, let context):
            return "missing \(type) value at \(codingPath(context)): \(context.debugDescription)"
        case DecodingError.keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' at \(codingPath(context))"
        case DecodingError.dataCorrupted(let context):
            return "invalid JSON at \(codingPath(context)): \(context.debugDescription)"
        case EncodingError.invalidValue(let value, let context):
            return "cannot encode \(value) at \(codingPath(context)): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    private static func codingPath(_ context: DecodingError.Context) -> String {
        context.codingPath.isEmpty ? "top level" : context.codingPath.map(\.stringValue).joined(separator: ".")
    }

    private static func codingPath(_ context: EncodingError.Context) -> String {
        context.codingPath.isEmpty ? "top level" : context.codingPath.map(\.stringValue).joined(separator: ".")
    }
}
