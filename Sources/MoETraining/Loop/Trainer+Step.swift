import MoEBalancing
import MoEData
import MoEModel
import MoEOptim
import MoETasks
import MoETensor

extension Trainer {
    /// One optimiser step (DESIGN §3, §10).
    ///
    /// `sampled`: the two-step sampler picks one dataset t and the step is
    /// `loss = λ_t · L_t + w_MI · Σ_layers L_MI` on its batch. `roundRobin`: every dataset t
    /// in turn runs forward, `L_t`, backward of `w_t · L_t` (the balancer's weight) plus its
    /// MI gradient; heads and routers are t's own and just accumulate. When the balancer,
    /// a diagnostics step or per-task moments need per-task gradients, t's shared gradient is
    /// moved into its buffer (one backbone-sized buffer per task, reused every step) and the
    /// balancer combines the buffers. Both modes then clip and apply the optimiser's updates.
    /// A NaN/Inf loss or gradient norm throws before the weights change, so the last
    /// checkpoint stays the last good state.
    ///
    /// `dataset` (benchmarks) forces a `sampled` step onto that dataset index instead of
    /// drawing one; the draw is skipped, so such steps are not part of a resumable run.
    @discardableResult
    public func step(dataset forced: Int? = nil) throws -> StepReport {
        let roundRobin = recipe.stepMode == .roundRobin
        if let forced, roundRobin || !data.indices.contains(forced) {
            throw TrainingError.datasetMismatch(
                detail: roundRobin
                    ? "a roundRobin step runs every dataset; step(dataset:) needs stepMode sampled"
                    : "step(dataset: \(forced)): the run has \(data.count) datasets")
        }
        let tasks = roundRobin ? Array(data.indices) : [forced ?? chooseDataset()]
        let diagnosticsDue =
            roundRobin && recipe.training.diagnosticsEvery > 0
            && (state.step + 1) % recipe.training.diagnosticsEvery == 0
        let buffered =
            roundRobin
            && (balancer.method.needsTaskGradients || diagnosticsDue || optimizer.keepsPerTaskMoments)
        let needsOwnedNorms = roundRobin && (balancer.method == .tbgc || balancer.method == .tbgcNoRescale)
        if buffered && taskBuffers.count != data.count {
            taskBuffers = Array(repeating: [Float](repeating: 0, count: layout.sharedCount), count: data.count)
        }

        let store = model.store
        Profiler.measure(.optimizer, "zero gradients", opaque: true) { store.zeroGradients() }
        var passes: [TaskPass] = []
        var ownedNorms: [Float] = []
        for t in tasks {
            passes.append(try forwardBackward(task: t))
            if buffered {
                layout.gather(store, into: &taskBuffers[t])
                layout.zeroShared(store)
            }
            ownedNorms.append(needsOwnedNorms && !isDistributed ? layout.ownedNorm(store, task: t) : 0)
        }
        if isDistributed {
            // Owned gradients (t's head and routers) only ever hold t's pass, so their norms
            // after the sum equal the one-process norms taken right after each pass.
            try reduceGradients()
            if buffered { try reduceTaskBuffers(tasks) }
            if needsOwnedNorms { ownedNorms = tasks.map { layout.ownedNorm(store, task: $0) } }
        }

        var combination = GradientCombination.sum(tasks: tasks.count)
        var diagnostics: GradientDiagnostics?
        if roundRobin {
            let set = TaskGradientSet(
                losses: passes.map(\.loss), weights: passes.map(\.weight),
                shared: buffered ? taskBuffers : [], ownedNorms: ownedNorms)
            combination = balancer.finish(set, layout: layout)
            diagnostics = diagnosticsDue ? GradientDiagnostics.compute(rows: taskBuffers, layout: layout) : nil
            for t in tasks { layout.scaleOwned(store, task: t, by: combination.ownedScales[t]) }
        }
        let lr = recipe.schedule.learningRate(
            step: state.step, totalSteps: state.totalSteps, peakLR: recipe.optimizer.learningRate)
        let norm = try applyUpdates(
            tasks: tasks, lr: lr, combination: combination, buffered: buffered,
            dataset: roundRobin ? "all" : data[tasks[0]].name)
        state.step += 1
        if roundRobin { state.balancer = balancer.state }
        return report(passes, tasks: tasks, roundRobin: roundRobin, lr: lr, norm: norm, diagnostics: diagnostics)
    }

