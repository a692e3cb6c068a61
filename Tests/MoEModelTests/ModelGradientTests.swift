import Testing
@testable import MoEModel
import MoETensor

/// The whole model's analytic gradient (every parameter kind: embeddings, attention,
/// norms, experts, routers, head, resampled positions) matches central finite differences.
@Suite struct ModelGradientTests {
    @Test("whole-model gradient matches finite differences",
          arguments: [("a", false, 1), ("b", false, 1), ("a", true, 1), ("b", false, 2)])
    func wholeModelGradient(dataset: String, renormalize: Bool, moeEvery: Int) throws {
        let model = try VisionMoE(config: tinyConfig(renormalize: renormalize, moeEvery: moeEvery), seed: 3)
        randomizeAllParameters(model, seed: 11)
        let spec = try model.config.dataset(named: dataset)
        let images = randomImages([3, 2, spec.height, spec.width], seed: 5)
        let labels = (0..<3).map { $0 % spec.classes }

        model.store.zeroGradients()
        let (_, dlogits) = try lossAndGradient(model, images: images, labels: labels, dataset: dataset)
        model.backward(logitsGradient: dlogits)
        _ = try lossAndGradient(model, images: images, labels: labels, dataset: dataset)

        // Tolerance: float32 central differences with h = 1e-3 carry ~1e-4 absolute noise;
        // errors are relative to |numeric| + |analytic| with a floor of 1e-3.
        let h: Float = 1e-3
        var checked = 0
        var worst = 0.0
        var rng = SeededGenerator(seed: 99)
        var skipped = 0
        let baseRouting = routing(model)
        for p in model.store.parameters {
            // Other datasets' heads and routers get no gradient from this batch.
            let other = dataset == "a" ? "b" : "a"
            if p.name.hasSuffix(".routers.\(other)") || p.name.hasPrefix("heads.\(other).") {
                #expect(p.grad.storage.allSatisfy { $0 == 0 }, "\(p.name) should get no gradient")
                continue
            }
            // Directional derivative along a random direction covers every entry at once.
            let original = p.value
            let direction = (0..<original.count).map { _ in rng.normal() }
            let analyticDirectional = zip(p.grad.storage, direction).reduce(0.0) { $0 + Double($1.0 * $1.1) }
            for i in 0..<original.count { p.value[i] = original[i] + h * direction[i] }
            let plusD = try lossAndGradient(model, images: images, labels: labels, dataset: dataset).0
            let routingPlus = routing(model)
            for i in 0..<original.count { p.value[i] = original[i] - h * direction[i] }
            let minusD = try lossAndGradient(model, images: images, labels: labels, dataset: dataset).0
            let routingMinus = routing(model)
            p.value = original
            let directionalStable = routingPlus == baseRouting && routingMinus == baseRouting
            if !directionalStable { skipped += 1 }
            let numericDirectional = (plusD - minusD) / Double(2 * h)
            let directionalError = abs(numericDirectional - analyticDirectional)
                / max(abs(numericDirectional) + abs(analyticDirectional), 1e-3)
            #expect(!directionalStable || directionalError < 2e-2,
                    "\(p.name) along a random direction: analytic \(analyticDirectional) vs numeric \(numericDirectional)")

            let stride = max(1, p.value.count / 4)
            for i in Swift.stride(from: 0, to: p.value.count, by: stride) {
                let original = p.value[i]
                p.value[i] = original + h
                let plus = try lossAndGradient(model, images: images, labels: labels, dataset: dataset).0
                let routingPlus = routing(model)
                p.value[i] = original - h
                let minus = try lossAndGradient(model, images: images, labels: labels, dataset: dataset).0
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
        model.backward(logitsGradient: dlogits)
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
                #expect(abs(numeric - analytic) / max(abs(numeric) + abs(analytic), 1e-2) < 3e-2,
                        "\(name)[\(i)]: \(analytic) vs \(numeric)")
            }
        }
    }
}
