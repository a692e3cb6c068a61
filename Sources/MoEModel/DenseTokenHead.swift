import MoETensor

/// Dense head for detection and segmentation: `out = LN(x_p)·W + b` on every patch token
/// (the class token is skipped). tokens [B, N, D] → outputs [B, N − 1, O], patch cells in
/// row-major grid order; O is `DatasetSpec.outputChannels` (C + 1, or C + 1 + 4 for boxes).
struct DenseTokenHead {
    let norm: LayerNormLayer
    let fc: LinearLayer

    init(_ store: ParameterStore, dataset: String, config: ModelConfig, outputs: Int,
         rng: inout SeededGenerator) {
        let name = "heads.\(dataset)"
        norm = LayerNormLayer(
            store, name: "\(name).norm", dim: config.width, epsilon: config.layerNormEpsilon)
        fc = LinearLayer(store, name: "\(name).fc", inDim: config.width, outDim: outputs, rng: &rng)
    }

    final class Cache {
        let features = ScratchBuffer() // [B·Np, D] patch tokens
        let normed = ScratchBuffer()   // [B·Np, D]
        let mean = ScratchBuffer(), rstd = ScratchBuffer() // [B·Np]
        let outputs = ScratchBuffer()  // [B·Np, O]
    }

    /// Reads the patch tokens (rows 1..<N) of each image from `tokens[B, N, D]` and writes
    /// `cache.outputs`.
    func forward(
        _ store: ParameterStore, tokens: UnsafePointer<Float>, batch: Int, tokensPerImage: Int,
        cache: Cache
    ) {
        let (d, np) = (norm.dim, tokensPerImage - 1)
        let rows = batch * np
        cache.features.resize(rows * d)
        cache.normed.resize(rows * d)
        cache.mean.resize(rows)
        cache.rstd.resize(rows)
        cache.outputs.resize(rows * fc.outDim)
        for b in 0..<batch {
            (cache.features.pointer + b * np * d).update(
                from: tokens + (b * tokensPerImage + 1) * d, count: np * d)
        }
        norm.forward(
            store, out: cache.normed.pointer, mean: cache.mean.pointer, rstd: cache.rstd.pointer,
            inp: cache.features.readPointer, rows: rows)
        fc.forward(store, out: cache.outputs.pointer, inp: cache.normed.readPointer, rows: rows)
    }

    /// Accumulates head gradients and adds ∂L/∂x_p into the patch rows of `dtokens`.
    func backward(
        _ store: ParameterStore, dtokens: UnsafeMutablePointer<Float>,
        doutputs: UnsafePointer<Float>, batch: Int, tokensPerImage: Int, cache: Cache,
        scratch: BackwardScratch
    ) {
        let (d, np) = (norm.dim, tokensPerImage - 1)
        let rows = batch * np
        let dnormed = scratch.buffer(.headNorm, count: rows * d)
        fc.backward(store, dinp: dnormed, dout: doutputs, inp: cache.normed.readPointer, rows: rows)
        let dfeatures = scratch.buffer(.headFeatures, count: rows * d)
        norm.backward(
            store, dinp: dfeatures, dout: dnormed, inp: cache.features.readPointer,
            mean: cache.mean.readPointer, rstd: cache.rstd.readPointer, rows: rows)
        for b in 0..<batch {
            addInPlace(
                dtokens + (b * tokensPerImage + 1) * d, dfeatures + b * np * d, count: np * d)
        }
    }
}
