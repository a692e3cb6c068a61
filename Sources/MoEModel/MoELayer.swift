import MoETensor

/// A Top-K mixture-of-experts MLP with one router per dataset.
///
/// Experts are stacked: `W1[E, D, F]`, `b1[E, F]`, `W2[E, F, D]`, `b2[E, D]`. The router of
/// dataset t is `Wr[D, E_t]` (no bias, zero-initialised: its probabilities start uniform, so
/// the lower-index tie rule sends every token to experts 0..K−1 until the router learns); it
/// covers the first E_t ≤ E experts (E_t < E after expansion: old routers never see new experts).
/// Each dataset has its own K_t ≤ E_t (Top-K reduction).
///
///     p = softmax(x·Wr)            over the experts the dataset may use (others -inf → 0)
///     picked = top-K of p          (ties → lower index)
///     g = p[picked]                (or p[picked] / Σ p[picked] with `renormalize`)
///     y = Σ_k g_k · (GELU(x·W1[e_k] + b1[e_k])·W2[e_k] + b2[e_k])
///
/// Dispatch groups the T·K (token, expert) assignments by expert (a counting sort), runs one
/// GEMM per expert on the contiguous group, and scatter-adds the gated outputs back.
/// Shapes: x, y [T, D]; T = B·N tokens.
struct MoELayer {
    let w1: ParameterID
    let b1: ParameterID
    let w2: ParameterID
    let b2: ParameterID
    var routers: [String: ParameterID]
    let dim: Int
    let hidden: Int
    let experts: Int
    let renormalize: Bool

    init(
        _ store: ParameterStore, name: String, config: ModelConfig, rng: inout SeededGenerator
    ) {
        dim = config.width
        hidden = config.expertHidden
        experts = config.experts
        renormalize = config.renormalize
        w1 = store.addNormal("\(name).experts.w1", shape: [experts, dim, hidden], rng: &rng)
        b1 = store.add("\(name).experts.b1", Tensor(shape: [experts, hidden]), decays: false)
        w2 = store.addNormal("\(name).experts.w2", shape: [experts, hidden, dim], rng: &rng)
        b2 = store.add("\(name).experts.b2", Tensor(shape: [experts, dim]), decays: false)
        routers = [:]
        for spec in config.datasets {
            addRouter(store, name: name, dataset: spec.name, experts: config.routerExperts(of: spec))
        }
    }

    /// Adds a zero-initialised router `[D, experts]` for `dataset`.
    mutating func addRouter(_ store: ParameterStore, name: String, dataset: String, experts: Int) {
        routers[dataset] = store.add(
            ParameterName.router(moeLayer: name, dataset: dataset), Tensor(shape: [dim, experts]))
    }

    final class Cache {
        let logits = ScratchBuffer()  // [T, E]
        let probabilities = ScratchBuffer()  // [T, E]
        let picked = IndexBuffer()  // [T, K] expert ids
        let pickedProbabilities = ScratchBuffer()  // [T, K]
        let gates = ScratchBuffer()  // [T, K]
        let tokenOfAssignment = IndexBuffer()  // [T·K] sorted by expert
        let slotOfAssignment = IndexBuffer()  // [T·K] index t·K + k into gates
        let positionsOfToken = IndexBuffer()  // [T, K] each token's positions, ascending
        let sortedGates = ScratchBuffer()  // [T·K]
        let expertInput = ScratchBuffer()  // [T·K, D]
        let expertActivation = ScratchBuffer()  // [T·K, F] (the pre-activation until GELU)
        let expertActivationDerivative = ScratchBuffer()  // [T·K, F] GELU' (training only)
        let expertOutput = ScratchBuffer()  // [T·K, D]
        let workerRows = WorkerRows()  // the experts' input rows of a block, per worker thread
        var expertOffsets: [Int] = []  // [E + 1]
        /// The group's rows run here, when the last training pass was expert-parallel.
        let remote = RemoteExpertCache()
        var router: ParameterID? = nil
        /// Experts the last pass's router covers (E_t) and experts picked per token (K_t).
        var experts = 0
        var topK = 0
        /// Each token's K positions in the grouped rows, for the dispatch kernels.
        func rowSources(rows: Int) -> RowSources {
            RowSources(sources: positionsOfToken.readPointer, rows: rows, perRow: topK)
        }
        /// How many tokens each expert received in the last forward pass.
        var expertLoad: [Int] { (0..<(expertOffsets.count - 1)).map { expertOffsets[$0 + 1] - expertOffsets[$0] } }
    }

