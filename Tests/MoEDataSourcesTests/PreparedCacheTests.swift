import Foundation
import MoEData
import MoEDataSources
import MoERecipe
import MoETensor
import MoETestSupport
import MoETraining
import Testing

/// The prepared-image cache gives the decoded splits back, and misses when a file changes.
@Suite struct PreparedCacheTests {
    static func batch(_ data: RunDataset) -> ([UInt32], TaskTargets) {
        var images = Tensor(shape: [0])
        let targets = data.train.makeBatch(indices: Array(0..<data.train.count), into: &images)
        return (images.storage.map(\.bitPattern), targets)
    }

    @Test func secondLoadComesFromTheCacheAndChangesMiss() throws {
        try withTemporaryDirectory { dir in
            try Python.run(Python.fashionSlice, arguments: [dir.path, "24", "8"])
            let recipe = try FolderTrainingTests.recipe(source: "folder", path: dir.path + "/png")
            let entry = recipe.datasets[0]
            let first = try RunDataset.load(entry, seed: 5, model: recipe.model)
            let cacheFolder = dir.path + "/png/.moe-cache"
            let files = try FileManager.default.contentsOfDirectory(atPath: cacheFolder)
            #expect(files.count == 2)
            let second = try RunDataset.load(entry, seed: 5, model: recipe.model)
            #expect(Self.batch(first) == Self.batch(second))
            // The statistics stored in the cache are the ones measured on the decoded pixels.
            #expect(second.inputMean == first.inputMean && second.inputStd == first.inputStd)

            // A damaged cache file is ignored and rewritten.
            for f in files { try Data("junk".utf8).write(to: URL(fileURLWithPath: cacheFolder + "/" + f)) }
            let third = try RunDataset.load(entry, seed: 5, model: recipe.model)
            #expect(Self.batch(first) == Self.batch(third))

            // Replacing an image changes the key: the new pixels are decoded.
            let trainFolder = dir.path + "/png/train"
            let classFolder = try FileManager.default.contentsOfDirectory(atPath: trainFolder).sorted()[0]
            let image = try FileManager.default.contentsOfDirectory(atPath: trainFolder + "/" + classFolder).sorted()[0]
            let path = trainFolder + "/" + classFolder + "/" + image
            try Python.run(
                "import sys\nfrom PIL import Image\nImage.new('L', (28, 28), 255).save(sys.argv[1])", arguments: [path])
            let changed = try RunDataset.load(entry, seed: 5, model: recipe.model)
            #expect(Self.batch(first).0 != Self.batch(changed).0)
            #expect(try FileManager.default.contentsOfDirectory(atPath: cacheFolder).count == 3)
        }
    }
}
