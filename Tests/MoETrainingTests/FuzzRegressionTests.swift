import Foundation
import MoEData
import MoEFuzzing
import MoEImage
import MoETensor
import MoETestSupport
import Testing

@testable import MoECheckpoint
@testable import MoEDataSources

/// Every input the fuzzers ever crashed on (`Fuzz/regressions/<target>/`, added by
/// `scripts/fuzz.sh`) and a few hundred seeded mutations of real inputs go through the same
/// functions the fuzzers drive: each must come back (accepted or thrown), never trap.
@Suite struct FuzzRegressionTests {
    static let regressions = repositoryRoot.appendingPathComponent("Fuzz/regressions")

    @Test("inputs that once crashed a target now come back with an error", arguments: FuzzTargets.all.keys.sorted())
    func regressions(target: String) throws {
        let run = try #require(FuzzTargets.all[target])
        let folder = Self.regressions.appendingPathComponent(target)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in files.sorted() where !name.hasPrefix(".") {
            run(Array(try Data(contentsOf: folder.appendingPathComponent(name))))
        }
    }

    static let coco = """
        {"images": [{"id": 1, "file_name": "a.png", "width": 48, "height": 48},
                    {"id": 7, "file_name": "b.png", "width": 48, "height": 40}],
         "annotations": [{"id": 1, "image_id": 1, "bbox": [3, 4, 20, 18], "category_id": 3, "iscrowd": 0},
                         {"id": 2, "image_id": 7, "bbox": [10, 2, 8, 30], "category_id": 9, "iscrowd": 0},
                         {"id": 3, "image_id": 7, "bbox": [0, 0, 48, 40], "category_id": 3, "iscrowd": 1}],
         "categories": [{"id": 3, "name": "shirt"}, {"id": 9, "name": "boot"}]}
        """

    /// Real inputs for each target: shipped recipes, Fashion-MNIST's IDX labels, the digits
    /// CSV's first rows, and a checkpoint of a tiny trained run.
    static func seeds(_ target: String) throws -> [[UInt8]] {
        switch target {
        case "recipe":
            return try ["default.yaml", "mtl-short.yaml", "digits.yaml"].map {
                Array(try Data(contentsOf: repositoryRoot.appendingPathComponent("recipes/\($0)")))
            }
        case "idx":
            return [
                Array(
                    try Data(
                        contentsOf: URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"))
                )
            ]
        case "csv":
            let text = String(decoding: try Gzip.readFile(Digits.defaultPath), as: UTF8.self)
            return [Array(text.split(separator: "\n").prefix(20).joined(separator: "\n").utf8)]
        case "coco":
            return [Array(Self.coco.utf8)]
        case "cache":
            return try Self.cacheSeeds()
        case "safetensors":
            return try seeds("checkpoint").map { bytes in
                try bytes.withUnsafeBytes { buffer in try Zstd.decompressSingleFrame(buffer) }
            }
        default:
            let trainer = try tinyTrainer(try tinyRecipe(steps: 2))
            try trainer.step()
            return try withTemporaryDirectory { dir in
                let url = dir.appendingPathComponent("seed.moe")
                try trainer.checkpoint().write(to: url)
                return [Array(try Data(contentsOf: url))]
            }
        }
    }

    /// A cache file of 3 letterboxed images with boxes, as `moe` writes it, and its record.
    static func cacheSeeds() throws -> [[UInt8]] {
        let prep = ImagePreprocessing(channels: 1, height: 4, width: 5, mode: .letterbox)
        let t = LetterboxTransform(fitting: ImageSize(width: 9, height: 4), into: ImageSize(width: 5, height: 4))
        let images = PreparedImages(
            preprocessing: prep, pixels: (0..<60).map { UInt8($0 * 3) }, transforms: [t, t, nil])
        let boxes: [[Box]] = [
            [Box(x0: 0, y0: 1, x1: 2, y1: 3, label: 1)], [], [Box(x0: 1, y0: 1, x1: 4, y1: 2, label: 0)],
        ]
        let split = LoadedSplit(images: images, targets: .boxes(boxes))
        return try withTemporaryDirectory { dir in
            let cache = PreparedCache(folder: dir.path)
            try #require(cache.store(split, name: "seed", key: "moe-cache v1\nfuzz") == nil)
            let file = try FileManager.default.contentsOfDirectory(atPath: dir.path)[0]
            let bytes = Array(try Data(contentsOf: dir.appendingPathComponent(file)))
            let record = try #require(bytes.withUnsafeBytes { PreparedCache.decompressFrames($0) })
            // Seeds the target accepts whole, so mutations start from the deepest path.
            #expect(bytes.withUnsafeBytes { PreparedCache.decode(file: $0, key: "moe-cache v1\nfuzz") }?.count == 3)
            #expect(PreparedCache.decode(record: record, key: "moe-cache v1\nfuzz")?.count == 3)
            return [bytes, record]
        }
    }

    @Test("seeded byte mutations of real inputs never trap", arguments: FuzzTargets.all.keys.sorted())
    func mutations(target: String) throws {
        let run = try #require(FuzzTargets.all[target])
        var rng = SeededGenerator(seed: 0xF022)
        for seed in try Self.seeds(target) {
            run(seed)
            for _ in 0..<150 {
                var bytes = seed
                for _ in 0...Int(rng.next() % 4) where !bytes.isEmpty {
                    let i = Int(rng.next() % UInt64(bytes.count))
                    switch rng.next() % 4 {
                    case 0: bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: bytes.removeSubrange(i...)
                    case 2: bytes.insert(contentsOf: bytes[i..<min(bytes.count, i + 16)], at: i)
                    default: bytes[i] ^= 0x80
                    }
                }
                run(bytes)
            }
        }
    }
}
