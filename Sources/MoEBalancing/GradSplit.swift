import MoEOptim
import MoETensor

/// GradSplit [GS], on parameter gradients: the output channels of one shared layer (the last
/// dimension of its weights and biases) are split into T contiguous groups; element e of
/// output channel c belongs to group g = ⌊c·T / C⌋ and receives Σ_t m[g][t]·∇L_t, where the
/// relation mask m (rows: groups, columns: tasks) comes from the recipe or `moe relations`
/// (m[g][t] = 0 when joint training with task t hurt task g by more than τ). Every other
/// shared parameter receives the plain sum. Simplification: only the split layer's own
/// gradients are masked; the signal propagated below it is the full sum (the paper keeps
/// separate per-task streams down to the lowest split module).
public struct GradSplit: GradientBalancer {
    public let relations: [[Float]]
    public var state: BalancerState

    public var method: BalancingMethod { .gradsplit }

    public func lossWeight(task t: Int, loss: Float) -> Float { 1 }

    /// The group of output channel `c` among `channels` split into `groups`.
    public static func group(channel c: Int, channels: Int, groups: Int) -> Int {
        min(c * groups / max(channels, 1), groups - 1)
    }

    /// The masked combination of one parameter's per-task gradients (flat, last dimension
    /// `channels`).
    public static func combine(_ rows: [[Float]], channels: Int, mask: [[Float]]) -> [Float] {
        let t = rows.count
        var out = [Float](repeating: 0, count: rows.first?.count ?? 0)
        for e in out.indices {
            let g = group(channel: e % channels, channels: channels, groups: t)
            for s in 0..<t { out[e] += mask[g][s] * rows[s][e] }
        }
        return out
    }

    public mutating func finish(_ set: TaskGradientSet, layout: TaskParameterLayout) -> GradientCombination {
        var c = GradientCombination.sum(tasks: set.shared.count)
        c.channelMask = relations
        return c
    }
}

extension TaskParameterLayout {
    /// Writes GradSplit's combination into the shared gradients: slices under `prefix` get
    /// the channel-group mask, every other slice the plain sum of the rows.
    public func scatterGradSplit(_ rows: [[Float]], mask: [[Float]], prefix: String, into store: ParameterStore) {
        let t = rows.count
        scatterCombination(rows, coefficients: Array(repeating: 1, count: t), into: store)
        for k in slices(prefix: prefix) {
            let s = shared[k]
            let channels = s.lastDimension
            store.parameters[s.parameterIndex].grad.withUnsafeMutablePointer { g in
                for e in 0..<s.count {
                    let group = GradSplit.group(channel: e % channels, channels: channels, groups: t)
                    var v: Float = 0
                    for task in 0..<t { v += mask[group][task] * rows[task][s.offset + e] }
                    g[e] = v
                }
            }
        }
    }
}
