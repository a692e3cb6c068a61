import Foundation
import MoETensor
import MoETestSupport
import Testing

@testable import MoECheckpoint

/// Deterministic random numbers (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = SplitMix64(seed: seed)
    let count = shape.reduce(1, *)
    return Tensor(shape: shape, storage: (0..<count).map { _ in Float.random(in: -3...3, using: &rng) })
}

func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
}

func bits(_ tensor: Tensor) -> [UInt32] { tensor.storage.map(\.bitPattern) }

/// Runs `body`, returning the `CheckpointError` it throws (recording an issue if it throws
/// something else or nothing).
@discardableResult
func checkpointError(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) -> CheckpointError? {
    do {
        try body()
        Issue.record("expected a CheckpointError, but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as CheckpointError {
        return error
    } catch {
        Issue.record("expected a CheckpointError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

extension CheckpointError {
    /// The case name, for asserting on cases whose payload is free text.
    var caseName: String {
        switch self {
        case .fileNotFound: "fileNotFound"
        case .notZstd: "notZstd"
        case .truncated: "truncated"
        case .corrupt: "corrupt"
        case .unsupportedVersion: "unsupportedVersion"
        case .missingTensor: "missingTensor"
        case .wrongShape: "wrongShape"
        case .unsupportedDType: "unsupportedDType"
        case .missingMetadata: "missingMetadata"
        case .badMetadata: "badMetadata"
        case .writeFailed: "writeFailed"
        }
    }
}

/// A small checkpoint with varied contents.
func sampleCheckpoint() -> Checkpoint {
    Checkpoint(
        tensors: [
            NamedTensor("embed.weight", randomTensor([8, 6], seed: 1)),
            NamedTensor("blocks.0.router.bias", Tensor(shape: [4], storage: [0, -0.0, 1, 2])),
            NamedTensor("empty", Tensor(shape: [0, 3])),
            NamedTensor("scale", Tensor(shape: [], storage: [0.5])),
        ],
        metadata: ["model_config": #"{"dim":6,"experts":4}"#, "note": "héllo 🚀"])
}

/// The bytes of a `.moe` file around a hand-made safetensors buffer.
func moeBytes(safetensors raw: [UInt8]) throws -> [UInt8] {
    try raw.withUnsafeBytes { try Zstd.compress($0, level: 3) }
}

/// A safetensors buffer with the given JSON header (padded) and data bytes.
func safetensorsBytes(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
    var json = Array(header.utf8)
    while (8 + json.count) % 8 != 0 { json.append(0x20) }
    let length = declaredLength ?? UInt64(json.count)
    return withUnsafeBytes(of: length.littleEndian, Array.init) + json + data
}

let formatMetadataJSON = #""__metadata__":{"format":"moe-checkpoint","format_version":"1"}"#

func write(_ bytes: [UInt8], to url: URL) throws {
    try Data(bytes).write(to: url)
}

func readBytes(_ url: URL) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: url))
}
