import Foundation
import MoEData
import MoEDataSources
import MoERecipe
import MoETestSupport
import MoETraining
import Testing

/// The three own-image sources train together, with the existing augmentations, and
/// evaluate; class names reach the model's specs.
@Suite struct OwnDataTrainingTests {
    @Test func threeSourcesTrainWithAugmentation() throws {
        try withTemporaryDirectory { dir in
            try Python.run(Python.fashionSlice, arguments: [dir.path, "32", "8"])
            let generator = try SceneExportTests.generator()
            for format in SceneExport.Format.allCases {
                for split in ["train", "val"] {
                    try SceneExport.write(
                        generator, count: 8, split: split, root: dir.path + "/" + format.rawValue, format: format,
                        classNames: ["a", "b", "c"])
                }
            }
            let recipe = try Recipe.parse(
                yaml: """
                    name: own
                    seed: 2
                    model: {channels: 3, imageSize: 32, patchSize: 8, width: 16, depth: 1, heads: 2, experts: 2, topK: 1}
                    datasets:
                      fm: {source: folder, path: "\(dir.path)/png", size: 32, batchSize: 4}
                      det: {source: coco, task: detection, path: "\(dir.path)/coco", size: [32, 48], batchSize: 4}
                      seg: {source: masks, task: segmentation, path: "\(dir.path)/masks", classes: 3, batchSize: 4}
                    training: {steps: 6, logEvery: 1, threads: 1, stepMode: roundRobin}
                    augmentation:
                      fm: [{kind: hflip, weight: 1}, {kind: noise, weight: 1, std: 0.1}, {kind: mixup, weight: 1}]
                      det: [{kind: mosaic, weight: 1}, {kind: crop, weight: 1, minScale: 0.5}]
                      seg: [{kind: hflip, weight: 1}, {kind: mosaic, weight: 1}]
                    """, source: "test")
            let data = try RunDataset.loadAll(recipe)
            #expect(data.map(\.train.channels) == [3, 3, 3])
            #expect(data[1].train.height == 32 && data[1].train.width == 48)
            #expect(data[1].spec.classNames == ["a", "b", "c"] && data[2].spec.classes == 3)
            let trainer = try Trainer(recipe: recipe, data: data)
            for _ in 0..<6 {
                let report = try trainer.step()
                #expect(report.loss.isFinite)
            }
            let metrics = try trainer.evaluate()
            #expect(Set(metrics.keys) == ["fm", "det", "seg"])
        }
    }
}
