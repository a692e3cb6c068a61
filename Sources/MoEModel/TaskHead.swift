import MoETensor

/// A dataset's head, LayerNorm + Linear on the tokens its task reads:
/// classification `logits = LN(x_cls)·W + b` on the class token, [B, N, D] → [B, C];
/// detection and segmentation `out = LN(x_p)·W + b` on every patch token (the class token
/// is skipped), [B, N, D] → [B, N − 1, O] in row-major grid order, where O is
/// `DatasetSpec.outputChannels` (C + 1, or C + 1 + 4 for boxes).
/// Parameters `heads.<dataset>.{norm,fc}`.
struct TaskHead {
    /// Which tokens of each image the head reads.
    enum Tokens {
        /// Row 0 only.
        case classToken
        /// Rows 1..<N.
        case patchTokens
    }

    let tokens: Tokens
    let norm: LayerNormLayer
    let fc: LinearLayer

    /// The head `spec.task` needs.
    init(_ store: ParameterStore, spec: DatasetSpec, config: ModelConfig, rng: inout SeededGenerator) {
        let name = ParameterName.head(spec.name)
        let isClassification = spec.task == .classification
        tokens = isClassification ? .classToken : .patchTokens
        norm = LayerNormLayer(store, name: "\(name).norm", dim: config.width, epsilon: config.layerNormEpsilon)
        fc = LinearLayer(
            store, name: "\(name).fc", inDim: config.width,
            outDim: spec.outputChannels, rng: &rng)
    }

    final class Cache {
        let features = ScratchBuffer()  // [B·R, D] the tokens read (R rows per image)
        let normed = ScratchBuffer()  // [B·R, D]
        let mean = ScratchBuffer(), rstd = ScratchBuffer()  // [B·R]
        let outputs = ScratchBuffer()  // [B·R, O]
    }

    /// Output values per image (classification) or per patch cell (dense).
    var outputChannels: Int { fc.outDim }

    /// [B, C] for classification, [B, Np, O] for dense heads.
    func outputShape(batch: Int, patches: Int) -> [Int] {
        switch tokens {
        case .classToken: [batch, outputChannels]
        case .patchTokens: [batch, patches, outputChannels]
        }
    }

    /// Matrix FLOPs of the head for one image with `patches` patch tokens.
    func flops(width: Int, patches: Int) -> Double {
        let rows = tokens == .classToken ? 1 : patches
        return 2 * Double(width) * Double(outputChannels) * Double(rows)
    }

    /// Rows read per image (R) and the index of the first.
    private func rows(tokensPerImage n: Int) -> (perImage: Int, first: Int) {
        tokens == .classToken ? (1, 0) : (n - 1, 1)
    }

    /// Runs the head on `tokens[B, N, D]`; the result is in `output(cache)`.
    func forward(
        _ store: ParameterStore, tokens: UnsafePointer<Float>, batch: Int, tokensPerImage: Int,
        cache: Cache
    ) {
        let d = norm.dim
        let (perImage, first) = rows(tokensPerImage: tokensPerImage)
        let rows = batch * perImage
        cache.features.resize(rows * d)
        cache.normed.resize(rows * d)
        cache.mean.resize(rows)
        cache.rstd.resize(rows)
        cache.outputs.resize(rows * fc.outDim)
        for b in 0..<batch {
            (cache.features.pointer + b * perImage * d).update(
                from: tokens + (b * tokensPerImage + first) * d, count: perImage * d)
        }
        norm.forward(
            store, out: cache.normed.pointer, mean: cache.mean.pointer, rstd: cache.rstd.pointer,
            inp: cache.features.readPointer, rows: rows)
        fc.forward(store, out: cache.outputs.pointer, inp: cache.normed.readPointer, rows: rows)
    }

    /// The buffer holding the last forward's output.
    func output(_ cache: Cache) -> ScratchBuffer { cache.outputs }

    /// Accumulates head gradients from `doutput` (laid out as the output) and adds ∂L/∂tokens
    /// into the rows it read of `dtokens[B, N, D]`.
    func backward(
        _ store: ParameterStore, dtokens: UnsafeMutablePointer<Float>,
        doutput: UnsafePointer<Float>, batch: Int, tokensPerImage: Int, cache: Cache,
        scratch: BackwardScratch
    ) {
        let d = norm.dim
        let (perImage, first) = rows(tokensPerImage: tokensPerImage)
        let rows = batch * perImage
        let dnormed = scratch.buffer(.headNorm, count: rows * d)
        fc.backward(store, dinp: dnormed, dout: doutput, inp: cache.normed.readPointer, rows: rows)
        let dfeatures = scratch.buffer(.headFeatures, count: rows * d)
        norm.backward(
            store, dinp: dfeatures, dout: dnormed, inp: cache.features.readPointer,
            mean: cache.mean.readPointer, rstd: cache.rstd.readPointer, rows: rows)
        for b in 0..<batch {
            addInPlace(
                dtokens + (b * tokensPerImage + first) * d, dfeatures + b * perImage * d, count: perImage * d)
        }
    }
}
