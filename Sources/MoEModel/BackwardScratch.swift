import MoETensor

/// Gradient scratch space shared by all layers of one model: each backward step borrows a
/// zeroed buffer by role, so a training step allocates nothing once shapes settle.
final class BackwardScratch {
    enum Role: Int, CaseIterable {
        case residual, residualMid, normOutput, attentionMixed, attentionQKV, attentionScores
        case mlpHidden, expertOutput, expertHidden
        case expertInput, gates, probabilities, routerLogits, headFeatures, headNorm, tokens
        case positions, positionsGrid, pickedGradient, blockOutput, normGradient
    }

    private var buffers: [ScratchBuffer] = Role.allCases.map { _ in ScratchBuffer() }

    /// A zeroed buffer of `count` floats for `role`, valid until the role is borrowed again.
    func buffer(_ role: Role, count: Int) -> UnsafeMutablePointer<Float> {
        let pointer = uninitialized(role, count: count)
        buffers[role.rawValue].zero()
        return pointer
    }

    /// The same without the zeroing, for an output its producer overwrites whole (a copy,
    /// the attention scores): the fill would be a pass over memory for nothing.
    func uninitialized(_ role: Role, count: Int) -> UnsafeMutablePointer<Float> {
        let b = buffers[role.rawValue]
        b.resize(count)
        return b.pointer
    }
}
