import Foundation
import MoECheckpoint
import MoEData
import MoEDataSources
import MoEModel
import MoERecipe
import MoETraining

/// The inputs a user controls, each as one function from bytes to "accepted or a thrown
/// error": what the libFuzzer driver (`moe-fuzz`, built by `scripts/fuzz.sh`) calls, and what
/// the regression tests replay. A trap or a hang in any of them is a bug.
public enum FuzzTargets {
    /// Target names and their functions.
    public static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "checkpoint": checkpoint, "safetensors": safetensors, "recipe": recipe, "idx": idx, "csv": csv,
        "coco": coco, "cache": cache,
    ]

    /// A `.moe` file: zstd frame, safetensors layout, then the metadata a command reads
    /// (model config, stored recipe, training state), decoded and validated.
    public static func checkpoint(_ bytes: [UInt8]) {
        guard let file = try? Checkpoint.decode(bytes: bytes, name: "fuzz.moe") else { return }
        readMetadata(file)
    }

    /// The safetensors payload of a `.moe` file (no zstd frame, so mutations reach the JSON
    /// header and the metadata), then the metadata as `checkpoint` reads it.
    public static func safetensors(_ bytes: [UInt8]) {
        guard let file = try? Checkpoint.decode(safetensors: bytes, name: "fuzz.safetensors") else { return }
        readMetadata(file)
    }

    static func readMetadata(_ file: Checkpoint) {
        if let config = try? RunCheckpoint.modelConfig(file, path: "fuzz.moe") { _ = try? config.validate() }
        _ = try? RunCheckpoint.recipe(file, path: "fuzz.moe")
        _ = try? RunCheckpoint.trainingState(file, path: "fuzz.moe")
    }

    /// A recipe file's text, parsed, checked and validated.
    public static func recipe(_ bytes: [UInt8]) {
        _ = try? Recipe.parse(yaml: String(decoding: bytes, as: UTF8.self), source: "fuzz.yaml")
    }

    /// An IDX file (plain or gzip).
    public static func idx(_ bytes: [UInt8]) {
        let raw = Gzip.isGzip(bytes) ? (try? Gzip.decompress(bytes, path: "fuzz.idx")) : bytes
        _ = try? IDXArray.decode(raw ?? [], path: "fuzz.idx")
    }

    /// The digits CSV.
    public static func csv(_ bytes: [UInt8]) {
        _ = try? Digits.decode(bytes, path: "fuzz.csv")
    }

    /// A prepared-image cache file (zstd frames, then the record); bytes that do not
    /// decompress are also read as an uncompressed record, so mutations reach its fields.
    public static func cache(_ bytes: [UInt8]) {
        let key = "moe-cache v1\nfuzz"
        // Sizes a damaged header states are capped below libFuzzer's malloc limit.
        if bytes.withUnsafeBytes({ PreparedCache.decode(file: $0, key: key, limit: 64 << 20) }) == nil {
            _ = PreparedCache.decode(record: bytes, key: key)
        }
    }

    /// A COCO annotation file.
    public static func coco(_ bytes: [UInt8]) {
        _ = try? COCOBoxes.decode(bytes, path: "fuzz.json")
    }
}
