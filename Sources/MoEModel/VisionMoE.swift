import MoETensor

/// A ViT whose MLPs are Top-K mixture-of-experts layers with one router and one head per
/// dataset (or dense MLPs for the MTHL.D baseline).
///
///     images [B, C, H, W] → patchify → Linear → [B, Np, D]; prepend class token; + positions
///     → depth × TransformerBlock → head(dataset):
///        classification: LN + Linear on the class token      → logits [B, C]
///        segmentation:   LN + Linear on every patch token     → [B, Np, C + 1]
///        detection:      LN + Linear on every patch token     → [B, Np, (C + 1) + 4]
///
/// Dense outputs list the patch cells in row-major grid order (Np = gh·gw); channel 0 is
/// background, channel c + 1 class c, and detection appends (dx, dy, log w, log h).
///
/// Forward keeps the activations of the last call; `backward` consumes them, accumulating
/// into `store`'s gradients (llm.c style: buffers are reused step after step).
public final class VisionMoE {
    public let store: ParameterStore
    public private(set) var config: ModelConfig

    let patchEmbed: LinearLayer
    let classToken: ParameterID
    let positions: ParameterID
    var blocks: [TransformerBlock]
    var heads: [String: TaskHead]
    /// Block index of each MoE layer, in order.
    let moeBlockIndices: [Int]

    // Activations of the last forward pass.
    let patches = ScratchBuffer()  // [B·Np, C·P·P]
    let patchTokens = ScratchBuffer()  // [B·Np, D]
    let resizedPositions = ScratchBuffer()  // [1 + Np, D] when the grid differs from the base
    var streams: [ScratchBuffer]  // residual stream before each block and after the last
    var blockCaches: [BlockCache]
    let headCache = TaskHead.Cache()
    var last: Pass?
    /// Training passes run the experts expert-parallel through it (DESIGN §11.2); nil: here.
    public var expertParallelism: ExpertParallelism?

    // Backward scratch.
    let scratch = BackwardScratch()
    var residualGradients = (ScratchBuffer(), ScratchBuffer())

    /// The shape bookkeeping of the last forward pass.
    struct Pass {
        let dataset: String
        let batch: Int
        let gridHeight: Int
        let gridWidth: Int
        /// Whether every block kept its activations (needed by `backward`).
        let keepsActivations: Bool
        var patchCount: Int { gridHeight * gridWidth }
        var tokens: Int { patchCount + 1 }
    }

    /// Builds a freshly initialised model; every random draw comes from `seed`.
    public init(config: ModelConfig, seed: UInt64) throws {
        try config.validate()
        self.config = config
        let store = ParameterStore()
        self.store = store
        var rng = SeededGenerator(seed: seed)
        let d = config.width
        patchEmbed = LinearLayer(
            store, name: ParameterName.patchEmbedding, inDim: config.patchDim, outDim: d, rng: &rng)
        classToken = store.addNormal(ParameterName.classToken, shape: [d], decays: false, rng: &rng)
        positions = store.addNormal(
            ParameterName.positionEmbedding, shape: [1 + config.baseGrid * config.baseGrid, d], decays: false,
            rng: &rng)
        blocks = (0..<config.depth).map { TransformerBlock(store, index: $0, config: config, rng: &rng) }
        heads = [:]
        for spec in config.datasets {
            heads[spec.name] = TaskHead(store, spec: spec, config: config, rng: &rng)
        }
        moeBlockIndices = config.moeBlocks
        streams = (0...config.depth).map { _ in ScratchBuffer() }
        blockCaches = (0..<config.depth).map { _ in BlockCache() }
    }

    // MARK: - Forward

    /// Runs backbone and head: images [B, C, H, W] of `dataset` → the head's output, shaped
    /// as `outputShape(dataset:batch:)`.
    /// With `training: false` the blocks share one set of activation buffers (inference
    /// needs no backward), so memory does not grow with depth.
    public func forward(images: Tensor, dataset: String, training: Bool = true) throws -> Tensor {
        try forwardFeatures(images: images, dataset: dataset, training: training)
        return forwardHead()
    }

