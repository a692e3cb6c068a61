import Foundation
import MoEOptim

/// Uncertainty weighting [EX]. Learned (Kendall et al.): with s_t = log σ_t², the step loss is
/// Σ_t ½·exp(−s_t)·L_t + ½·s_t, so w_t = ½·exp(−s_t) and ∂/∂s_t = ½ − ½·exp(−s_t)·L_t; s takes
/// one Adam step (lr `lr`) after every step. Analytic (UW-O): the optimum σ_t² = L_t gives
/// w_t = 1 / L_t with L_t held constant, which makes the update invariant to the scale of
/// every task's loss.
public struct UncertaintyWeighting: GradientBalancer {
    public let learned: Bool
    public let lr: Float
    public var state: BalancerState

    public var method: BalancingMethod { learned ? .uncertainty : .uncertaintyAnalytic }

    public init(learned: Bool, lr: Float, initialLogVariance: Float, tasks: Int, state: BalancerState) {
        self.learned = learned
        self.lr = lr
        self.state = state
        if learned { self.state.logVariances = Array(repeating: initialLogVariance, count: tasks) }
    }

    public func lossWeight(task t: Int, loss: Float) -> Float {
        learned ? 0.5 * exp(-state.logVariances[t]) : 1 / max(loss, 1e-8)
    }

    public mutating func finish(_ set: TaskGradientSet, layout: TaskParameterLayout) -> GradientCombination {
        if learned {
            var s = state.logVariances
            let gradient = s.indices.map { 0.5 - 0.5 * exp(-s[$0]) * set.losses[$0] }
            state.adamStep(&s, gradient: gradient, lr: lr)
            state.logVariances = s
        }
        return .sum(tasks: set.losses.count)
    }
}
