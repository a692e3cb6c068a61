import MoEOptim
import MoETensor

/// PCGrad (Yu et al. 2020), sum convention (LibMTL, nash-mtl, TorchJD): for each task i, in a
/// random order of the other tasks j (drawn from the saved generator), if pc_i·g_j < 0 then
/// pc_i ← pc_i − (pc_i·g_j / ‖g_j‖²)·g_j (projections off the *original* g_j); the step's
/// shared gradient is Σ_i pc_i. Computed on the T×T Gramian: each pc_i is kept as
/// coefficients over the original rows, so the result is Σ_j a_j g_j and no extra buffer is
/// needed. Own (head, router) gradients are left as they are.
public struct PCGrad: GradientBalancer {
    public var state: BalancerState

    public var method: BalancingMethod { .pcgrad }

    public func lossWeight(task t: Int, loss: Float) -> Float { 1 }

    /// a_j such that Σ_i pc_i = Σ_j a_j g_j, from the Gramian and, per task i, the order of
    /// the other tasks it is projected against.
    public static func coefficients(gramian g: [[Double]], orders: [[Int]]) -> [Float] {
        let t = g.count
        var total = [Double](repeating: 0, count: t)
        for i in 0..<t {
            var c = [Double](repeating: 0, count: t)
            c[i] = 1
            for j in orders[i] where j != i {
                var d = 0.0
                for k in 0..<t { d += c[k] * g[k][j] }
                if d < 0 { c[j] -= d / (g[j][j] + 1e-20) }
            }
            for k in 0..<t { total[k] += c[k] }
        }
        return total.map { Float($0) }
    }

    /// Random orders of the other tasks, one per task.
    public static func orders(tasks t: Int, generator: inout SeededGenerator) -> [[Int]] {
        (0..<t).map { i in (0..<t).filter { $0 != i }.shuffled(using: &generator) }
    }

    public mutating func finish(_ set: TaskGradientSet, layout: TaskParameterLayout) -> GradientCombination {
        let t = set.shared.count
        let orders = Self.orders(tasks: t, generator: &state.generator)
        return GradientCombination(
            coefficients: Self.coefficients(gramian: GradientMath.gramian(set.shared), orders: orders),
            ownedScales: Array(repeating: 1, count: t))
    }
}