    /// y[T, D] = MoE(x[T, D]) for one dataset: its router `[D, routerExperts]` covers the
    /// first `routerExperts` experts, `allowed[routerExperts]` masks unavailable ones, and
    /// each token picks `topK` of them.
    func forward(
        _ store: ParameterStore, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
        rows: Int, router: ParameterID, allowed: [Bool]?, routerExperts: Int, topK: Int,
        training: Bool, cache: Cache, parallel: ExpertParallelism? = nil
    ) {
        precondition(
            routerExperts <= experts && topK <= routerExperts,
            "router covers \(routerExperts) of \(experts) experts with top-\(topK)")
        cache.router = router
        cache.experts = routerExperts
        cache.topK = topK
        Profiler.measure(.routing, "forward: top-K, gates, grouping") {
            route(store, inp: inp, rows: rows, router: router, allowed: allowed, cache: cache)
            groupByExpert(cache, rows: rows)
        }
        cache.remote.parallel = nil
        runExperts(
            store, out: out, inp: inp, rows: rows, training: training, cache: cache,
            parallel: training && (parallel?.groupSize ?? 1) > 1 ? parallel : nil)
    }

    /// Route: logits = x·Wr → masked softmax p → top-K → gates g.
    private func route(
        _ store: ParameterStore, inp: UnsafePointer<Float>, rows: Int, router: ParameterID,
        allowed: [Bool]?, cache: Cache
    ) {
        let (e, k, assignments) = (cache.experts, cache.topK, rows * cache.topK)
        cache.logits.resize(rows * e)
        cache.probabilities.resize(rows * e)
        cache.picked.resize(assignments)
        cache.pickedProbabilities.resize(assignments)
        cache.gates.resize(assignments)
        store.withValue(router) { wr in
            linearForward(
                out: cache.logits.pointer, inp: inp, weight: wr, bias: nil, rows: rows,
                inDim: dim, outDim: e)
        }
        if let allowed {
            let logits = cache.logits.pointer
            for t in 0..<rows {
                for j in 0..<e where !allowed[j] { logits[t * e + j] = -.infinity }
            }
        }
        softmaxForward(
            out: cache.probabilities.pointer, inp: cache.logits.readPointer, rows: rows, cols: e)
        allowed.withOptionalPointer { mask in
            topKForward(
                indices: cache.picked.pointer, values: cache.pickedProbabilities.pointer,
                inp: cache.probabilities.readPointer, allowed: mask, rows: rows, cols: e, k: k)
        }
        computeGates(cache, rows: rows, k: k)
    }

