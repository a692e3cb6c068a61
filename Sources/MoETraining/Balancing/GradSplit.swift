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
