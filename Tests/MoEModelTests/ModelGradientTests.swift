import MoETensor
import Testing

@testable import MoEModel

extension MoEModelSuites {
    /// The whole model's analytic gradient (every parameter kind: embeddings, attention,
    /// norms, experts, routers, head, resampled positions) matches central finite differences.
    @Suite struct ModelGradientTests {
        @Test(
            "whole-model gradient matches finite differences",
            arguments: [
                ("a", false, 1), ("b", false, 1), ("a", true, 1), ("b", false, 2),
                ("det", false, 1), ("seg", false, 2), ("det", true, 2), ("seg", false, 1),
            ])
        func wholeModelGradient(dataset: String, renormalize: Bool, moeEvery: Int) throws {
            let dense = dataset == "det" || dataset == "seg"
            let model = try VisionMoE(
                config: tinyConfig(renormalize: renormalize, moeEvery: moeEvery, denseTasks: dense),
                seed: 3)
            randomizeAllParameters(model, seed: 11)
            let spec = try model.config.dataset(named: dataset)
            let images = randomImages([3, 2, spec.height, spec.width], seed: 5)
            let labels = (0..<3).map { $0 % spec.classes }
            try checkGradient(model, dataset: dataset) {
                let (loss, doutput) = try lossAndGradient(
                    model, images: images, labels: labels, dataset: dataset)
                return (loss, doutput, nil)
            }
        }

        @Test(
            "the router-probability hook's gradient matches finite differences",
            arguments: [("det", 1), ("a", 2), ("seg", 1)])
        func routerHookGradient(dataset: String, moeEvery: Int) throws {
            var config = tinyConfig(moeEvery: moeEvery, denseTasks: true)
            // A masked dataset: p = 0 for unavailable experts, and their S entries must not leak.
            let layers = config.moeBlocks.count
            config.datasets[2].expertMask = Array(
                [[true, true, false, true], [true, false, true, true]].prefix(layers))
            let model = try VisionMoE(config: config, seed: 3)
            randomizeAllParameters(model, seed: 12)
            let spec = try model.config.dataset(named: dataset)
            let images = randomImages([3, 2, spec.height, spec.width], seed: 5)
            let labels = (0..<3).map { $0 % spec.classes }
            #expect(model.moeLayerCount == layers)
            // The Σ p ⊙ S term adds float32 noise of ~5e-5 to directional derivatives at
            // h = 1e-3 (measured: they converge to the analytic value as h grows), hence the
            // larger floor for directional errors.
            try checkGradient(model, dataset: dataset, directionalFloor: 5e-3) {
                // L = head loss + Σ_layers Σ p ⊙ S_l, with ∂L/∂p = S_l through the hook.
                let (headLoss, doutput) = try lossAndGradient(
                    model, images: images, labels: labels, dataset: dataset)
                var loss = headLoss
                var routerGradients: [Tensor?] = []
                for l in 0..<model.moeLayerCount {
                    let (value, s) = weightedSum(
                        model.routerProbabilities(moeLayer: l), seed: 200 + UInt64(l))
                    loss += value
                    routerGradients.append(s)
                }
                return (loss, doutput, routerGradients)
            }
        }

        @Test(
            "a hook of all-nil gradients gives the no-hook gradients bit for bit",
            arguments: ["a", "det", "seg"])
        func nilHookIsNoHook(dataset: String) throws {
            let model = try VisionMoE(config: tinyConfig(denseTasks: true), seed: 3)
            randomizeAllParameters(model, seed: 11)
            let spec = try model.config.dataset(named: dataset)
            let images = randomImages([2, 2, spec.height, spec.width], seed: 5)
            func gradients(_ hook: [Tensor?]?) throws -> [[UInt32]] {
                model.store.zeroGradients()
                let (_, doutput) = try lossAndGradient(
                    model, images: images, labels: [0, 1], dataset: dataset)
                model.backward(outputGradient: doutput, routerProbabilityGradients: hook)
                return model.store.parameters.map { $0.grad.storage.map(\.bitPattern) }
            }
            let none = try gradients(nil)
            #expect(try gradients([nil, nil]) == none)
            #expect(try gradients(nil) == none)
            #expect(none.contains { $0.contains { $0 != 0 } })
        }

