import Foundation
import MoEModel
import MoETensor
import MoETestSupport
import MoETraining
import Testing

@testable import MoEAdaptation

/// Expansion: old datasets' outputs are bit-identical after the new experts, router and
/// head have trained.
@Suite(.serialized) struct ExpandTests {
    @Test(
        "old datasets predict bit-identically after expansion and training",
        arguments: ["fresh", "copy"])
    func zeroForgetting(initialization: String) throws {
        try withTemporaryDirectory { dir in
            var config = tinyConfig(["a", "c"])
            config.datasets[1].expertMask = [[true, false, true, true], [true, true, true, false]]
            let source = try VisionMoE(config: config, seed: 2)
            var rng = SeededGenerator(seed: 8)
            for p in source.store.parameters where p.name.contains(".routers.") {
                for i in 0..<p.value.count { p.value.storage[i] = 0.5 * rng.normal() }
            }
            let x = testBatch(digitsData("a"))
            let beforeA = try source.forward(images: x, dataset: "a", training: false)
            let beforeC = try source.forward(images: x, dataset: "c", training: true)
            let sourceBits = parameterBits(source)

            let initializer: any ExpansionInitializer = initialization == "fresh" ? FreshExperts() : CopyMostUsed()
            let (model, record) = try withTrainingRunLock {
                try Adaptation.expand(
                    source, dataset: digitsData("b"), count: 2, initializer: initializer, steps: 3, seed: 1,
                    recipe: try tinyAdaptRecipe(), history: [],
                    checkpointPath: dir.appendingPathComponent("e.moe").path
                ) { _, _ in }
            }
            #expect(model.config.experts == 6)
            #expect(bits(try model.forward(images: x, dataset: "a", training: false)) == bits(beforeA))
            #expect(bits(try model.forward(images: x, dataset: "c", training: true)) == bits(beforeC))
            // Old experts, routers, heads and backbone unchanged; the new experts trained.
            for (name, value) in sourceBits {
                let now = bits(try model.store.parameter(named: name).value)
                #expect(Array(now.prefix(value.count)) == value, "\(name) changed")
            }
            let w1 = try model.store.parameter(named: "blocks.0.moe.experts.w1").value
            #expect(w1.shape == [6, 16, 16])
            #expect(try model.store.parameter(named: "blocks.0.moe.routers.b").value.shape == [16, 6])
            #expect(try model.store.parameter(named: "blocks.0.moe.routers.a").value.shape == [16, 4])
            let perExpert = 16 * 16 + 16 + 16 * 16 + 16
            #expect(record.trainableParameters == 2 * (2 * perExpert + 16 * 6) + 16 * 2 + 16 * 10 + 10)
            // The new dataset's tokens reach the new experts.
            _ = try model.forward(images: x, dataset: "b", training: true)
            #expect(model.lastExpertLoad.allSatisfy { $0.count == 6 })
        }
    }

    @Test("expansion refuses a dataset the model already has, naming it")
    func existingDataset() throws {
        try withTemporaryDirectory { dir in
            do {
                _ = try withTrainingRunLock {
                    try Adaptation.expand(
                        try tinySource(["b"]), dataset: digitsData("b"), count: 1, initializer: FreshExperts(),
                        steps: 1, seed: 0, recipe: try tinyAdaptRecipe(), history: [],
                        checkpointPath: dir.appendingPathComponent("e.moe").path
                    ) { _, _ in }
                }
                Issue.record("expected an error")
            } catch {
                #expect("\(error)".contains("'b'"))
            }
        }
    }
}
