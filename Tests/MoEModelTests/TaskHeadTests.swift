import Foundation
import MoETensor
import Testing

@testable import MoEModel

extension MoEModelSuites {
    /// Detection and segmentation heads (dense, on every patch token) and the router-probability
    /// hook of the mutual-information loss.
    @Suite struct TaskHeadTests {
        @Test(
            "every task kind's output has its documented shape, in training and inference",
            arguments: [true, false])
        func outputShapes(training: Bool) throws {
            let model = try VisionMoE(config: tinyConfig(denseTasks: true), seed: 1)
            randomizeRouters(model, seed: 2)
            // (dataset, batch, expected): a 8×8 classification; b 12×12 (resampled positions);
            // det 12×8 → 3×2 grid, C = 2 → (2 + 1) + 4; seg 8×8 → 2×2 grid, C = 3 → 3 + 1.
            let cases: [(String, Int, [Int])] = [
                ("a", 5, [5, 3]), ("b", 2, [2, 4]), ("det", 2, [2, 6, 7]), ("seg", 3, [3, 4, 4]),
            ]
            for (dataset, batch, expected) in cases {
                let spec = try model.config.dataset(named: dataset)
                #expect(try model.outputShape(dataset: dataset, batch: batch) == expected)
                let images = randomImages([batch, 2, spec.height, spec.width], seed: 3)
                let output = try model.forward(images: images, dataset: dataset, training: training)
                #expect(output.shape == expected, "\(dataset)")
                #expect(output.storage.allSatisfy { $0.isFinite })
            }
            #expect(throws: ModelError.self) { try model.outputShape(dataset: "nope", batch: 1) }
        }

        @Test("output channels per task: C, (C + 1) + 4, C + 1")
        func outputChannels() {
            #expect(DatasetSpec(name: "x", classes: 5, height: 8, width: 8).outputChannels == 5)
            #expect(
                DatasetSpec(name: "x", task: .detection, classes: 5, height: 8, width: 8)
                    .outputChannels == 10)
            #expect(
                DatasetSpec(name: "x", task: .segmentation, classes: 5, height: 8, width: 8)
                    .outputChannels == 6)
        }

        @Test("task kinds decode from their raw names")
        func taskKindCoding() throws {
            #expect(TaskKind(rawValue: "detection") == .detection)
            #expect(TaskKind(rawValue: "segmentation") == .segmentation)
            let json = #"{"name": "voc", "task": "detection", "classes": 20, "height": 64, "width": 64}"#
            let spec = try JSONDecoder().decode(DatasetSpec.self, from: Data(json.utf8))
            #expect(spec.task == .detection && spec.outputChannels == 25)
        }

        @Test("dense heads are LN + Linear named heads.<dataset>, fc ~ N(0, 0.02²) with zero bias")
        func denseHeadParameters() throws {
            let model = try VisionMoE(config: tinyConfig(denseTasks: true), seed: 1)
            for (dataset, outputs) in [("det", 7), ("seg", 4)] {
                let w = try model.store.parameter(named: "heads.\(dataset).fc.weight").value
                #expect(w.shape == [8, outputs])
                #expect(w.storage.allSatisfy { $0 != 0 && abs($0) <= 0.04 })
                #expect(
                    try model.store.parameter(named: "heads.\(dataset).fc.bias").value
                        == Tensor(shape: [outputs]))
                #expect(
                    try model.store.parameter(named: "heads.\(dataset).norm.weight").value
                        == Tensor(shape: [8], repeating: 1))
            }
        }

        @Test(
            "dense output cell p is the head applied to patch token p (row-major, no class token)",
            arguments: ["det", "seg"])
        func denseLayout(dataset: String) throws {
            let model = try VisionMoE(config: tinyConfig(denseTasks: true), seed: 1)
            randomizeAllParameters(model, seed: 4)
            let spec = try model.config.dataset(named: dataset)
            let output = try model.forward(
                images: randomImages([2, 2, spec.height, spec.width], seed: 5), dataset: dataset)
            let features = try #require(model.lastFeatures)
            let (n, d, o) = (features.shape[1], features.shape[2], output.shape[2])
            #expect(output.shape[1] == n - 1)
            let gamma = try model.store.parameter(named: "heads.\(dataset).norm.weight").value
            let beta = try model.store.parameter(named: "heads.\(dataset).norm.bias").value
            let w = try model.store.parameter(named: "heads.\(dataset).fc.weight").value
            let bias = try model.store.parameter(named: "heads.\(dataset).fc.bias").value
            for b in 0..<2 {
                for p in 0..<(n - 1) {
                    let x = (0..<d).map { Double(features[(b * n + 1 + p) * d + $0]) }
                    let mean = x.reduce(0, +) / Double(d)
                    let variance = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
                    let normed = (0..<d).map {
                        (x[$0] - mean) / (variance + 1e-6).squareRoot() * Double(gamma[$0])
                            + Double(beta[$0])
                    }
                    for c in 0..<o {
                        var y = Double(bias[c])
                        for i in 0..<d { y += normed[i] * Double(w[i * o + c]) }
                        let got = Double(output[(b * (n - 1) + p) * o + c])
                        #expect(abs(got - y) < 1e-4, "image \(b) cell \(p) channel \(c): \(got) vs \(y)")
                    }
                }
            }
        }

        @Test(
            "router probabilities: [B·N, E] per MoE layer, rows sum to 1, masked experts are 0",
            arguments: [1, 2])
        func routerProbabilities(moeEvery: Int) throws {
            var config = tinyConfig(moeEvery: moeEvery, denseTasks: true)
            let mask = [[true, false, true, true], [false, true, true, true]]
            config.datasets[2].expertMask = Array(mask.prefix(config.moeBlocks.count))
            let model = try VisionMoE(config: config, seed: 1)
            randomizeRouters(model, seed: 2)
            #expect(model.moeLayerCount == (moeEvery == 1 ? 2 : 1))
            _ = try model.forward(images: randomImages([3, 2, 12, 8], seed: 3), dataset: "det")
            let tokens = 3 * (3 * 2 + 1)
            for layer in 0..<model.moeLayerCount {
                let p = model.routerProbabilities(moeLayer: layer)
                #expect(p.shape == [tokens, 4])
                let block = config.moeBlocks[layer]
                #expect(p.storage == model.blockCaches[block].moe.probabilities.tensor(shape: [tokens, 4]).storage)
                for t in 0..<tokens {
                    let row = (0..<4).map { p[t * 4 + $0] }
                    #expect(abs(row.reduce(0, +) - 1) < 1e-5)
                    for e in 0..<4 where !mask[layer][e] { #expect(row[e] == 0) }
                    #expect(row.allSatisfy { $0 >= 0 })
                }
            }
            #expect(try VisionMoE(config: tinyConfig(experts: 0), seed: 1).moeLayerCount == 0)
        }

        @Test("dense heads count their FLOPs on every patch cell")
        func denseHeadFLOPs() throws {
            let model = try VisionMoE(config: tinyConfig(denseTasks: true), seed: 1)
            var asClassification = tinyConfig(denseTasks: true)
            asClassification.datasets[3].task = .classification
            let reference = try VisionMoE(config: asClassification, seed: 1)
            // seg: 4 cells × (3 + 1) outputs vs the class token's 3 logits, per image, 2·D each.
            let difference =
                try model.forwardFLOPs(dataset: "seg", batch: 2)
                - reference.forwardFLOPs(dataset: "seg", batch: 2)
            #expect(difference == 2 * 2 * 8 * Double(4 * 4 - 3))
        }
    }
}
