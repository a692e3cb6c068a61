import Foundation

/// The exact (batch-joint) mutual-information loss of Mod-Squad [MS], for a batch that
/// holds every task (multi-label data: every image labelled for all T tasks, the backbone
/// run once per task).
///
/// Input `q[T][E]`: row t is the mean over task t's tokens of its router's full softmax
/// vectors. With the uniform prior `P(t) = 1/T` (held fixed, not recomputed from q):
///
///     P(t, e) = q[t, e] / T,      P(e) = Σ_t P(t, e)
///     L       = −Σ_{t,e} P(t,e) · log(P(t,e) / (P(t)·P(e)))  = −MI(T; E)     (0·log 0 = 0)
///     ∂L/∂q[t, e] = −(1/T) · log(P(t,e) / (P(t)·P(e))) = −(1/T) · log(T·P(t,e) / P(e))
///
/// (Gradient flows through `P(e)` too, as in Mod-Squad; its contribution `Σ_t' P(t',e)/P(e)`
/// cancels the `+1` from `P log P`.) Unlike Mod-Squad's code there is no `+1e-4` inside the
/// logarithms, so the gradient is the exact derivative of the loss; a zero `q[t, e]` (where
/// the derivative is infinite) has its logarithm's argument clamped to
/// `Double.leastNormalMagnitude`, keeping the gradient finite. All arithmetic is in Double.
public enum ExactMutualInformation {
    /// `MI(T; E)` of `P(t,e) = q[t,e]/T` with `P(t) = 1/T`, in nats (= −loss).
    public static func mutualInformation(q: [[Double]]) -> Double {
        let (T, E) = shape(q)
        let marginal = columnSums(q, E).map { $0 / Double(T) }
        var sum = 0.0
        for t in 0..<T {
            for e in 0..<E {
                let p = q[t][e] / Double(T)
                if p > 0 { sum += p * Foundation.log(Double(T) * p / marginal[e]) }
            }
        }
        return sum
    }

    /// Loss `L = −MI` and `∂L/∂q[T][E]`, in Double.
    public static func lossAndGradient(q: [[Double]]) -> (loss: Double, gradient: [[Double]]) {
        let (T, E) = shape(q)
        let marginal = columnSums(q, E).map { $0 / Double(T) }
        let tiny = Double.leastNormalMagnitude
        let gradient = (0..<T).map { t in
            (0..<E).map { e -> Double in
                let p = q[t][e] / Double(T)
                return -Foundation.log(max(Double(T) * p, tiny) / max(marginal[e], tiny))
                    / Double(T)
            }
        }
        return (-mutualInformation(q: q), gradient)
    }

    /// Float convenience: `q` from the model, computed in Double, returned as Float.
    public static func lossAndGradient(q: [[Float]]) -> (loss: Float, gradient: [[Float]]) {
        let (loss, gradient) = lossAndGradient(q: q.map { $0.map(Double.init) })
        return (Float(loss), gradient.map { $0.map { Float($0) } })
    }

    /// `L = −MI(T; E)` (Float input).
    public static func loss(q: [[Float]]) -> Float {
        Float(-mutualInformation(q: q.map { $0.map(Double.init) }))
    }

    /// `∂L/∂q[T][E]` (Float input).
    public static func gradient(q: [[Float]]) -> [[Float]] {
        lossAndGradient(q: q).gradient
    }

    private static func shape(_ q: [[Double]]) -> (Int, Int) {
        precondition(!q.isEmpty && !q[0].isEmpty, "q must be T × E with T, E ≥ 1")
        let E = q[0].count
        precondition(q.allSatisfy { $0.count == E }, "every row of q must have \(E) experts")
        precondition(
            q.allSatisfy { $0.allSatisfy { $0.isFinite && $0 >= 0 } },
            "q must be finite and non-negative")
        return (q.count, E)
    }

    private static func columnSums(_ q: [[Double]], _ E: Int) -> [Double] {
        var sums = [Double](repeating: 0, count: E)
        for row in q { for e in 0..<E { sums[e] += row[e] } }
        return sums
    }
}
