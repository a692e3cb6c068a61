import MoETensor

/// Classification head: `logits = LN(x_cls)·W + b` on the class token.
/// x_cls: [B, D] → logits [B, C].
struct ClassificationHead {
    let norm: LayerNormLayer
    let fc: LinearLayer

    init(_ store: ParameterStore, dataset: String, config: ModelConfig, classes: Int,
         rng: inout SeededGenerator) {
        let name = "heads.\(dataset)"
        norm = LayerNormLayer(
            store, name: "\(name).norm", dim: config.width, epsilon: config.layerNormEpsilon)
        fc = LinearLayer(store, name: "\(name).fc", inDim: config.width, outDim: classes, rng: &rng)
    }

    final class Cache {
        let features = ScratchBuffer() // [B, D] class tokens
        let normed = ScratchBuffer()   // [B, D]
        let mean = ScratchBuffer(), rstd = ScratchBuffer()
        let logits = ScratchBuffer()   // [B, C]
    }

    /// Reads the class token of each image from `tokens[B, N, D]` and writes logits.
    func forward(
        _ store: ParameterStore, tokens: UnsafePointer<Float>, batch: Int, tokensPerImage: Int,
        cache: Cache
    ) {
        let d = norm.dim
        cache.features.resize(batch * d)
        cache.normed.resize(batch * d)
        cache.mean.resize(batch)
        cache.rstd.resize(batch)
        cache.logits.resize(batch * fc.outDim)
        for b in 0..<batch {
            (cache.features.pointer + b * d).update(from: tokens + b * tokensPerImage * d, count: d)
        }
        norm.forward(
            store, out: cache.normed.pointer, mean: cache.mean.pointer, rstd: cache.rstd.pointer,
            inp: cache.features.readPointer, rows: batch)
        fc.forward(store, out: cache.logits.pointer, inp: cache.normed.readPointer, rows: batch)
    }

    /// Accumulates head gradients and adds ∂L/∂x_cls into the class rows of `dtokens`.
    func backward(
        _ store: ParameterStore, dtokens: UnsafeMutablePointer<Float>, dlogits: UnsafePointer<Float>,
        batch: Int, tokensPerImage: Int, cache: Cache, scratch: BackwardScratch
    ) {
        let d = norm.dim
        let dnormed = scratch.buffer(.headNorm, count: batch * d)
        fc.backward(store, dinp: dnormed, dout: dlogits, inp: cache.normed.readPointer, rows: batch)
        let dfeatures = scratch.buffer(.headFeatures, count: batch * d)
        norm.backward(
            store, dinp: dfeatures, dout: dnormed, inp: cache.features.readPointer,
            mean: cache.mean.readPointer, rstd: cache.rstd.readPointer, rows: batch)
        for b in 0..<batch {
            addInPlace(dtokens + b * tokensPerImage * d, dfeatures + b * d, count: d)
        }
    }
}