    /// Runs the backbone; the token features [B, N, D] stay cached for `forwardHead`,
    /// `backward` (after a training pass) and `lastFeatures`.
    public func forwardFeatures(images: Tensor, dataset: String, training: Bool = true) throws {
        let spec = try config.dataset(named: dataset)
        let expected = [images.shape.first ?? 0, config.channels, spec.height, spec.width]
        guard images.rank == 4, images.shape == expected, expected[0] > 0 else {
            throw ModelError.inputShape(dataset: dataset, expected: expected, got: images.shape)
        }
        if !training || (expertParallelism?.groupSize ?? 1) < 2 {
            try requireFullExpertBanks(for: training ? "a training pass without expert parallelism" : "inference")
        }
        let pass = Pass(
            dataset: dataset, batch: images.shape[0], gridHeight: spec.height / config.patchSize,
            gridWidth: spec.width / config.patchSize, keepsActivations: training)
        last = pass
        let (b, np, d, pd) = (pass.batch, pass.patchCount, config.width, config.patchDim)

        patches.resize(b * np * pd)
        patchTokens.resize(b * np * d)
        images.withUnsafePointer { img in
            patchifyForward(
                out: patches.pointer, img: img, batch: b, channels: config.channels,
                height: spec.height, width: spec.width, patch: config.patchSize)
        }
        patchEmbed.forward(store, out: patchTokens.pointer, inp: patches.readPointer, rows: b * np)

        for l in 0...config.depth where training || l < 2 { streams[l].resize(b * pass.tokens * d) }
        let x = streams[0].pointer
        withPositions(pass) { pos in
            store.withValue(classToken) { cls in
                Parallel.forEachChunk(count: b, minimumPerThread: 8) { images in
                    for i in images {
                        let row = x + i * pass.tokens * d
                        for c in 0..<d { row[c] = cls[c] + pos[c] }
                        for p in 0..<np {
                            let dst = row + (1 + p) * d
                            let src = patchTokens.readPointer + (i * np + p) * d
                            let pp = pos + (1 + p) * d
                            for c in 0..<d { dst[c] = src[c] + pp[c] }
                        }
                    }
                }
            }
        }

        var moeIndex = 0
        for (l, block) in blocks.enumerated() {
            var routing: TransformerBlock.Routing? = nil
            if let moe = block.moe {
                guard let router = moe.routers[dataset] else {
                    throw ModelError.unknownDataset(dataset, known: Array(moe.routers.keys).sorted())
                }
                routing = .init(
                    router: router, allowed: spec.expertMask?[moeIndex],
                    experts: config.routerExperts(of: spec), topK: config.topK(of: spec))
                moeIndex += 1
            }
            block.forward(
                store, out: stream(after: l, pass).pointer, inp: stream(after: l - 1, pass).readPointer,
                batch: b, tokens: pass.tokens, routing: routing, training: training,
                cache: blockCaches[training ? l : 0], parallel: expertParallelism)
        }
        try expertParallelism?.throwIfFailed()
    }

    /// The residual-stream buffer holding the output of block `l` (l = -1: the embedding).
    /// Inference alternates between two buffers.
    private func stream(after l: Int, _ pass: Pass) -> ScratchBuffer {
        pass.keepsActivations ? streams[l + 1] : streams[(l + 1) % 2]
    }

    /// The head of the last forward's dataset on its cached features: logits [B, C] for
    /// classification, [B, Np, C + 1] for segmentation, [B, Np, (C + 1) + 4] for detection.
    public func forwardHead() -> Tensor {
        guard let pass = last, let head = heads[pass.dataset] else {
            preconditionFailure("forwardHead needs a preceding forwardFeatures")
        }
        head.forward(
            store, tokens: stream(after: config.depth - 1, pass).readPointer, batch: pass.batch,
            tokensPerImage: pass.tokens, cache: headCache)
        return head.output(headCache).tensor(
            shape: head.outputShape(batch: pass.batch, patches: pass.patchCount))
    }

    /// The shape `forward` returns for `batch` images of `dataset`.
    public func outputShape(dataset: String, batch: Int) throws -> [Int] {
        let spec = try config.dataset(named: dataset)
        guard let head = heads[dataset] else {
            throw ModelError.unknownDataset(dataset, known: heads.keys.sorted())
        }
        let patches = (spec.height / config.patchSize) * (spec.width / config.patchSize)
        return head.outputShape(batch: batch, patches: patches)
    }

    /// Token features [B, N, D] of the last forward pass (the class token is row 0).
    public var lastFeatures: Tensor? {
        guard let pass = last else { return nil }
        return stream(after: config.depth - 1, pass).tensor(shape: [pass.batch, pass.tokens, config.width])
    }

