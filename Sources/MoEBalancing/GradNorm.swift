import Foundation
import MoEOptim

/// GradNorm [GN]: learned task weights w (Σ w = T). With G_t = ‖∇_W (w_t L_t)‖ on a shared
/// layer W, L̃_t = L_t / L_t(0) (inverse training rate, L_t(0) the first step's loss),
/// r_t = L̃_t / mean(L̃) and the target mean(G)·r_t^α held constant,
/// L_grad = Σ_t |G_t − mean(G)·r_t^α|, whose gradient in w_t is sign(G_t − target_t)·‖∇_W L_t‖.
/// The weights take one Adam step (lr `lr`) on it, are kept ≥ 10⁻³ and renormalised to
/// Σ w = T. The step's gradient is Σ_t w_t ∇L_t with the weights used in the backward.
public struct GradNorm: GradientBalancer {
    public let alpha: Float
    public let lr: Float
    /// Parameter-name prefix of W (`all`: every shared parameter).
    public let layer: String
    public var state: BalancerState

    public var method: BalancingMethod { .gradnorm }

    public init(alpha: Float, lr: Float, layer: String, tasks: Int, state: BalancerState) {
        self.alpha = alpha
        self.lr = lr
        self.layer = layer
        self.state = state
        self.state.weights = Array(repeating: 1, count: tasks)
    }

    public func lossWeight(task t: Int, loss: Float) -> Float { state.weights[t] }

    /// One GradNorm update from the weighted norms G_t on W, the weights w_t used, and the
    /// losses; returns the new weights (Σ = T).
    public mutating func update(layerNorms g: [Float], losses: [Float]) -> [Float] {
        let t = g.count
        if state.initialLosses == nil { state.initialLosses = losses }
        let l0 = state.initialLosses!
        let inverseRates = (0..<t).map { losses[$0] / max(l0[$0], 1e-12) }
        let meanRate = inverseRates.reduce(0, +) / Float(t)
        let meanG = g.reduce(0, +) / Float(t)
        var gradient = [Float](repeating: 0, count: t)
        for i in 0..<t {
            let r = inverseRates[i] / max(meanRate, 1e-12)
            let target = meanG * Float(pow(Double(r), Double(alpha)))
            let unweighted = g[i] / max(state.weights[i], 1e-12)
            let d = g[i] - target
            gradient[i] = d > 0 ? unweighted : (d < 0 ? -unweighted : 0)
        }
        var w = state.weights
        state.adamStep(&w, gradient: gradient, lr: lr)
        for i in 0..<t { w[i] = max(w[i], 1e-3) }
        let sum = w.reduce(0, +)
        state.weights = w.map { $0 * Float(t) / sum }
        return state.weights
    }

    public mutating func finish(_ set: TaskGradientSet, layout: TaskParameterLayout) -> GradientCombination {
        let slices = layout.slices(prefix: layer)
        let norms = set.shared.map { row -> Float in
            var s: Double = 0
            for k in slices {
                let sl = layout.shared[k]
                row.withUnsafeBufferPointer { r in
                    for i in sl.offset..<(sl.offset + sl.count) { s += Double(r[i]) * Double(r[i]) }
                }
            }
            return Float(s.squareRoot())
        }
        _ = update(layerNorms: norms, losses: set.losses)
        return .sum(tasks: set.losses.count)
    }
}
