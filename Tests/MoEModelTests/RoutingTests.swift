import MoETensor
import Testing

@testable import MoEModel

extension MoEModelSuites {
    /// Router invariants: each token gets exactly K distinct experts, only allowed ones, with
    /// combine weights equal to the softmax probabilities (or their renormalisation).
    @Suite struct RoutingTests {
        func pickedExperts(_ model: VisionMoE, layer: Int, tokens: Int, k: Int) -> [[Int]] {
            let cache = model.blockCaches[layer].moe
            return (0..<tokens).map { t in (0..<k).map { Int(cache.picked.pointer[t * k + $0]) } }
        }

        @Test("every token picks exactly K distinct experts", arguments: [1, 2, 3, 4])
        func exactlyK(k: Int) throws {
            let model = try VisionMoE(config: tinyConfig(experts: 4, topK: k), seed: 1)
            randomizeRouters(model, seed: 2)
            _ = try model.forward(images: randomImages([3, 2, 8, 8], seed: 3), dataset: "a")
            let tokens = 3 * 5
            for layer in 0..<2 {
                let picks = pickedExperts(model, layer: layer, tokens: tokens, k: k)
                for row in picks {
                    #expect(Set(row).count == k)
                    #expect(row.allSatisfy { (0..<4).contains($0) })
                }
                #expect(model.lastExpertLoad[layer].reduce(0, +) == tokens * k)
            }
        }

        @Test("masked experts are never picked, and gates are the masked softmax")
        func availabilityMask() throws {
            var config = tinyConfig(experts: 5, topK: 2)
            let mask = [[true, false, true, false, true], [false, true, true, true, false]]
            config.datasets[0].expertMask = mask
            let model = try VisionMoE(config: config, seed: 1)
            randomizeRouters(model, seed: 9, std: 3)
            _ = try model.forward(images: randomImages([4, 2, 8, 8], seed: 3), dataset: "a")
            let tokens = 4 * 5
            for layer in 0..<2 {
                let cache = model.blockCaches[layer].moe
                for (t, row) in pickedExperts(model, layer: layer, tokens: tokens, k: 2).enumerated() {
                    #expect(row.allSatisfy { mask[layer][$0] }, "layer \(layer) token \(t) picked \(row)")
                    var sum: Float = 0
                    for e in 0..<5 {
                        let p = cache.probabilities.pointer[t * 5 + e]
                        if !mask[layer][e] { #expect(p == 0) }
                        sum += p
                    }
                    #expect(abs(sum - 1) < 1e-5)
                    for s in 0..<2 {
                        let gate = cache.gates.pointer[t * 2 + s]
                        #expect(gate == cache.probabilities.pointer[t * 5 + row[s]])
                    }
                    // Picked in descending order of probability, and none left out scores higher.
                    let p0 = cache.probabilities.pointer[t * 5 + row[0]]
                    let p1 = cache.probabilities.pointer[t * 5 + row[1]]
                    #expect(p0 >= p1)
                    for e in 0..<5 where mask[layer][e] && !row.contains(e) {
                        #expect(cache.probabilities.pointer[t * 5 + e] <= p1)
                    }
                }
            }
        }

        @Test("renormalised gates sum to one per token")
        func renormalisedGates() throws {
            let model = try VisionMoE(config: tinyConfig(experts: 4, topK: 3, renormalize: true), seed: 1)
            randomizeRouters(model, seed: 4)
            _ = try model.forward(images: randomImages([2, 2, 8, 8], seed: 3), dataset: "a")
            let cache = model.blockCaches[0].moe
            for t in 0..<10 {
                let sum = (0..<3).reduce(Float(0)) { $0 + cache.gates.pointer[t * 3 + $1] }
                #expect(abs(sum - 1) < 1e-5)
            }
        }

        @Test("zero-initialised routers route uniformly: probabilities are 1/E")
        func uniformStart() throws {
            let model = try VisionMoE(config: tinyConfig(experts: 4, topK: 2), seed: 1)
            _ = try model.forward(images: randomImages([2, 2, 8, 8], seed: 3), dataset: "a")
            let cache = model.blockCaches[1].moe
            for i in 0..<(10 * 4) { #expect(abs(cache.probabilities.pointer[i] - 0.25) < 1e-6) }
        }

        @Test("a dataset's router is the only one its batches use")
        func routerPerDataset() throws {
            let model = try VisionMoE(config: tinyConfig(), seed: 1)
            randomizeRouters(model, seed: 2)
            _ = try model.forward(images: randomImages([1, 2, 12, 12], seed: 3), dataset: "b")
            let routerB = try model.store.id("blocks.0.moe.routers.b")
            #expect(model.blockCaches[0].moe.router == routerB)
        }
    }
}

extension MoEModelSuites {
    /// Shapes, errors and FLOP counting of the model.
    @Suite struct ModelShapeTests {
        @Test("logits have one row per image and one column per class")
        func logitsShape() throws {
            let model = try VisionMoE(config: tinyConfig(), seed: 1)
            #expect(try model.forward(images: randomImages([5, 2, 8, 8], seed: 1), dataset: "a").shape == [5, 3])
            #expect(try model.forward(images: randomImages([2, 2, 12, 12], seed: 1), dataset: "b").shape == [2, 4])
            #expect(model.lastFeatures?.shape == [2, 10, 8])
        }

