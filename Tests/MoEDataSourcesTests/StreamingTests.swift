import Foundation
import MoEData
import MoEDataSources
import MoERecipe
import MoETensor
import MoETestSupport
import MoETraining
import Testing

/// A split above its memory budget streams from a mapped file and gives the same batches,
/// and the same training, as the split held in memory.
@Suite struct StreamingTests {
    /// 24 Fashion-MNIST PNGs, and 24 + 8 scenes as COCO and as masks, under `root`.
    static func writeSources(_ root: String) throws {
        try Python.run(Python.fashionSlice, arguments: [root, "24", "8"])
        let generator = try SceneExportTests.generator()
        for format in SceneExport.Format.allCases {
            for (split, count) in [("train", 24), ("val", 8)] {
                try SceneExport.write(
                    generator, count: count, split: split, root: root + "/" + format.rawValue, format: format,
                    classNames: ["a", "b", "c"])
            }
        }
    }

    /// One dataset of `source` at 224×224: 49 KiB an image, so 24 images exceed 1 MiB.
    static func recipe(_ source: String, root: String, extra: String = "") throws -> Recipe {
        let entry =
            switch source {
            case "folder": "{source: folder, path: \"\(root)/png\", size: 224, batchSize: 8\(extra)}"
            case "coco": "{source: coco, task: detection, path: \"\(root)/coco\", size: 224, batchSize: 4\(extra)}"
            default:
                "{source: masks, task: segmentation, path: \"\(root)/masks\", classes: 3, size: 224, batchSize: 4\(extra)}"
            }
        return try Recipe.parse(
            yaml: """
                name: stream
                seed: 5
                model: {channels: 1, imageSize: 56, patchSize: 28, width: 16, depth: 1, heads: 2, experts: 2, topK: 1}
                datasets:
                  d: \(entry)
                training: {steps: 3, logEvery: 1, threads: 1}
                """, source: "test")
    }

    static func load(_ recipe: Recipe) throws -> RunDataset {
        try RunDataset.load(recipe.datasets[0], seed: 5, model: recipe.model)
    }

    static func isMapped(_ split: any TaskSplit) -> Bool {
        (split as? PreparedSplit)?.data.images.pixels.isMapped ?? false
    }

    /// Every image of both splits as one batch: bit patterns and targets.
    static func batches(_ data: RunDataset) -> (images: [[UInt32]], targets: [TaskTargets]) {
        var out: (images: [[UInt32]], targets: [TaskTargets]) = ([], [])
        for split in [data.train, data.test] {
            var images = Tensor(shape: [0])
            out.targets.append(split.makeBatch(indices: Array(0..<split.count), into: &images))
            out.images.append(images.storage.map(\.bitPattern))
        }
        return out
    }

    @Test(arguments: ["folder", "coco", "masks"])
    func streamedSplitEqualsTheSplitInMemory(source: String) throws {
        try withTemporaryDirectory { dir in
            try Self.writeSources(dir.path)
            let inMemory = try Self.load(Self.recipe(source, root: dir.path, extra: ", cache: none"))
            let budget = try Self.recipe(source, root: dir.path, extra: ", memoryBudget: 1")
            let streamed = try Self.load(budget)
            #expect(Self.isMapped(streamed.train) && !Self.isMapped(inMemory.train))
            #expect(Self.batches(streamed) == Self.batches(inMemory))
            #expect(streamed.inputMean == inMemory.inputMean && streamed.inputStd == inMemory.inputStd)

            // The next load maps the same file; a damaged one is rewritten.
            let cache = dir.path + "/" + (source == "folder" ? "png" : source) + "/.moe-cache"
            let files = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasSuffix(".stream") }
            try #require(files.count == 1)
            let again = try Self.load(budget)
            #expect(Self.isMapped(again.train) && Self.batches(again) == Self.batches(inMemory))
            let handle = try #require(FileHandle(forWritingAtPath: cache + "/" + files[0]))
            try handle.truncate(atOffset: 5000)
            try handle.close()
            #expect(try Self.batches(Self.load(budget)) == Self.batches(inMemory))
        }
    }

    @Test func streamedTrainingIsBitIdenticalAndCacheNoneLeavesNoFile() throws {
        try withTemporaryDirectory { dir in
            try Self.writeSources(dir.path)
            let inMemory = try Self.recipe("folder", root: dir.path, extra: ", cache: none")
            let streamed = try Self.recipe("folder", root: dir.path, extra: ", cache: none, memoryBudget: 1")
            #expect(try Self.isMapped(Self.load(streamed).train))
            #expect(try Self.batches(Self.load(streamed)) == Self.batches(Self.load(inMemory)))
            #expect(try FolderTrainingTests.trained(streamed) == FolderTrainingTests.trained(inMemory))
            #expect(!FileManager.default.fileExists(atPath: dir.path + "/png/.moe-cache"))
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
                .filter { $0.hasPrefix("moe-stream-\(getpid())-") }
            #expect(leftovers.isEmpty)
        }
    }
}
