import Foundation
import MoEData
import MoEDataSources
import MoEModel
import MoERecipe
import MoETensor
import MoETestSupport
import MoETraining
import Testing

/// Training from a PNG ImageFolder equals training from IDX files of the same images.
@Suite struct FolderTrainingTests {
    static func recipe(source: String, path: String, extra: String = "") throws -> Recipe {
        try Recipe.parse(
            yaml: """
                name: same
                seed: 5
                model: {channels: 1, imageSize: 28, patchSize: 7, width: 16, depth: 1, heads: 2, experts: 2, topK: 1}
                datasets:
                  fm: {source: \(source), path: "\(path)", batchSize: 8\(extra)}
                training: {steps: 3, logEvery: 1, threads: 1}
                """, source: "test")
    }

    /// Parameters after 3 steps, bit patterns by name.
    static func trained(_ recipe: Recipe) throws -> [String: [UInt32]] {
        let trainer = try Trainer(recipe: recipe, data: RunDataset.loadAll(recipe))
        for _ in 0..<3 { _ = try trainer.step() }
        return Dictionary(
            uniqueKeysWithValues: trainer.model.store.parameters.map { ($0.name, $0.value.storage.map(\.bitPattern)) })
    }

    @Test func folderTrainingIsBitIdenticalToIDX() throws {
        try withTemporaryDirectory { dir in
            try Python.run(Python.fashionSlice, arguments: [dir.path, "48", "16"])
            let idx = try Self.recipe(source: "fashion-mnist", path: dir.path + "/idx")
            let folder = try Self.recipe(
                source: "folder", path: dir.path + "/png", extra: ", normalize: {mean: [0.2860], std: [0.3530]}")
            let folderData = try RunDataset.load(folder.datasets[0], seed: 5, model: folder.model)
            #expect(folderData.spec.classNames?.count == folderData.spec.classes)
            #expect(folderData.train.count == 48 && folderData.test.count == 16)
            var a = Tensor(shape: [0])
            var b = Tensor(shape: [0])
            let idxData = try RunDataset.load(idx.datasets[0], seed: 5, model: idx.model)
            #expect(
                folderData.train.makeBatch(indices: Array(0..<48), into: &a)
                    == idxData.train.makeBatch(indices: Array(0..<48), into: &b))
            #expect(a.storage.map(\.bitPattern) == b.storage.map(\.bitPattern))
            #expect(try Self.trained(folder) == Self.trained(idx))
        }
    }

    /// Without split folders the images split by testFraction with the seed; the stored
    /// statistics are the training split's.
    @Test func unsplitFolderSplitsBySeed() throws {
        try withTemporaryDirectory { dir in
            try Python.run(Python.fashionSlice, arguments: [dir.path, "40", "4"])
            let root = dir.path + "/png/train"
            let recipe = try Self.recipe(source: "folder", path: root, extra: ", testFraction: 0.25")
            let data = try RunDataset.load(recipe.datasets[0], seed: 5, model: recipe.model)
            #expect(data.train.count == 30 && data.test.count == 10)
            #expect(data.spec.inputMean?.count == 1 && data.spec.inputStd?.count == 1)
            // A checkpoint's stored statistics win over measuring again (eval, adapt).
            var stored = recipe.model
            var spec = data.spec
            spec.inputMean = [0.125]
            spec.inputStd = [0.5]
            stored.datasets = [spec]
            let again = try RunDataset.load(recipe.datasets[0], seed: 5, model: stored)
            #expect(again.spec.inputMean == [0.125] && again.spec.inputStd == [0.5])
        }
    }

    @Test func badRecipeValuesNameTheKey() throws {
        let cases = [
            ("size: 30", "datasets.fm.size"),
            ("normalize: {mean: [0.5, 0.5], std: [1, 1]}", "datasets.fm.normalize"),
            ("normalize: {mean: [0.5], std: [0]}", "datasets.fm.normalize.std"),
            ("classes: 3", "datasets.fm.classes"),
        ]
        for (extra, key) in cases {
            do {
                _ = try Self.recipe(source: "folder", path: "/x", extra: ", " + extra)
                Issue.record("\(extra) should be rejected")
            } catch {
                #expect("\(error)".contains(key), "\(error)")
            }
        }
    }
}
