import MoETensor

/// The MLP half of a block: dense, or a Top-K mixture of experts.
enum MLP {
    case dense(DenseMLPLayer)
    case moe(MoELayer)
}

/// Activations one block keeps for backward. The block's input lives in the model's
/// residual-stream buffer and is passed in.
final class BlockCache {
    let norm1 = ScratchBuffer(), mean1 = ScratchBuffer(), rstd1 = ScratchBuffer()
    let attention = AttentionCache()
    let middle = ScratchBuffer()  // x + Attn(LN1(x))
    let norm2 = ScratchBuffer(), mean2 = ScratchBuffer(), rstd2 = ScratchBuffer()
    let dense = DenseMLPLayer.Cache()
    let moe = MoELayer.Cache()
}

/// A pre-norm transformer block: `m = x + Attn(LN1(x))`, `y = m + MLP(LN2(m))`.
/// x, y: [B, N, D].
struct TransformerBlock {
    let norm1: LayerNormLayer
    let attention: AttentionLayer
    let norm2: LayerNormLayer
    var mlp: MLP

    init(_ store: ParameterStore, index: Int, config: ModelConfig, rng: inout SeededGenerator) {
        let name = ParameterName.block(index)
        let d = config.width
        norm1 = LayerNormLayer(store, name: "\(name).norm1", dim: d, epsilon: config.layerNormEpsilon)
        attention = AttentionLayer(store, name: "\(name).attn", dim: d, heads: config.heads, rng: &rng)
        norm2 = LayerNormLayer(store, name: "\(name).norm2", dim: d, epsilon: config.layerNormEpsilon)
        if config.isMoEBlock(index) {
            mlp = .moe(MoELayer(store, name: ParameterName.moe(block: index), config: config, rng: &rng))
        } else {
            mlp = .dense(
                DenseMLPLayer(
                    store, name: ParameterName.denseMLP(block: index), dim: d, hidden: config.mlpRatio * d, rng: &rng))
        }
    }

    var moe: MoELayer? {
        if case .moe(let layer) = mlp { return layer }
        return nil
    }

    /// Routing for one dataset in this block: its router, the experts it covers, its
    /// availability mask and its K.
    struct Routing {
        let router: ParameterID
        let allowed: [Bool]?
        let experts: Int
        let topK: Int
    }

    func forward(
        _ store: ParameterStore, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
        batch: Int, tokens: Int, routing: Routing?, training: Bool, cache: BlockCache,
        parallel: ExpertParallelism? = nil
    ) {
        let rows = batch * tokens
        let d = norm1.dim
        for buffer in [cache.norm1, cache.middle, cache.norm2] { buffer.resize(rows * d) }
        for buffer in [cache.mean1, cache.rstd1, cache.mean2, cache.rstd2] { buffer.resize(rows) }

        norm1.forward(
            store, out: cache.norm1.pointer, mean: cache.mean1.pointer, rstd: cache.rstd1.pointer,
            inp: inp, rows: rows)
        attention.forward(
            store, out: cache.middle.pointer, inp: cache.norm1.readPointer, batch: batch,
            tokens: tokens, training: training, cache: cache.attention)
        addInPlace(cache.middle.pointer, inp, count: rows * d)

        norm2.forward(
            store, out: cache.norm2.pointer, mean: cache.mean2.pointer, rstd: cache.rstd2.pointer,
            inp: cache.middle.readPointer, rows: rows)
        switch mlp {
        case .dense(let layer):
            layer.forward(
                store, out: out, inp: cache.norm2.readPointer, rows: rows, training: training,
                cache: cache.dense)
        case .moe(let layer):
            guard let routing else { preconditionFailure("an MoE block needs routing") }
            layer.forward(
                store, out: out, inp: cache.norm2.readPointer, rows: rows, router: routing.router,
                allowed: routing.allowed, routerExperts: routing.experts, topK: routing.topK,
                training: training, cache: cache.moe, parallel: parallel)
        }
        addInPlace(out, cache.middle.readPointer, count: rows * d)
    }

    /// Given `dout = ∂L/∂y`, accumulates parameter gradients and writes `dinp = ∂L/∂x`.
    func backward(
        _ store: ParameterStore, dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
        inp: UnsafePointer<Float>, batch: Int, tokens: Int, cache: BlockCache,
        scratch: BackwardScratch, extraRouterGradient: UnsafePointer<Float>? = nil
    ) {
        let rows = batch * tokens
        let d = norm1.dim
        // ∂L/∂m = dout + LN2ᵀ(MLPᵀ(dout)); the residual copy goes straight into dinp's buffer.
        let dmiddle = scratch.uninitialized(.residualMid, count: rows * d)
        copyInPlace(dmiddle, dout, count: rows * d)
        let dnorm = scratch.buffer(.normGradient, count: rows * d)
        switch mlp {
        case .dense(let layer):
            layer.backward(
                store, dinp: dnorm, dout: dout, inp: cache.norm2.readPointer, rows: rows,
                cache: cache.dense, scratch: scratch)
        case .moe(let layer):
            layer.backward(
                store, dinp: dnorm, dout: dout, inp: cache.norm2.readPointer, rows: rows,
                cache: cache.moe, scratch: scratch, extraProbabilityGradient: extraRouterGradient)
        }
        norm2.backward(
            store, dinp: dmiddle, dout: dnorm, inp: cache.middle.readPointer,
            mean: cache.mean2.readPointer, rstd: cache.rstd2.readPointer, rows: rows)

        copyInPlace(dinp, dmiddle, count: rows * d)
        let dnorm1 = scratch.buffer(.normGradient, count: rows * d)
        attention.backward(
            store, dinp: dnorm1, dout: dmiddle, inp: cache.norm1.readPointer, batch: batch,
            tokens: tokens, cache: cache.attention, scratch: scratch)
        norm1.backward(
            store, dinp: dinp, dout: dnorm1, inp: inp, mean: cache.mean1.readPointer,
            rstd: cache.rstd1.readPointer, rows: rows)
    }
}

/// a += b over `count` floats, split over the threads (residual streams are B·N·D floats:
/// serial passes over them were a tenth of a two-thread step).
func addInPlace(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
    Parallel.forEachChunk(count: count, minimumPerThread: 1 << 15) { range in
        for i in range { a[i] += b[i] }
    }
}

/// a = b over `count` floats, split over the threads.
func copyInPlace(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
    Parallel.forEachChunk(count: count, minimumPerThread: 1 << 15) { range in
        (a + range.lowerBound).update(from: b + range.lowerBound, count: range.count)
    }
}