    /// Groups the T·K assignments by expert (a counting sort that keeps token order within
    /// an expert): token, gate slot and gate of each position, and each expert's offsets.
    private func groupByExpert(_ cache: Cache, rows: Int) {
        let (e, k, assignments) = (cache.experts, cache.topK, rows * cache.topK)
        cache.tokenOfAssignment.resize(assignments)
        cache.slotOfAssignment.resize(assignments)
        cache.sortedGates.resize(assignments)
        cache.positionsOfToken.resize(assignments)
        var offsets = [Int](repeating: 0, count: e + 1)
        let picked = cache.picked.pointer
        let (tokenOf, slotOf) = (cache.tokenOfAssignment.pointer, cache.slotOfAssignment.pointer)
        let (sortedGates, gates) = (cache.sortedGates.pointer, cache.gates.readPointer)
        let positionsOf = cache.positionsOfToken.pointer
        // Through buffer pointers: array subscripts checked uniqueness and bounds per
        // assignment (0.3 % of a bench-tiny step, with the other thread idle).
        offsets.withUnsafeMutableBufferPointer { offsets in
            for a in 0..<assignments { offsets[Int(picked[a]) + 1] += 1 }
            for j in 0..<e { offsets[j + 1] += offsets[j] }
            withUnsafeTemporaryAllocation(of: Int.self, capacity: e) { cursor in
                _ = cursor.initialize(from: offsets[0..<e])
                // Token by token: a / k per assignment was an integer division each.
                for token in 0..<rows {
                    for a in token * k..<(token + 1) * k {
                        let expert = Int(picked[a])
                        let position = cursor[expert]
                        cursor[expert] = position + 1
                        tokenOf[position] = Int32(token)
                        slotOf[position] = Int32(a)
                        sortedGates[position] = gates[a]
                    }
                }
            }
        }
        // Each token's positions in ascending order: appended while the positions ascend (an
        // insertion per assignment mispredicted its branches).
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: rows) { filled in
            filled.initialize(repeating: 0)
            for position in 0..<assignments {
                let token = Int(tokenOf[position])
                positionsOf[token * k + Int(filled[token])] = Int32(position)
                filled[token] += 1
            }
        }
        cache.expertOffsets = offsets
    }

    /// Experts: gather, one GEMM pair per expert on its contiguous group, scatter-add
    /// weighted by the gates into `out`.
    private func runExperts(
        _ store: ParameterStore, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
        rows: Int, training: Bool, cache: Cache, parallel: ExpertParallelism?
    ) {
        let (assignments, offsets) = (rows * cache.topK, cache.expertOffsets)
        cache.expertInput.resize(assignments * dim)
        cache.expertActivation.resize(assignments * hidden)
        cache.expertOutput.resize(assignments * dim)
        if let parallel {
            gatherRowsForward(
                out: cache.expertInput.pointer, src: inp, rowIndices: cache.tokenOfAssignment.readPointer,
                count: assignments, dim: dim)
            runExpertsExchanged(store, parallel: parallel, assignments: assignments, training: training, cache: cache)
        } else {
            runLocalExperts(
                store, inp: inp, assignments: assignments, offsets: offsets, training: training, cache: cache)
        }
        // Every token has K rows, so `out` is overwritten (no pass zeroing it first).
        scatterAddRowsForward(
            dst: out, src: cache.expertOutput.readPointer,
            rowIndices: cache.tokenOfAssignment.readPointer, scale: cache.sortedGates.readPointer,
            count: assignments, dim: dim, sources: cache.rowSources(rows: rows), accumulating: false)
    }

    /// Every expert with rows runs here: its MLP on its group, blocks of rows on the worker
    /// threads, each block's tokens gathered from `inp` just before its first GEMM.
    private func runLocalExperts(
        _ store: ParameterStore, inp: UnsafePointer<Float>, assignments: Int, offsets: [Int], training: Bool,
        cache: Cache
    ) {
        if training { cache.expertActivationDerivative.resize(assignments * hidden) }
        let gather = expertGather(inp: inp, training: training, cache: cache)
        store.withValues(w1, b1, w2, b2) { w1, b1, w2, b2 in
            GroupedLinear.forwardMLP(
                out: cache.expertOutput.pointer, activation: cache.expertActivation.pointer,
                derivative: training ? cache.expertActivationDerivative.pointer : nil,
                inp: gather.grouped, w1: w1, b1: b1, w2: w2, b2: b2, dim: dim, hiddenDim: hidden, offsets: offsets,
                gather: gather)
        }
    }

    /// The experts' input rows gathered from the layer's tokens `inp` block by block
    /// (`ExpertGather`): kept for the backward when `training`, else in the workers' rows.
    private func expertGather(inp: UnsafePointer<Float>, training: Bool, cache: Cache) -> ExpertGather {
        if !training { cache.workerRows.prepare(workers: Parallel.threads, dim: dim) }
        let tokenOf = cache.tokenOfAssignment.readPointer
        return ExpertGather(grouped: cache.expertInput.pointer, workerRows: training ? nil : cache.workerRows) {
            rows, into in
            gatherRowsForward(
                out: into, src: inp, rowIndices: tokenOf + rows.lowerBound, count: rows.count, dim: self.dim)
        }
    }

    /// g = picked probabilities, or their renormalisation over the K picked.
    private func computeGates(_ cache: Cache, rows: Int, k: Int) {
        let (v, g) = (cache.pickedProbabilities.pointer, cache.gates.pointer)
        for t in 0..<rows {
            var sum: Float = 0
            for s in 0..<k { sum += v[t * k + s] }
            for s in 0..<k { g[t * k + s] = renormalize ? v[t * k + s] / sum : v[t * k + s] }
        }
    }

    /// Accumulates expert and router gradients and `dinp += ∂L/∂x`.
    /// `extraProbabilityGradient[T, E]`, when given, is added to ∂L/∂p (auxiliary losses).
    func backward(
        _ store: ParameterStore, dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
        inp: UnsafePointer<Float>, rows: Int, cache: Cache, scratch: BackwardScratch,
        extraProbabilityGradient: UnsafePointer<Float>? = nil
    ) {
        let assignments = rows * cache.topK
        let dOutputs = scratch.uninitialized(.expertOutput, count: assignments * dim)
        let dSortedGates = scratch.uninitialized(.gates, count: assignments)
        let (expertOutput, tokenOf, gates) = (
            cache.expertOutput.readPointer, cache.tokenOfAssignment.readPointer, cache.sortedGates.readPointer
        )
        /// ∂L/∂(expert outputs) and ∂L/∂(gates) of the grouped rows `r`.
        func outputGradients(_ r: Range<Int>) {
            let lo = r.lowerBound
            scatterAddRowsBackward(
                dsrc: dOutputs + lo * dim, dscale: dSortedGates + lo, ddst: dout, src: expertOutput + lo * dim,
                rowIndices: tokenOf + lo, scale: gates + lo, count: r.count, dim: dim, accumulating: false)
        }
        let dInputs = expertsBackward(
            store, dOutputs: dOutputs, rows: rows, cache: cache, scratch: scratch, outputGradients: outputGradients)
        gatherRowsBackward(
            dsrc: dinp, dout: dInputs, rowIndices: cache.tokenOfAssignment.readPointer,
            count: assignments, dim: dim, sources: cache.rowSources(rows: rows))
        Profiler.measure(.routing, "backward: gates → p") {
            routerBackward(
                store, dinp: dinp, dSortedGates: dSortedGates, inp: inp, rows: rows, cache: cache,
                scratch: scratch, extraProbabilityGradient: extraProbabilityGradient)
        }
    }

    /// The experts' GEMM pairs backward, after `outputGradients` has written ∂L/∂(expert
    /// outputs) into `dOutputs` (block by block, on the local path): accumulates the trainable
    /// experts' weight gradients; returns ∂L/∂(gathered expert inputs) [T·K, D].
    private func expertsBackward(
        _ store: ParameterStore, dOutputs: UnsafeMutablePointer<Float>, rows: Int, cache: Cache,
        scratch: BackwardScratch, outputGradients: @escaping (Range<Int>) -> Void
    ) -> UnsafeMutablePointer<Float> {
        let (assignments, offsets) = (rows * cache.topK, cache.expertOffsets)
        if cache.remote.parallel != nil {
            outputGradients(0..<assignments)
            let dInputs = scratch.buffer(.expertInput, count: assignments * dim)
            expertsBackwardExchanged(store, dOutputs: dOutputs, dInputs: dInputs, cache: cache)
            return dInputs
        }
        // backwardMLP overwrites both.
        let dInputs = scratch.uninitialized(.expertInput, count: assignments * dim)
        let trainable = trainableExperts(store)
        let dHidden = scratch.uninitialized(.expertHidden, count: assignments * hidden)
        store.withValues(w1, b1, w2, b2) { w1, _, w2, _ in
            store.withGradsIfTrainable(self.w1, b1, self.w2, b2) { dw1, db1, dw2, db2 in
                GroupedLinear.backwardMLP(
                    dinp: dInputs, dHidden: dHidden, dw1: dw1, db1: db1, dw2: dw2,
                    db2: db2, dout: dOutputs, inp: cache.expertInput.readPointer,
                    activation: cache.expertActivation.readPointer,
                    derivative: cache.expertActivationDerivative.readPointer, w1: w1, w2: w2, dim: dim,
                    hiddenDim: hidden, offsets: offsets, trainable: trainable, outputGradients: outputGradients)
            }
        }
        return dInputs
    }

    /// ∂L/∂g → ∂L/∂p[picked] → ∂L/∂p (+ `extraProbabilityGradient`) → softmax → logits →
    /// Wr and `dinp += ∂L/∂x`.
    private func routerBackward(
        _ store: ParameterStore, dinp: UnsafeMutablePointer<Float>,
        dSortedGates: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, rows: Int,
        cache: Cache, scratch: BackwardScratch, extraProbabilityGradient: UnsafePointer<Float>?
    ) {
        let (e, k, assignments) = (cache.experts, cache.topK, rows * cache.topK)
        let dPicked = scratch.buffer(.pickedGradient, count: assignments)
        let slotOf = cache.slotOfAssignment.readPointer
        for position in 0..<assignments { dPicked[Int(slotOf[position])] = dSortedGates[position] }
        if renormalize {
            let (g, v) = (cache.gates.pointer, cache.pickedProbabilities.pointer)
            for t in 0..<rows {
                var sum: Float = 0
                var dot: Float = 0
                for s in 0..<k {
                    sum += v[t * k + s]
                    dot += dPicked[t * k + s] * g[t * k + s]
                }
                for s in 0..<k { dPicked[t * k + s] = (dPicked[t * k + s] - dot) / sum }
            }
        }
        let dProbabilities = scratch.buffer(.probabilities, count: rows * e)
        topKBackward(
            dinp: dProbabilities, dvalues: dPicked, indices: cache.picked.readPointer, rows: rows,
            cols: e, k: k)
        if let extra = extraProbabilityGradient {
            for i in 0..<(rows * e) { dProbabilities[i] += extra[i] }
        }
        let dLogits = scratch.buffer(.routerLogits, count: rows * e)
        softmaxBackward(
            dinp: dLogits, dout: dProbabilities, out: cache.probabilities.readPointer, rows: rows,
            cols: e)
        guard let router = cache.router else { return }
        store.withValue(router) { wr in
            store.withGradIfTrainable(router) { dwr in
                linearBackward(
                    dinp: dinp, dweight: dwr, dbias: nil, dout: dLogits, inp: inp, weight: wr,
                    rows: rows, inDim: dim, outDim: e)
            }
        }
    }

    /// Which experts receive gradients: the expert bank's `trainableSlices` (one flag per
    /// expert the store holds, the same for w1, b1, w2, b2), or nil when the whole bank
    /// learns alike.
    func trainableExperts(_ store: ParameterStore) -> [Bool]? {
        guard let slices = store[w1].trainableSlices else { return nil }
        let rows = store[w1].value.shape.first ?? 0
        precondition(slices.count == rows, "trainableSlices has \(slices.count) entries for \(rows) experts")
        return slices
    }
}

extension Optional where Wrapped == [Bool] {
    /// Calls `body` with a pointer to the mask, or nil when there is none.
    func withOptionalPointer<R>(_ body: (UnsafePointer<Bool>?) -> R) -> R {
        switch self {
        case .some(let mask): mask.withUnsafeBufferPointer { body($0.baseAddress) }
        case .none: body(nil)
        }
    }
}
