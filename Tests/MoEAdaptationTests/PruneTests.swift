import Foundation
import MoECheckpoint
import MoEModel
import MoETensor
import MoETestSupport
import MoETraining
import Testing

@testable import MoEAdaptation

/// Pruning keeps the most used experts and changes weights, router columns, masks and the
/// config together; the result round-trips through a checkpoint.
@Suite(.serialized) struct PruneTests {
    static func prune(_ source: VisionMoE, keep: Int, finetune: Int = 0, in dir: URL) throws -> (
        VisionMoE, AdaptationRecord
    ) {
        var recipe = try tinyAdaptRecipe("a")
        recipe.training.steps = finetune
        return try withTrainingRunLock {
            try Adaptation.prune(
                source, dataset: digitsData("a"), rule: .keep(keep), keepOtherDatasets: false,
                finetuneSteps: finetune, finetune: .experts, recipe: recipe, history: [],
                checkpointPath: dir.appendingPathComponent("p.moe").path, usageImages: 256
            ) { _, _ in }
        }
    }

    @Test("keeps the top-N experts by usage; slices experts and router columns consistently")
    func keepsMostUsed() throws {
        try withTemporaryDirectory { dir in
            let source = try tinySource(["a", "other"])
            let usage = try Adaptation.measureUsage(model: source, dataset: digitsData("a"), images: 256)
            let (model, record) = try Self.prune(source, keep: 3, in: dir)
            #expect(model.config.experts == 3 && model.config.datasets.map(\.name) == ["a"])
            let kept = try #require(record.settings["kept"]).split(separator: ";").map {
                $0.split(separator: ",").map { Int($0)! }
            }
            for (layer, block) in model.config.moeBlocks.enumerated() {
                let dropped = (0..<4).first { !kept[layer].contains($0) }!
                #expect(kept[layer].allSatisfy { usage[layer][$0] >= usage[layer][dropped] })
                let oldW1 = try source.store.parameter(named: "blocks.\(block).moe.experts.w1").value
                let newW1 = try model.store.parameter(named: "blocks.\(block).moe.experts.w1").value
                #expect(newW1 == VisionMoE.slices(oldW1, kept[layer]))
                let oldRouter = try source.store.parameter(named: "blocks.\(block).moe.routers.a").value
                let newRouter = try model.store.parameter(named: "blocks.\(block).moe.routers.a").value
                #expect(newRouter.shape == [16, 3])
                #expect(newRouter == VisionMoE.columns(oldRouter, kept[layer]))
            }
            #expect(record.modelParameters < source.store.scalarCount)
            #expect(record.flopsRatio < 1)

            // Round trip: the pruned checkpoint loads and predicts exactly the same.
            let file = dir.appendingPathComponent("round.moe")
            try RunCheckpoint.make(model: model, recipe: try tinyAdaptRecipe("a"), state: nil, optimizer: nil)
                .write(to: file)
            let loaded = try RunCheckpoint.loadModel(try RunCheckpoint.read(path: file.path), path: file.path)
            #expect(loaded.config == model.config)
            let x = testBatch(digitsData("a"))
            let y0 = try model.forward(images: x, dataset: "a", training: false)
            let y1 = try loaded.forward(images: x, dataset: "a", training: false)
            #expect(bits(y0) == bits(y1))
        }
    }

    @Test("removing experts the dataset never picks leaves its outputs unchanged")
    func neverPickedExperts() throws {
        try withTemporaryDirectory { dir in
            // Dataset a may not use expert 3 in either layer, so it is never picked.
            var config = tinyConfig(["a"])
            config.datasets[0].expertMask = [[true, true, true, false], [true, true, true, false]]
            let source = try VisionMoE(config: config, seed: 5)
            var rng = SeededGenerator(seed: 9)
            for p in source.store.parameters where p.name.contains(".routers.") {
                for i in 0..<p.value.count { p.value.storage[i] = 0.5 * rng.normal() }
            }
            let (model, record) = try Self.prune(source, keep: 3, in: dir)
            #expect(record.settings["kept"] == "0,1,2;0,1,2")
            #expect(model.config.datasets[0].expertMask == nil)
            let x = testBatch(digitsData("a"))
            let before = try source.forward(images: x, dataset: "a", training: false)
            let after = try model.forward(images: x, dataset: "a", training: false)
            let diff = zip(before.storage, after.storage).map { abs($0 - $1) }.max() ?? 0
            #expect(diff <= 1e-6, "max difference \(diff)")
        }
    }

    @Test("keep outside K...E fails naming the value; a short fine-tune trains the kept experts")
    func badKeepAndFinetune() throws {
        try withTemporaryDirectory { dir in
            let source = try tinySource()
            do {
                _ = try Self.prune(source, keep: 9, in: dir)
                Issue.record("expected an error")
            } catch {
                #expect("\(error)".contains("--keep 9"))
            }
            let (_, record) = try Self.prune(source, keep: 2, finetune: 2, in: dir)
            #expect(record.trainableParameters > 0 && record.settings["finetuneSteps"] == "2")
        }
    }

    @Test("threshold keeps every expert above the share, the same number per layer, at least K")
    func threshold() {
        let usage = [[0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.25, 0.25]]
        #expect(ExpertSelection.aboveThreshold(0.2, usage: usage, minimum: 2) == [[0, 1, 2, 3], [0, 1, 2, 3]])
        #expect(ExpertSelection.aboveThreshold(0.3, usage: usage, minimum: 2) == [[0, 1], [0, 1]])
        #expect(ExpertSelection.mostUsed.choose(count: 2, usage: usage, seed: 0) == [[0, 1], [0, 1]])
        #expect(ExpertSelection.leastUsed.choose(count: 1, usage: usage, seed: 0) == [[3], [0]])
        let random = ExpertSelection.random.choose(count: 2, usage: usage, seed: 4)
        #expect(random.allSatisfy { $0.count == 2 && $0[0] < $0[1] })
    }
}