    /// What one dataset's forward and backward left behind.
    struct TaskPass {
        /// L_t as computed, times the dataset's loss scale.
        var loss: Float
        /// L_t as computed.
        var unscaledLoss: Float
        /// w_t, the balancer's weight the loss gradient was multiplied by.
        var weight: Float
        var images: Int
        var mutualInformationLoss: Float
    }

    /// Dataset `t`'s next batch: forward, task loss, the weighted loss gradient and the MI
    /// gradient of its routers through backward (gradients accumulate in the store).
    func forwardBackward(task t: Int) throws -> TaskPass {
        let dataset = data[t]
        guard let indices = state.batchSamplers[dataset.name]?.next() else {
            throw TrainingError.datasetMismatch(
                detail: "the training state has no batch sampler for dataset '\(dataset.name)'")
        }
        let targets = Profiler.measure(.data, "batch + augmentation", opaque: true) {
            if isDistributed { return shardBatch(dataset: dataset, indices: indices) }
            var targets = dataset.train.makeBatch(indices: indices, into: &images)
            augment(dataset: dataset.name, targets: &targets)
            return targets
        }
        state.imagesSeen[dataset.name, default: 0] += indices.count
        let outputs = try model.forward(images: images, dataset: dataset.name)
        var result = try Profiler.measure(.loss, "\(dataset.spec.task.rawValue)", opaque: true) {
            try TaskObjective.loss(
                outputs: outputs, targets: targets, spec: dataset.spec, patchSize: model.config.patchSize)
        }
        if isDistributed {
            try ShardedLoss.globalize(
                &result, targets: targets,
                geometry: TaskObjective.geometry(dataset.spec, patchSize: model.config.patchSize),
                collective: collective)
        }
        let loss = result.loss * taskLossScales[t]
        guard loss.isFinite else {
            throw TrainingError.nonFiniteLoss(step: state.step + 1, dataset: dataset.name, lastCheckpoint: nil)
        }
        let weight = balancer.lossWeight(task: t, loss: loss)
        let factor = weight * taskLossScales[t]
        if factor != 1 {
            let count = result.gradient.count
            result.gradient.withUnsafeMutablePointer { g in
                for i in 0..<count { g[i] *= factor }
            }
        }
        let (routerGradients, miLoss) = try Profiler.measure(.loss, "mutual information", opaque: true) {
            try mutualInformationStep(dataset: t)
        }
        model.backward(outputGradient: result.gradient, routerProbabilityGradients: routerGradients)
        try model.expertParallelism?.throwIfFailed()
        return TaskPass(
            loss: loss, unscaledLoss: result.loss, weight: weight, images: indices.count,
            mutualInformationLoss: miLoss)
    }

    /// Clips and applies the step's updates; returns the largest pre-clip gradient norm.
    /// With per-task moments and buffered gradients, one update per task with that task's
    /// combined gradient (shared weight decay once); otherwise one update of the combined
    /// gradient. Throws on a non-finite norm before the update that would use it.
    func applyUpdates(
        tasks: [Int], lr: Float, combination: GradientCombination, buffered: Bool, dataset: String
    ) throws -> Float {
        let store = model.store
        let clip = recipe.optimizer.clipNorm
        func clipped() throws -> Float {
            let norm = try Profiler.measure(.optimizer, "gradient norm / clip", opaque: true) {
                try clipGradients(maxNorm: clip)
            }
            guard norm.isFinite else {
                throw TrainingError.nonFiniteLoss(step: state.step + 1, dataset: dataset, lastCheckpoint: nil)
            }
            return norm
        }
        if buffered && optimizer.keepsPerTaskMoments {
            var norm: Float = 0
            for t in tasks {
                layout.scatterCombination(
                    [taskBuffers[t]], coefficients: [combination.coefficients[t]], into: store)
                norm = max(norm, try clipped())
                Profiler.measure(.optimizer, "\(recipe.optimizer.kind.rawValue) step", opaque: true) {
                    optimizer.step(store, lr: lr, scope: .task(t, decaysShared: t == tasks[0]))
                }
            }
            return norm
        }
        if buffered {
            if let mask = combination.channelMask {
                layout.scatterGradSplit(taskBuffers, mask: mask, prefix: gradSplitPrefix, into: store)
            } else {
                layout.scatterCombination(taskBuffers, coefficients: combination.coefficients, into: store)
            }
        }
        let norm = try clipped()
        let scope: UpdateScope = tasks.count == 1 ? .task(tasks[0], decaysShared: true) : .all
        Profiler.measure(.optimizer, "\(recipe.optimizer.kind.rawValue) step", opaque: true) {
            optimizer.step(store, lr: lr, scope: scope)
        }
        return norm
    }

