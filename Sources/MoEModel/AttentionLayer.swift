import MoETensor

/// Activations one attention layer keeps for its backward pass.
final class AttentionCache {
    let qkv = ScratchBuffer()  // [B, N, 3D]
    let att = ScratchBuffer()  // [B, H, N, N] softmax probabilities (training only)
    let mixed = ScratchBuffer()  // [B, N, D] heads concatenated, input of the projection
}

/// Multi-head self-attention: `qkv = x·Wqkv + b`, per head `softmax(QKᵀ/√hd)·V`, then
/// `y = concat(heads)·Wo + bo`.  x, y: [B, N, D].
struct AttentionLayer {
    let qkv: LinearLayer
    let proj: LinearLayer
    let dim: Int
    let heads: Int

    init(_ store: ParameterStore, name: String, dim: Int, heads: Int, rng: inout SeededGenerator) {
        self.dim = dim
        self.heads = heads
        qkv = LinearLayer(store, name: "\(name).qkv", inDim: dim, outDim: 3 * dim, rng: &rng)
        proj = LinearLayer(store, name: "\(name).proj", inDim: dim, outDim: dim, rng: &rng)
    }

    /// Keeps the softmax probabilities for the backward only when `training`.
    func forward(
        _ store: ParameterStore, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
        batch: Int, tokens: Int, training: Bool, cache: AttentionCache
    ) {
        let rows = batch * tokens
        cache.qkv.resize(rows * 3 * dim)
        if training { cache.att.resize(batch * heads * tokens * tokens) }
        cache.mixed.resize(rows * dim)
        qkv.forward(store, out: cache.qkv.pointer, inp: inp, rows: rows)
        attentionForward(
            out: cache.mixed.pointer, att: training ? cache.att.pointer : nil, qkv: cache.qkv.readPointer,
            batch: batch, tokens: tokens, dim: dim, heads: heads)
        proj.forward(store, out: out, inp: cache.mixed.readPointer, rows: rows)
    }

    /// Accumulates parameter gradients and `dinp += ∂L/∂x`.
    func backward(
        _ store: ParameterStore, dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
        inp: UnsafePointer<Float>, batch: Int, tokens: Int, cache: AttentionCache,
        scratch: BackwardScratch
    ) {
        let rows = batch * tokens
        let dmixed = scratch.buffer(.attentionMixed, count: rows * dim)
        proj.backward(store, dinp: dmixed, dout: dout, inp: cache.mixed.readPointer, rows: rows)
        // Both borrowed without a fill: the heads overwrite ∂L/∂qkv, and only heads on the
        // OpenBLAS path write the scores' scratch (fused heads keep dS in their workspace).
        let dqkv = scratch.uninitialized(.attentionQKV, count: rows * 3 * dim)
        let datt = scratch.uninitialized(.attentionScores, count: batch * heads * tokens * tokens)
        attentionBackward(
            dqkv: dqkv, datt: datt, dout: dmixed, qkv: cache.qkv.readPointer,
            att: cache.att.readPointer, batch: batch, tokens: tokens, dim: dim, heads: heads, accumulate: false)
        qkv.backward(store, dinp: dinp, dout: dqkv, inp: inp, rows: rows)
    }
}
