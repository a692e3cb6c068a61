import MoEData
import MoEModel
import MoETensor

extension Trainer {
    /// One optimiser step on one batch of every dataset (`training.stepMode: roundRobin`).
    ///
    /// For each dataset t in turn: forward, loss L_t, its output gradient scaled by the
    /// balancer's w_t, backward (plus the MI gradient of t's routers). Heads and routers are
    /// t's own and just accumulate. When the method (or a diagnostics step, or adam-per-task)
    /// needs per-task gradients, the shared gradient is copied into t's buffer and the shared
    /// gradients are zeroed before the next task: exactly one backbone-sized buffer per task,
    /// reused every step; otherwise the weighted gradients accumulate in place. The balancer
    /// then turns the buffers into Σ_t a_t·g_t (or GradSplit's masked sum), scales own
    /// gradients (TBGC), and learns from the step; then clip (unless TBGC) and step.
    func roundRobinStep() throws -> StepReport {
        let tasks = data.count
        let store = model.store
        let diagnosticsDue = recipe.training.diagnosticsEvery > 0
            && (state.step + 1) % recipe.training.diagnosticsEvery == 0
        let perTask = optimizer as? AdamPerTask
        let buffered = balancer.method.needsTaskGradients || diagnosticsDue || perTask != nil
        let needsOwnedNorms = balancer.method == .tbgc || balancer.method == .tbgcNoRescale
        if buffered && taskBuffers.count != tasks {
            taskBuffers = Array(repeating: [Float](repeating: 0, count: layout.sharedCount), count: tasks)
        }

        store.zeroGradients()
        var losses: [Float] = [], weights: [Float] = [], ownedNorms: [Float] = []
        var rows = 0
        var miLoss: Float = 0
        for t in 0..<tasks {
            let dataset = data[t]
            let indices = state.batchSamplers[dataset.name]!.next()
            var targets = dataset.train.makeBatch(indices: indices, into: &images)
            augment(dataset: dataset.name, targets: &targets)
            rows += indices.count
            state.imagesSeen[dataset.name, default: 0] += indices.count
            let outputs = try model.forward(images: images, dataset: dataset.name)
            var result = try TaskObjective.loss(
                outputs: outputs, targets: targets, spec: dataset.spec, patchSize: model.config.patchSize)
            let loss = result.loss * taskLossScales[t]
            guard loss.isFinite else {
                throw TrainingError.nonFiniteLoss(step: state.step + 1, dataset: dataset.name, lastCheckpoint: nil)
            }
            let w = balancer.lossWeight(task: t, loss: loss)
            let factor = w * taskLossScales[t]
            if factor != 1 {
                let count = result.gradient.count
                result.gradient.withUnsafeMutablePointer { g in
                    for i in 0..<count { g[i] *= factor }
                }
            }
            let (routerGradients, mi) = mutualInformationStep(dataset: t)
            miLoss += mi
            model.backward(outputGradient: result.gradient, routerProbabilityGradients: routerGradients)
            if buffered {
                layout.gather(store, into: &taskBuffers[t])
                layout.zeroShared(store)
            }
            ownedNorms.append(needsOwnedNorms ? layout.ownedNorm(store, task: t) : 0)
            losses.append(loss)
            weights.append(w)
        }

        let set = TaskGradientSet(
            losses: losses, weights: weights, shared: buffered ? taskBuffers : [], ownedNorms: ownedNorms)
        let combination = balancer.finish(set, layout: layout)
        let diagnostics = diagnosticsDue ? GradientDiagnostics.compute(rows: taskBuffers, layout: layout) : nil
        for t in 0..<tasks { layout.scaleOwned(store, task: t, by: combination.ownedScales[t]) }

        let lr = recipe.schedule.learningRate(
            step: state.step, totalSteps: state.totalSteps, peakLR: recipe.optimizer.learningRate)
        let clip = recipe.optimizer.clipNorm
        var norm: Float = 0
        if let perTask {
            // One AdamW update per task with that task's moments for the shared parameters.
            for t in 0..<tasks {
                layout.scatterCombination([taskBuffers[t]], coefficients: [combination.coefficients[t]], into: store)
                norm = max(norm, GradientClipping.clip(store, maxNorm: clip))
                perTask.currentTask = t
                perTask.decayShared = t == 0
                optimizer.step(store, lr: lr)
            }
            perTask.currentTask = nil
            perTask.decayShared = true
        } else {
            if buffered {
                if let mask = combination.channelMask {
                    layout.scatterGradSplit(taskBuffers, mask: mask, prefix: gradSplitPrefix, into: store)
                } else {
                    layout.scatterCombination(taskBuffers, coefficients: combination.coefficients, into: store)
                }
            }
            norm = GradientClipping.clip(store, maxNorm: clip)
            optimizer.step(store, lr: lr)
        }
        guard norm.isFinite else {
            throw TrainingError.nonFiniteLoss(step: state.step + 1, dataset: "all", lastCheckpoint: nil)
        }
        state.step += 1
        state.balancer = balancer.state
        let names = data.map(\.name)
        return StepReport(
            step: state.step, dataset: "all", loss: zip(losses, weights).map { $0 * $1 }.reduce(0, +),
            learningRate: lr, gradientNorm: norm, images: rows, mutualInformationLoss: miLoss,
            taskLosses: Dictionary(uniqueKeysWithValues: zip(names, losses)),
            taskWeights: Dictionary(uniqueKeysWithValues: zip(names, weights)),
            diagnostics: diagnostics)
    }

    /// GradSplit's split layer: `balancing.splitLayer`, else the last block's MLP.
    var gradSplitPrefix: String {
        if let p = recipe.balancing.splitLayer { return p }
        let last = model.config.depth - 1
        return model.store.contains("blocks.\(last).moe.experts.w2")
            ? "blocks.\(last).moe.experts." : "blocks.\(last).mlp."
    }
}