    /// Tokens each expert received in every MoE layer during the last forward pass.
    /// (After an inference pass only the last MoE layer's load is known.)
    public var lastExpertLoad: [[Int]] {
        guard let pass = last else { return [] }
        let layers = blocks.indices.filter { blocks[$0].moe != nil }
        if !pass.keepsActivations { return layers.suffix(1).map { _ in blockCaches[0].moe.expertLoad } }
        return layers.map { blockCaches[$0].moe.expertLoad }
    }

    /// Number of MoE layers (0 for the dense baseline); `routerProbabilities(moeLayer:)` and
    /// `backward`'s `routerProbabilityGradients` index them in block order.
    public var moeLayerCount: Int { moeBlockIndices.count }

    /// The full softmax router probabilities p [T, E] of MoE layer `moeLayer` in the last
    /// training forward pass; T = B·N counts every token (class token first in each image),
    /// and experts the dataset may not use have p = 0.
    public func routerProbabilities(moeLayer: Int) -> Tensor {
        guard let pass = last else {
            preconditionFailure("routerProbabilities needs a preceding forward")
        }
        precondition(
            pass.keepsActivations, "routerProbabilities needs a forward pass with training: true")
        precondition(
            moeBlockIndices.indices.contains(moeLayer),
            "MoE layer \(moeLayer) is outside 0..<\(moeLayerCount)")
        let l = moeBlockIndices[moeLayer]
        let experts = blockCaches[l].moe.experts
        return blockCaches[l].moe.probabilities.tensor(
            shape: [pass.batch * pass.tokens, experts])
    }

    // MARK: - Backward

    /// Back-propagates `outputGradient` (∂L/∂output of the last forward pass, shaped as the
    /// head's output), accumulating into the gradients of every trainable parameter.
    ///
    /// `routerProbabilityGradients`, when given, has one entry per MoE layer: an optional
    /// ∂L/∂p [T, E] that is added to that layer's router-probability gradient (auxiliary
    /// losses on `routerProbabilities(moeLayer:)`, e.g. the mutual-information loss); nil
    /// entries add nothing.
    public func backward(outputGradient: Tensor, routerProbabilityGradients: [Tensor?]? = nil) {
        guard let pass = last, let head = heads[pass.dataset] else {
            preconditionFailure("backward needs a preceding forward")
        }
        precondition(pass.keepsActivations, "backward needs a forward pass with training: true")
        let expected = head.outputShape(batch: pass.batch, patches: pass.patchCount)
        precondition(
            outputGradient.shape == expected,
            "output gradient \(outputGradient.shape) does not match the head's output \(expected)")
        let (b, d) = (pass.batch, config.width)
        let rows = b * pass.tokens
        if let extra = routerProbabilityGradients {
            precondition(
                extra.count == moeLayerCount,
                "routerProbabilityGradients has \(extra.count) entries, the model has \(moeLayerCount) MoE layers")
            for (i, gradient) in extra.enumerated() {
                guard let gradient else { continue }
                let shape = [rows, blockCaches[moeBlockIndices[i]].moe.experts]
                precondition(
                    gradient.shape == shape,
                    "routerProbabilityGradients[\(i)] has shape \(gradient.shape), expected [T, E] = \(shape)")
            }
        }
        var (dOut, dIn) = residualGradients
        dOut.resize(rows * d)
        dOut.zero()
        dIn.resize(rows * d)
        outputGradient.withUnsafePointer { doutput in
            head.backward(
                store, dtokens: dOut.pointer, doutput: doutput, batch: b,
                tokensPerImage: pass.tokens, cache: headCache, scratch: scratch)
        }
        var moeLayer = moeLayerCount
        for l in blocks.indices.reversed() {
            var extra: Tensor? = nil
            if blocks[l].moe != nil {
                moeLayer -= 1
                extra = routerProbabilityGradients?[moeLayer]
            }
            extra.withOptionalPointer { extraPointer in
                blocks[l].backward(
                    store, dinp: dIn.pointer, dout: dOut.readPointer, inp: streams[l].readPointer,
                    batch: b, tokens: pass.tokens, cache: blockCaches[l], scratch: scratch,
                    extraRouterGradient: extraPointer)
            }
            swap(&dOut, &dIn)
        }
        backwardEmbedding(pass, dx: dOut.readPointer)
    }

