import Foundation
import MoETensor
import Testing

@testable import MoEBalancing
@testable import MoEOptim
@testable import MoETraining

/// Known answers of the balancing methods on small problems (pure math on flat buffers).
@Suite struct BalancingTests {
    static let jacobian: [[Float]] = [[-4, 1, 1], [6, 1, 1]]

    @Test(
        "PCGrad on J = [[-4,1,1],[6,1,1]] gives [0.5848, 3.8012, 3.8012] (sum convention)",
        arguments: [UInt64(0), 1, 2])
    func pcgradGolden(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let orders = PCGrad.orders(tasks: 2, generator: &generator)
        let a = PCGrad.coefficients(gramian: GradientMath.gramian(Self.jacobian), orders: orders)
        let g = GradientMath.combine(Self.jacobian, coefficients: a)
        #expect(abs(g[0] - 0.5848) < 1e-4)
        #expect(abs(g[1] - 3.8012) < 1e-4)
        #expect(abs(g[2] - 3.8012) < 1e-4)
    }

    @Test("PCGrad leaves non-conflicting gradients as their sum")
    func pcgradNoConflict() {
        let rows: [[Float]] = [[1, 2, 0], [2, 1, 1], [0, 1, 3]]
        var generator = SeededGenerator(seed: 3)
        let a = PCGrad.coefficients(
            gramian: GradientMath.gramian(rows), orders: PCGrad.orders(tasks: 3, generator: &generator))
        #expect(a == [1, 1, 1])
    }

    @Test(
        "after TBGC every task's backbone gradient has norm S; TBGC* only clips",
        arguments: [Float(0.5), 1, 3])
    func tbgcNorms(s: Float) {
        let rows: [[Float]] = [[3, 4, 0, 0], [0, 0.1, 0.2, 0], [10, -10, 5, 1]]
        let owned: [Float] = [1, 0.05, 20]
        let norms = rows.map { GradientMath.norm($0) }
        let f = TBGC.factors(backboneNorms: norms, ownedNorms: owned, norm: s, rescale: true)
        for t in rows.indices {
            let scaled = rows[t].map { $0 * f.backbone[t] }
            #expect(abs(GradientMath.norm(scaled) - s) < 1e-5 * max(s, 1))
            // The whole gradient was clipped to S first: head factor = min(1, S/‖g‖).
            let whole = (norms[t] * norms[t] + owned[t] * owned[t]).squareRoot()
            #expect(abs(f.owned[t] - min(1, s / whole)) < 1e-6)
        }
        let star = TBGC.factors(backboneNorms: norms, ownedNorms: owned, norm: s, rescale: false)
        #expect(star.backbone == star.owned)
        for t in rows.indices {
            let whole = (norms[t] * norms[t] + owned[t] * owned[t]).squareRoot()
            #expect(whole * star.owned[t] <= s * 1.0001)
        }
    }

    @Test("GradNorm: the slower-training task's weight rises, the weights keep summing to T")
    func gradNormSlowTaskGainsWeight() {
        var gn = GradNorm(alpha: 1.5, lr: 0.05, layer: "all", tasks: 2, state: BalancerState(seed: 0))
        // Same unweighted gradient norm on W for both tasks; task 0 barely learns (L/L0 ≈ 1),
        // task 1 learns fast (L/L0 falls to 0.2).
        var losses: [Float] = [2.0, 2.0]
        for step in 0..<20 {
            let g = gn.state.weights.map { $0 * 1.0 }
            _ = gn.update(layerNorms: g, losses: losses)
            losses = [2.0 - 0.01 * Float(step), 2.0 * max(0.2, 1 - 0.1 * Float(step))]
            #expect(abs(gn.state.weights.reduce(0, +) - 2) < 1e-4)
        }
        #expect(gn.state.weights[0] > 1.1 && gn.state.weights[1] < 0.9)
        #expect(gn.state.initialLosses == [2.0, 2.0])
    }