    func report(
        _ passes: [TaskPass], tasks: [Int], roundRobin: Bool, lr: Float, norm: Float,
        diagnostics: GradientDiagnostics?
    ) -> StepReport {
        let images = passes.map(\.images).reduce(0, +)
        let miLoss = passes.map(\.mutualInformationLoss).reduce(0, +)
        guard roundRobin else {
            return StepReport(
                step: state.step, dataset: data[tasks[0]].name, loss: passes[0].unscaledLoss,
                learningRate: lr, gradientNorm: norm, images: images, mutualInformationLoss: miLoss)
        }
        let names = tasks.map { data[$0].name }
        return StepReport(
            step: state.step, dataset: "all",
            loss: passes.map { $0.loss * $0.weight }.reduce(0, +),
            learningRate: lr, gradientNorm: norm, images: images, mutualInformationLoss: miLoss,
            taskLosses: Dictionary(uniqueKeysWithValues: zip(names, passes.map(\.loss))),
            taskWeights: Dictionary(uniqueKeysWithValues: zip(names, passes.map(\.weight))),
            diagnostics: diagnostics)
    }

    /// Updates every MoE layer's running buffer with this batch's mean routing
    /// probabilities q and, past the dataset's warm-up and with `w_MI > 0`, returns
    /// ∂(w_MI·L_MI)/∂p for each layer (∂L/∂q spread evenly over the batch's tokens).
    func mutualInformationStep(dataset t: Int) throws -> ([Tensor?]?, Float) {
        guard !state.mutualInformation.isEmpty else { return (nil, 0) }
        let weight = recipe.training.miWeight
        var gradients: [Tensor?] = []
        var loss: Float = 0
        var means: [[Float]] = []
        var tokenCounts: [Int] = []
        for layer in 0..<model.moeLayerCount {
            let p = model.routerProbabilities(moeLayer: layer)
            let (tokens, experts) = (p.shape[0], p.shape[1])
            var q = [Float](repeating: 0, count: experts)
            p.withUnsafePointer { pp in
                for r in 0..<tokens {
                    for e in 0..<experts { q[e] += pp[r * experts + e] }
                }
            }
            for e in 0..<experts { q[e] /= Float(tokens) }
            means.append(q)
            // Each row's share of ∂L/∂q is 1/(global tokens): N shards of equal size.
            tokenCounts.append(tokens * collective.size)
        }
        if isDistributed { try averageRoutingMeans(&means) }
        for layer in 0..<model.moeLayerCount {
            let q = means[layer]
            let (tokens, experts) = (tokenCounts[layer] / collective.size, q.count)
            // Non-finite routing (weights that overflow) is a diverged run, like a NaN loss.
            guard q.allSatisfy(\.isFinite) else {
                throw TrainingError.nonFiniteLoss(step: state.step + 1, dataset: data[t].name, lastCheckpoint: nil)
            }
            guard let dq = state.mutualInformation[layer].step(dataset: t, batchMeanProbabilities: q),
                weight > 0
            else {
                gradients.append(nil)
                continue
            }
            loss += weight * state.mutualInformation[layer].surrogateLoss(dataset: t, q: q)
            var g = Tensor(shape: [tokens, experts])
            g.withUnsafeMutablePointer { gp in
                for r in 0..<tokens {
                    for e in 0..<experts { gp[r * experts + e] = weight * dq[e] / Float(tokenCounts[layer]) }
                }
            }
            gradients.append(g)
        }
        return (gradients.contains { $0 != nil } ? gradients : nil, loss)
    }

    /// Applies the recipe's multi-branch augmentation of `dataset` to the batch in `images`.
    func augment(dataset: String, targets: inout TaskTargets) {
        guard let branches = recipe.augmentation[dataset], !branches.isEmpty,
            var rng = state.augmentationGenerator
        else { return }
        let progress = Double(state.step) / Double(max(state.totalSteps - 1, 1))
        MultiBranchAugmentation.apply(
            branches: branches, progress: progress, images: &images, targets: &targets, rng: &rng)
        state.augmentationGenerator = rng
    }

    /// GradSplit's split layer: `balancing.splitLayer`, else the last block's MLP.
    var gradSplitPrefix: String {
        if let p = recipe.balancing.splitLayer { return p }
        let last = model.config.depth - 1
        return model.store.contains(ParameterName.experts(block: last, .w2))
            ? ParameterName.moe(block: last) + ".experts." : ParameterName.denseMLP(block: last) + "."
    }
}