        @Test(
            "inference mode (shared activation buffers) gives the training pass's output bit for bit",
            arguments: ["a", "b", "det", "seg"])
        func inferenceMatchesTraining(dataset: String) throws {
            let model = try VisionMoE(config: tinyConfig(denseTasks: true), seed: 2)
            randomizeRouters(model, seed: 3)
            let spec = try model.config.dataset(named: dataset)
            let images = randomImages([4, 2, spec.height, spec.width], seed: 4)
            let train = try model.forward(images: images, dataset: dataset)
            let features = model.lastFeatures
            let infer = try model.forward(images: images, dataset: dataset, training: false)
            #expect(train.storage.map(\.bitPattern) == infer.storage.map(\.bitPattern))
            #expect(model.lastFeatures == features)
        }

        @Test("a wrong input size or an unknown dataset is a thrown error naming it")
        func badInput() throws {
            let model = try VisionMoE(config: tinyConfig(), seed: 1)
            #expect(throws: ModelError.inputShape(dataset: "a", expected: [1, 2, 8, 8], got: [1, 2, 12, 12])) {
                try model.forward(images: randomImages([1, 2, 12, 12], seed: 1), dataset: "a")
            }
            #expect(throws: ModelError.self) {
                try model.forward(images: randomImages([1, 2, 8, 8], seed: 1), dataset: "nope")
            }
        }

        @Test("invalid configs are rejected with the field named")
        func invalidConfig() {
            var c = tinyConfig()
            c.topK = 9
            #expect(throws: ModelError.invalidConfig(field: "topK", reason: "must be between 1 and experts (4), got 9"))
            {
                try VisionMoE(config: c, seed: 0)
            }
            var d = tinyConfig()
            d.heads = 3
            #expect(throws: ModelError.self) { try VisionMoE(config: d, seed: 0) }
        }

        @Test("bench-tiny: a batch-64 training step is 24.34 GFLOP of matrix work")
        func benchTinyFLOPs() throws {
            var c = ModelConfig()
            c.expertHiddenOverride = 128
            c.datasets = [DatasetSpec(name: "fmnist", classes: 10, height: 28, width: 28)]
            let model = try VisionMoE(config: c, seed: 0)
            let gflop = 3 * (try model.forwardFLOPs(dataset: "fmnist", batch: 64)) / 1e9
            #expect(abs(gflop - 24.34) < 0.01, "got \(gflop)")
        }

        @Test("parameters have unique dotted names and norms, biases and embeddings skip decay")
        func parameterNames() throws {
            let model = try VisionMoE(config: tinyConfig(), seed: 1)
            let names = model.store.names
            #expect(Set(names).count == names.count)
            #expect(names.contains("blocks.1.moe.experts.w1"))
            #expect(names.contains("blocks.0.moe.routers.a"))
            #expect(try model.store.parameter(named: "blocks.0.moe.experts.w1").value.shape == [4, 8, 8])
            for p in model.store.parameters {
                #expect(p.decays == !isExcludedFromWeightDecay(p.name), "\(p.name)")
            }
            #expect(isExcludedFromWeightDecay("blocks.0.norm1.weight"))
            #expect(isExcludedFromWeightDecay("pos_embed"))
            #expect(!isExcludedFromWeightDecay("blocks.0.attn.qkv.weight"))
        }

        @Test("the same seed builds the same model; another seed a different one")
        func seeded() throws {
            let a = try VisionMoE(config: tinyConfig(), seed: 7)
            let b = try VisionMoE(config: tinyConfig(), seed: 7)
            let c = try VisionMoE(config: tinyConfig(), seed: 8)
            #expect(a.store.parameters.map(\.value) == b.store.parameters.map(\.value))
            #expect(a.store.parameters.map(\.value) != c.store.parameters.map(\.value))
        }
    }
}