    @Test("uncertainty: learned log σ² moves toward log L; analytic weight is 1/L")
    func uncertainty() {
        var uw = UncertaintyWeighting(
            learned: true, lr: 0.1, initialLogVariance: 0, tasks: 2, state: BalancerState(seed: 0))
        let layout = TaskParameterLayout(store: ParameterStore(), datasets: ["a", "b"])
        let set = TaskGradientSet(losses: [4, 0.25], weights: [0.5, 0.5], shared: [], ownedNorms: [0, 0])
        for _ in 0..<200 { _ = uw.finish(set, layout: layout) }
        // The optimum of ½e^{-s}L + ½s is s = log L.
        #expect(abs(uw.state.logVariances[0] - log(4)) < 0.1)
        #expect(abs(uw.state.logVariances[1] - log(0.25)) < 0.1)
        #expect(abs(uw.lossWeight(task: 0, loss: 4) - 0.5 / 4) < 0.02)
        let analytic = UncertaintyWeighting(
            learned: false, lr: 0, initialLogVariance: 0, tasks: 2, state: BalancerState(seed: 0))
        #expect(analytic.lossWeight(task: 1, loss: 8) == 0.125)
    }

    @Test("GradSplit: each output-channel group takes only the tasks its mask row accepts")
    func gradSplit() {
        // Two tasks, 4 output channels: channels 0-1 are group 0, channels 2-3 group 1.
        let rows: [[Float]] = [[1, 2, 3, 4, 5, 6, 7, 8], [10, 20, 30, 40, 50, 60, 70, 80]]
        let mask: [[Float]] = [[1, 0], [1, 1]]
        let out = GradSplit.combine(rows, channels: 4, mask: mask)
        #expect(out == [1, 2, 33, 44, 5, 6, 77, 88])
        let ones = GradSplit.combine(rows, channels: 4, mask: [[1, 1], [1, 1]])
        #expect(ones == GradientMath.combine(rows, coefficients: [1, 1]))
    }

    @Test("diagnostics: norms, cosine, GMS and conflicting-sign fraction by hand")
    func diagnostics() {
        let rows: [[Float]] = [[3, 4, 0, 1], [-3, 4, 0, 0]]
        let g = GradientDiagnostics.group(name: "x", rows: rows, ranges: [0..<4])
        #expect(abs(g.norms[0] - 26.0.squareRoot()) < 1e-9 && abs(g.norms[1] - 5) < 1e-9)
        #expect(abs(g.cosine[0] - 7 / (26.0.squareRoot() * 5)) < 1e-9)
        #expect(abs(g.magnitudeSimilarity[0] - 2 * 26.0.squareRoot() * 5 / 51) < 1e-9)
        #expect(g.conflictFraction == [0.25])
        let h = GradientDiagnostics.group(name: "y", rows: rows, ranges: [0..<1, 3..<4])
        #expect(h.conflictFraction == [0.5] && abs(h.cosine[0] + 9 / (10.0.squareRoot() * 3)) < 1e-9)
    }

    @Test("Δm by hand: +2 % on one task, −10 % on another, lower-is-better +20 %")
    func deltaM() {
        let entries = [
            DeltaM.Entry(task: "a", multiTask: 0.51, singleTask: 0.50),
            DeltaM.Entry(task: "b", multiTask: 0.27, singleTask: 0.30),
            DeltaM.Entry(task: "c", multiTask: 0.8, singleTask: 1.0, higherIsBetter: false),
        ]
        #expect(abs(DeltaM.compute(entries) - (2 - 10 + 20) / 3) < 1e-9)
    }
}

/// GradSplit's relation mask from pairwise runs (τ = −0.01).
@Suite struct TaskRelationsTests {
    @Test("relative changes and the τ = −1 % mask by hand")
    func mask() {
        let single = [0.80, 0.40, 0.20]
        // joint[t][s]: task t's metric when trained with s.
        let joint = [[0, 0.82, 0.795], [0.30, 0, 0.40], [0.19, 0.21, 0]]
        let r = TaskRelations.relativeChanges(single: single, joint: joint)
        #expect(abs(r[0][1] - 0.025) < 1e-12 && abs(r[0][2] + 0.00625) < 1e-12 && abs(r[1][0] + 0.25) < 1e-12)
        #expect(TaskRelations.mask(r) == [[1, 1, 1], [0, 1, 1], [0, 1, 1]])
        let yaml = TaskRelations.yaml(datasets: ["a", "b", "c"], changes: r, mask: TaskRelations.mask(r), tau: -0.01)
        #expect(yaml.contains("relations: [[1, 1, 1], [0, 1, 1], [0, 1, 1]]"))
    }
}
