import MoETensor

/// A ViT whose MLPs are Top-K mixture-of-experts layers with one router and one head per
/// dataset (or dense MLPs for the MTHL.D baseline).
///
///     images [B, C, H, W] → patchify → Linear → [B, Np, D]; prepend class token; + positions
///     → depth × TransformerBlock → head(dataset) on the class token → logits [B, classes]
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
    var heads: [String: ClassificationHead]

    // Activations of the last forward pass.
    let patches = ScratchBuffer()          // [B·Np, C·P·P]
    let patchTokens = ScratchBuffer()      // [B·Np, D]
    let resizedPositions = ScratchBuffer() // [1 + Np, D] when the grid differs from the base
    var streams: [ScratchBuffer]           // residual stream before each block and after the last
    var blockCaches: [BlockCache]
    let headCache = ClassificationHead.Cache()
    var last: Pass?

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
            store, name: "patch_embed", inDim: config.patchDim, outDim: d, rng: &rng)
        classToken = store.addNormal("cls_token", shape: [d], decays: false, rng: &rng)
        positions = store.addNormal(
            "pos_embed", shape: [1 + config.baseGrid * config.baseGrid, d], decays: false,
            rng: &rng)
        blocks = (0..<config.depth).map { TransformerBlock(store, index: $0, config: config, rng: &rng) }
        heads = [:]
        for spec in config.datasets {
            heads[spec.name] = ClassificationHead(
                store, dataset: spec.name, config: config, classes: spec.classes, rng: &rng)
        }
        streams = (0...config.depth).map { _ in ScratchBuffer() }
        blockCaches = (0..<config.depth).map { _ in BlockCache() }
    }

    // MARK: - Forward

    /// Runs backbone and head: images [B, C, H, W] of `dataset` → logits [B, classes].
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
                for i in 0..<b {
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

        var moeIndex = 0
        for (l, block) in blocks.enumerated() {
            var routing: TransformerBlock.Routing? = nil
            if let moe = block.moe {
                guard let router = moe.routers[dataset] else {
                    throw ModelError.unknownDataset(dataset, known: Array(moe.routers.keys).sorted())
                }
                routing = .init(router: router, allowed: spec.expertMask?[moeIndex])
                moeIndex += 1
            }
            block.forward(
                store, out: stream(after: l, pass).pointer, inp: stream(after: l - 1, pass).readPointer,
                batch: b, tokens: pass.tokens, routing: routing, training: training,
                cache: blockCaches[training ? l : 0])
        }
    }

    /// The residual-stream buffer holding the output of block `l` (l = -1: the embedding).
    /// Inference alternates between two buffers.
    private func stream(after l: Int, _ pass: Pass) -> ScratchBuffer {
        pass.keepsActivations ? streams[l + 1] : streams[(l + 1) % 2]
    }

    /// The head of the last forward's dataset on its cached features → logits [B, classes].
    public func forwardHead() -> Tensor {
        guard let pass = last, let head = heads[pass.dataset] else {
            preconditionFailure("forwardHead needs a preceding forwardFeatures")
        }
        head.forward(
            store, tokens: stream(after: config.depth - 1, pass).readPointer, batch: pass.batch,
            tokensPerImage: pass.tokens, cache: headCache)
        return headCache.logits.tensor(shape: [pass.batch, head.fc.outDim])
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

    // MARK: - Backward

    /// Back-propagates `logitsGradient` [B, classes] (∂L/∂logits of the last forward pass),
    /// accumulating into the gradients of every trainable parameter.
    public func backward(logitsGradient: Tensor) {
        guard let pass = last, let head = heads[pass.dataset] else {
            preconditionFailure("backward needs a preceding forward")
        }
        precondition(pass.keepsActivations, "backward needs a forward pass with training: true")
        precondition(
            logitsGradient.shape == [pass.batch, head.fc.outDim],
            "logits gradient \(logitsGradient.shape) does not match [\(pass.batch), \(head.fc.outDim)]")
        let (b, d) = (pass.batch, config.width)
        let rows = b * pass.tokens
        var (dOut, dIn) = residualGradients
        dOut.resize(rows * d)
        dOut.zero()
        dIn.resize(rows * d)
        logitsGradient.withUnsafePointer { dlogits in
            head.backward(
                store, dtokens: dOut.pointer, dlogits: dlogits, batch: b,
                tokensPerImage: pass.tokens, cache: headCache, scratch: scratch)
        }
        for l in blocks.indices.reversed() {
            blocks[l].backward(
                store, dinp: dIn.pointer, dout: dOut.readPointer, inp: streams[l].readPointer,
                batch: b, tokens: pass.tokens, cache: blockCaches[l], scratch: scratch)
            swap(&dOut, &dIn)
        }
        backwardEmbedding(pass, dx: dOut.readPointer)
    }

    /// Class token, positions and patch embedding gradients from ∂L/∂x0 [B, N, D].
    private func backwardEmbedding(_ pass: Pass, dx: UnsafePointer<Float>) {
        let (b, np, d) = (pass.batch, pass.patchCount, config.width)
        let dpos = scratch.buffer(.positions, count: pass.tokens * d)
        let dtokens = scratch.buffer(.tokens, count: b * np * d)
        for i in 0..<b {
            let row = dx + i * pass.tokens * d
            for j in 0..<(pass.tokens * d) { dpos[j] += row[j] }
            (dtokens + i * np * d).update(from: row + d, count: np * d)
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
        let spec = try config.dataset(named: dataset)
        let np = Double((spec.height / config.patchSize) * (spec.width / config.patchSize))
        let n = np + 1
        let d = Double(config.width)
        var perToken = 0.0
        for l in 0..<config.depth {
            perToken += 2 * d * 3 * d + 2 * d * d + 4 * n * d
            if config.isMoEBlock(l) {
                let f = Double(config.expertHidden)
                perToken += 2 * d * Double(config.experts) + Double(config.topK) * 4 * d * f
            } else {
                perToken += 4 * d * Double(config.mlpRatio) * d
            }
        }
        let embed = 2 * Double(config.patchDim) * d * np
        let head = 2 * d * Double(spec.classes)
        return Double(batch) * (perToken * n + embed + head)
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
