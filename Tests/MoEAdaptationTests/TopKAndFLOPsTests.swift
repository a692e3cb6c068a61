import MoEModel
import MoETensor
import Testing

@testable import MoEAdaptation

/// Top-K reduction and the FLOPs accounting.
@Suite struct TopKAndFLOPsTests {
    @Test("top-K reduction picks exactly K allowed experts per token", arguments: [1, 2, 3])
    func exactlyK(k: Int) throws {
        var config = tinyConfig(["a"])
        config.datasets[0].expertMask = [[true, true, true, false], [false, true, true, true]]
        let source = try VisionMoE(config: config, seed: 4)
        let model = try source.settingTopK(k, datasets: ["a"])
        let x = testBatch(digitsData("a"), count: 8)
        _ = try model.forward(images: x, dataset: "a", training: true)
        let tokens = 8 * 5
        for (layer, load) in model.lastExpertLoad.enumerated() {
            #expect(load.reduce(0, +) == tokens * k)
            let banned = layer == 0 ? 3 : 0
            #expect(load[banned] == 0)
        }
    }

    /// Hand-worked: D 16, 2 blocks, E 4, F = 2·16/2 = 16, 8×8 images with 4×4 patches
    /// (Np 4, N 5), 10 classes. Per token and block: attention 2·16·48 + 2·16·16 + 4·5·16 =
    /// 2368; MoE 2·16·4 + K·4·16·16 = 128 + 1024K. Embedding 2·16·16·4 = 2048, head 2·16·10 =
    /// 320. K=2: 5·2·(2368 + 2176) + 2048 + 320 = 47808; K=1: 5·2·(2368 + 1152) + 2368 = 37568.
    @Test("FLOPs and the FLOPs ratio of Top-K reduction match a hand-worked case")
    func flopsRatio() throws {
        let source = try VisionMoE(config: tinyConfig(["a"]), seed: 0)
        #expect(try source.forwardFLOPs(dataset: "a", batch: 1) == 47808)
        let reduced = try source.settingTopK(1, datasets: ["a"])
        #expect(try reduced.forwardFLOPs(dataset: "a", batch: 2) == 2 * 37568)
        let ratio = try Adaptation.flopsRatio(model: reduced, dataset: "a", source: source.config)
        #expect(abs(ratio - 37568.0 / 47808.0) < 1e-12)
    }

    @Test("surgery checks its inputs")
    func surgeryErrors() throws {
        let model = try VisionMoE(config: tinyConfig(["a"]), seed: 0)
        #expect(throws: ModelError.self) { try model.keepingExperts([[0, 1], [0]]) }
        #expect(throws: ModelError.self) { try model.keepingExperts([[1, 0], [0, 1]]) }
        #expect(throws: ModelError.self) { try model.addingDataset(model.config.datasets[0], seed: 0) }
        #expect(throws: ModelError.self) { try model.settingTopK(5, datasets: ["a"]) }
        #expect(throws: ModelError.self) { try model.settingTopK(1, datasets: ["zzz"]) }
    }
}
