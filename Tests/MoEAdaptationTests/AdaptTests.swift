import Foundation
import MoEModel
import MoETensor
import MoETestSupport
import MoETraining
import Testing

@testable import MoEAdaptation

/// `adapt`: a new router per MoE layer and a head learn; every other tensor is bit-identical.
@Suite(.serialized) struct AdaptTests {
    static func adapt(
        _ source: VisionMoE, experts: Int = 0, routerOnly: Bool = true, topK: Int? = nil,
        selection: ExpertSelection = .random, optimizer: String = "adamw", in directory: URL
    ) throws -> (VisionMoE, AdaptationRecord) {
        let recipe = try tinyAdaptRecipe(optimizer: optimizer)
        var settings = Adaptation.AdaptSettings()
        settings.routerOnly = routerOnly
        settings.experts = experts
        settings.selection = selection
        settings.topK = topK
        settings.steps = 3
        return try withTrainingRunLock {
            try Adaptation.adapt(
                source, dataset: digitsData("b"), settings: settings, recipe: recipe, history: [],
                checkpointPath: directory.appendingPathComponent("b.moe").path
            ) { _, _ in }
        }
    }

    @Test(
        "router-only: every source tensor is bit-identical, the new router and head train",
        arguments: ["adamw", "sgd", "lamb"])
    func routerOnly(optimizer: String) throws {
        try withTemporaryDirectory { dir in
            let source = try tinySource()
            let before = parameterBits(source)
            let (model, record) = try Self.adapt(source, optimizer: optimizer, in: dir)
            let after = parameterBits(model)
            for (name, value) in before { #expect(after[name] == value, "\(name) changed") }
            let added = Set(after.keys).subtracting(before.keys)
            #expect(
                added == [
                    "blocks.0.moe.routers.b", "blocks.1.moe.routers.b", "heads.b.norm.weight",
                    "heads.b.norm.bias", "heads.b.fc.weight", "heads.b.fc.bias",
                ])
            let router = try model.store.parameter(named: "blocks.0.moe.routers.b").value
            #expect(router.storage.contains { $0 != 0 }, "the router did not train")
            #expect(record.trainableParameters == 2 * 16 * 4 + 2 * 16 + 16 * 10 + 10)
            #expect(record.modelParameters == source.store.scalarCount + record.trainableParameters)
            #expect(record.operation == "adapt" && record.metricName == "top1")
            #expect(record.historyLine.hasPrefix("adapt b {"))
        }
    }

    /// The most used expert (after a one-step router warm-up) surely receives tokens, so it
    /// must train; a random one might get none from a barely trained router.
    @Test(
        "router + N experts: only the chosen experts' slices of each bank move (any optimiser)",
        arguments: ["adamw", "sgd", "lamb"])
    func routerAndExperts(optimizer: String) throws {
        try withTemporaryDirectory { dir in
            let source = try tinySource()
            let before = parameterBits(source)
            let (model, record) = try Self.adapt(
                source, experts: 1, selection: .mostUsed, optimizer: optimizer, in: dir)
            let chosen = try #require(record.settings["experts"]).split(separator: ";").map { Int($0)! }
            #expect(chosen.count == 2)
            for (layer, block) in model.config.moeBlocks.enumerated() {
                for part in ["w1", "b1", "w2", "b2"] {
                    let name = "blocks.\(block).moe.experts.\(part)"
                    let old = try #require(before[name])
                    let new = bits(try model.store.parameter(named: name).value)
                    let size = old.count / 4
                    for e in 0..<4 {
                        let same = old[(e * size)..<((e + 1) * size)] == new[(e * size)..<((e + 1) * size)]
                        if e == chosen[layer] {
                            if part.hasPrefix("w") { #expect(!same, "\(name) expert \(e) did not train") }
                        } else {
                            #expect(same, "\(name) expert \(e) changed")
                        }
                    }
                }
            }
            for (name, value) in before where !name.contains(".moe.experts.") {
                #expect(bits(try model.store.parameter(named: name).value) == value, "\(name) changed")
            }
            let perExpert = 16 * 16 + 16 + 16 * 16 + 16
            #expect(record.trainableParameters == 2 * (16 * 4 + perExpert) + 16 * 2 + 16 * 10 + 10)
        }
    }

    @Test("full fine-tuning (no --router-only) changes the backbone")
    func fullFineTune() throws {
        try withTemporaryDirectory { dir in
            let source = try tinySource()
            let before = parameterBits(source)
            let (model, record) = try Self.adapt(source, routerOnly: false, in: dir)
            #expect(bits(try model.store.parameter(named: "patch_embed.weight").value) != before["patch_embed.weight"])
            #expect(record.trainableParameters == model.store.scalarCount)
        }
    }

    @Test("--top-k gives the new dataset its own K; old datasets keep theirs; FLOPs ratio < 1")
    func topK() throws {
        try withTemporaryDirectory { dir in
            let source = try tinySource()
            let (model, record) = try Self.adapt(source, topK: 1, in: dir)
            #expect(model.config.topK(of: try model.config.dataset(named: "b")) == 1)
            #expect(model.config.topK(of: try model.config.dataset(named: "a")) == 2)
            #expect(record.flopsRatio < 1 && record.settings["topK"] == "1")
        }
    }

    @Test("bad settings fail with a message naming the value")
    func badSettings() throws {
        try withTemporaryDirectory { dir in
            let source = try tinySource()
            #expect(throws: AdaptationError.self) { try Self.adapt(source, topK: 5, in: dir) }
            do {
                _ = try Self.adapt(source, experts: 9, in: dir)
                Issue.record("expected an error")
            } catch {
                #expect("\(error)".contains("--experts 9"))
            }
        }
    }
}