        /// Checks the analytic gradient of `evaluate`'s loss (one forward pass; it returns the
        /// loss, ∂L/∂output and the router-probability gradients for `backward`) against central
        /// finite differences, for every parameter along a random direction and at sampled
        /// entries. Samples whose nudges change a Top-K choice are skipped.
        func checkGradient(
            _ model: VisionMoE, dataset: String, directionalFloor: Double = 1e-3,
            evaluate: () throws -> (Double, Tensor, [Tensor?]?)
        ) throws {
            model.store.zeroGradients()
            let (_, doutput, routerGradients) = try evaluate()
            model.backward(outputGradient: doutput, routerProbabilityGradients: routerGradients)
            _ = try evaluate()

            // Tolerance: float32 central differences with h = 1e-3 carry ~1e-4 absolute noise;
            // errors are relative to |numeric| + |analytic| with a floor (`directionalFloor` for
            // directional derivatives, 1e-2 for single entries).
            let h: Float = 1e-3
            var checked = 0
            var worst = 0.0
            var rng = SeededGenerator(seed: 99)
            var skipped = 0
            let baseRouting = routing(model)
            for p in model.store.parameters {
                // Other datasets' heads and routers get no gradient from this batch.
                let otherRouter = p.name.contains(".routers.") && !p.name.hasSuffix(".routers.\(dataset)")
                let otherHead = p.name.hasPrefix("heads.") && !p.name.hasPrefix("heads.\(dataset).")
                if otherRouter || otherHead {
                    #expect(p.grad.storage.allSatisfy { $0 == 0 }, "\(p.name) should get no gradient")
                    continue
                }
                // Directional derivative along a random direction covers every entry at once.
                let original = p.value
                let direction = (0..<original.count).map { _ in rng.normal() }
                let analyticDirectional = zip(p.grad.storage, direction).reduce(0.0) { $0 + Double($1.0 * $1.1) }
                for i in 0..<original.count { p.value[i] = original[i] + h * direction[i] }
                let plusD = try evaluate().0
                let routingPlus = routing(model)
                for i in 0..<original.count { p.value[i] = original[i] - h * direction[i] }
                let minusD = try evaluate().0
                let routingMinus = routing(model)
                p.value = original
                let directionalStable = routingPlus == baseRouting && routingMinus == baseRouting
                if !directionalStable { skipped += 1 }
                let numericDirectional = (plusD - minusD) / Double(2 * h)
                let directionalError =
                    abs(numericDirectional - analyticDirectional)
                    / max(abs(numericDirectional) + abs(analyticDirectional), directionalFloor)
                #expect(
                    !directionalStable || directionalError < 2e-2,
                    "\(p.name) along a random direction: analytic \(analyticDirectional) vs numeric \(numericDirectional)"
                )

                let stride = max(1, p.value.count / 4)
                for i in Swift.stride(from: 0, to: p.value.count, by: stride) {
                    let original = p.value[i]
                    p.value[i] = original + h
                    let plus = try evaluate().0
                    let routingPlus = routing(model)
                    p.value[i] = original - h
                    let minus = try evaluate().0
                    let routingMinus = routing(model)
                    p.value[i] = original
                    // Top-K is piecewise: where the nudge changes an expert choice, the loss
                    // jumps and no derivative exists, so that sample is skipped.
                    if routingPlus != baseRouting || routingMinus != baseRouting {
                        skipped += 1
                        continue
                    }
                    let numeric = (plus - minus) / Double(2 * h)
                    let analytic = Double(p.grad[i])
                    let error = abs(numeric - analytic) / max(abs(numeric) + abs(analytic), 1e-2)
                    worst = max(worst, error)
                    #expect(error < 3e-2, "\(p.name)[\(i)]: analytic \(analytic) vs numeric \(numeric)")
                    checked += 1
                }
            }
            #expect(checked > 60)
            #expect(skipped * 5 < checked, "too many samples changed the routing: \(skipped)")
            #expect(worst < 3e-2)
        }

        /// Every MoE layer's expert choices in the last forward pass.
        func routing(_ model: VisionMoE) -> [Int32] {
            model.blockCaches.flatMap { cache in
                (0..<cache.moe.picked.count).map { cache.moe.picked.pointer[$0] }
            }
        }

        @Test("the dense variant's gradient matches finite differences")
        func denseGradient() throws {
            let model = try VisionMoE(config: tinyConfig(experts: 0), seed: 4)
            #expect(!model.store.names.contains { $0.contains("moe") })
            let images = randomImages([2, 2, 8, 8], seed: 6)
            let labels = [0, 2]
            model.store.zeroGradients()
            let (_, dlogits) = try lossAndGradient(model, images: images, labels: labels, dataset: "a")
            model.backward(outputGradient: dlogits)
            let h: Float = 1e-3
            for name in ["blocks.0.mlp.fc1.weight", "blocks.1.mlp.fc2.bias", "blocks.1.attn.qkv.weight"] {
                let p = try model.store.parameter(named: name)
                for i in [0, p.value.count / 2, p.value.count - 1] {
                    let original = p.value[i]
                    p.value[i] = original + h
                    let plus = try lossAndGradient(model, images: images, labels: labels, dataset: "a").0
                    p.value[i] = original - h
                    let minus = try lossAndGradient(model, images: images, labels: labels, dataset: "a").0
                    p.value[i] = original
                    let numeric = (plus - minus) / Double(2 * h)
                    let analytic = Double(p.grad[i])
                    #expect(
                        abs(numeric - analytic) / max(abs(numeric) + abs(analytic), 1e-2) < 3e-2,
                        "\(name)[\(i)]: \(analytic) vs \(numeric)")
                }
            }
        }
    }
}
