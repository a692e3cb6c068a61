import MoEOptim

/// Task-level backbone-oriented gradient clip [TBGC]: for each task t, clip its whole gradient
/// g_t = (b_t, h_t) (backbone, own head and routers) to norm S: c_t = min(1, S/‖g_t‖); then
/// (TBGC) rescale the backbone part to norm exactly S, or (TBGC*, `rescale == false`) keep
/// c_t·b_t. Heads keep c_t·h_t. The task gradients are then summed. Never combine with a
/// global clip (the recipe check rejects `optimizer.clip > 0`).
public struct TBGC: GradientBalancer {
    public let norm: Float
    public let rescale: Bool
    public var state: BalancerState

    public var method: BalancingMethod { rescale ? .tbgc : .tbgcNoRescale }

    public func lossWeight(task t: Int, loss: Float) -> Float { 1 }

    /// Coefficients on each task's backbone gradient and factors on its own gradient, from
    /// the backbone norms ‖b_t‖ and own-parameter norms ‖h_t‖.
    public static func factors(
        backboneNorms: [Float], ownedNorms: [Float], norm s: Float, rescale: Bool
    ) -> (backbone: [Float], owned: [Float]) {
        var backbone: [Float] = []
        var owned: [Float] = []
        for t in backboneNorms.indices {
            let b = backboneNorms[t]
            let h = ownedNorms[t]
            let whole = (b * b + h * h).squareRoot()
            let clip = whole > s ? s / whole : 1
            owned.append(clip)
            backbone.append(rescale ? (b > 0 ? s / b : 0) : clip)
        }
        return (backbone, owned)
    }

    public mutating func finish(_ set: TaskGradientSet, layout: TaskParameterLayout) -> GradientCombination {
        let norms = set.shared.map { GradientMath.norm($0) }
        let f = Self.factors(backboneNorms: norms, ownedNorms: set.ownedNorms, norm: norm, rescale: rescale)
        return GradientCombination(coefficients: f.backbone, ownedScales: f.owned)
    }
}