    /// Class token, positions and patch embedding gradients from ∂L/∂x0 [B, N, D].
    private func backwardEmbedding(_ pass: Pass, dx: UnsafePointer<Float>) {
        let (b, np, d) = (pass.batch, pass.patchCount, config.width)
        let width = pass.tokens * d
        let dpos = scratch.buffer(.positions, count: width)
        let dtokens = scratch.uninitialized(.tokens, count: b * np * d)
        // Each thread sums its columns over the images in order, so the sums do not depend
        // on the threads.
        Parallel.forEachChunk(count: width, minimumPerThread: 2048) { columns in
            for i in 0..<b {
                let row = dx + i * width
                for j in columns { dpos[j] += row[j] }
            }
        }
        Parallel.forEachChunk(count: b, minimumPerThread: 8) { images in
            for i in images { (dtokens + i * np * d).update(from: dx + i * width + d, count: np * d) }
        }
        store.withGradIfTrainable(classToken) { dcls in
            guard let dcls else { return }
            addInPlace(dcls, dpos, count: d)
        }
        accumulatePositionGradient(pass, dpos: dpos)
        patchEmbed.backward(store, dinp: nil, dout: dtokens, inp: patches.readPointer, rows: b * np)
    }

    // MARK: - Position embeddings

    private func gridMatchesBase(_ pass: Pass) -> Bool {
        pass.gridHeight == config.baseGrid && pass.gridWidth == config.baseGrid
    }

    /// Calls `body` with position embeddings [1 + Np, D] for the pass's grid, bilinearly
    /// resampled from the base grid when the sizes differ (timm's `resample_abs_pos_embed`).
    private func withPositions(_ pass: Pass, _ body: (UnsafePointer<Float>) -> Void) {
        if gridMatchesBase(pass) {
            store.withValue(positions, body)
            return
        }
        let (g, d, np) = (config.baseGrid, config.width, pass.patchCount)
        resizedPositions.resize((1 + np) * d)
        let channelsFirst = scratch.buffer(.positionsGrid, count: d * g * g)
        let resized = ScratchBuffer(count: d * np)
        store.withValue(positions) { pos in
            transpose(pos + d, rows: g * g, cols: d, into: channelsFirst)
            bilinearResizeForward(
                out: resized.pointer, inp: channelsFirst, channels: d, inHeight: g, inWidth: g,
                outHeight: pass.gridHeight, outWidth: pass.gridWidth)
            resizedPositions.pointer.update(from: pos, count: d)
        }
        transpose(resized.readPointer, rows: d, cols: np, into: resizedPositions.pointer + d)
        body(resizedPositions.readPointer)
    }

    private func accumulatePositionGradient(_ pass: Pass, dpos: UnsafePointer<Float>) {
        store.withGradIfTrainable(positions) { dp in
            guard let dp else { return }
            if gridMatchesBase(pass) {
                addInPlace(dp, dpos, count: pass.tokens * config.width)
                return
            }
            let (g, d, np) = (config.baseGrid, config.width, pass.patchCount)
            addInPlace(dp, dpos, count: d)
            let channelsFirst = ScratchBuffer(count: d * np)
            transpose(dpos + d, rows: np, cols: d, into: channelsFirst.pointer)
            let dgrid = ScratchBuffer(count: d * g * g)
            dgrid.zero()
            bilinearResizeBackward(
                dinp: dgrid.pointer, dout: channelsFirst.readPointer, channels: d, inHeight: g,
                inWidth: g, outHeight: pass.gridHeight, outWidth: pass.gridWidth)
            let back = ScratchBuffer(count: g * g * d)
            transpose(dgrid.readPointer, rows: d, cols: g * g, into: back.pointer)
            addInPlace(dp + d, back.readPointer, count: g * g * d)
        }
    }

    // MARK: - Introspection

    /// Matrix FLOPs (2 per multiply-add) of one forward pass of `batch` images of `dataset`.
    public func forwardFLOPs(dataset: String, batch: Int) throws -> Double {
        try config.forwardFLOPs(spec: config.dataset(named: dataset), batch: batch)
    }
}

/// out[c, r] = inp[r, c]
func transpose(
    _ inp: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>
) {
    for r in 0..<rows {
        for c in 0..<cols { out[c * rows + r] = inp[r * cols + c] }
    }
}

extension Optional where Wrapped == Tensor {
    /// Calls `body` with a pointer to the tensor's values, or nil when there is none.
    func withOptionalPointer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        switch self {
        case .some(let tensor): tensor.withUnsafePointer { body($0) }
        case .none: body(nil)
        }
    }
}
