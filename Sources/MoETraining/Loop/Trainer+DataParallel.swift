import MoEData
import MoETasks
import MoETensor

/// Data-parallel training (DESIGN §11): every rank holds the same model and draws the same
/// batch indices from the same sampler, runs forward and backward on its rows of the global
/// batch, and the collectives make the step equal one process's step on the whole batch.
extension Trainer {
    /// Whether steps run data-parallel (more than one rank).
    var isDistributed: Bool { collective.size > 1 }

    /// Trains as rank `collective.rank` of `collective.size` from now on. Every rank must
    /// build the same trainer (same recipe, seed, data, or the same checkpoint) and call this.
    ///
    /// The recipe's batch sizes stay global: rank r of N takes rows `[r·B/N, (r+1)·B/N)` of
    /// each step's batch, so every `B` must be a multiple of N.
    /// - Throws: `TrainingError.distribution` naming the first dataset whose batch size N
    ///   does not divide, or an invalid rank.
    public func distribute(over collective: any Collective) throws {
        let n = collective.size
        guard n >= 1, (0..<n).contains(collective.rank) else {
            throw TrainingError.distribution(detail: "rank \(collective.rank) is outside 0..<\(n)")
        }
        for d in data where d.recipe.batchSize % n != 0 {
            throw TrainingError.distribution(
                detail: "dataset '\(d.name)' has batch size \(d.recipe.batchSize), which \(n) ranks cannot "
                    + "split evenly (each rank takes batchSize/\(n) rows of the global batch; hint: make "
                    + "datasets.\(d.name).batchSize a multiple of \(n), or launch a number of ranks that divides it)")
        }
        try enableExpertParallelism(over: collective)
        self.collective = collective
    }

    /// Whether any rank asks to stop: Ctrl-C reaches the ranks at different moments, and all
    /// must stop after the same step (one sum of 0/1 flags).
    public func anyRankRequests(_ local: Bool) throws -> Bool {
        guard isDistributed else { return local }
        var flag = [local ? 1.0 : 0]
        try collective.allreduceSum(&flag)
        return flag[0] > 0
    }

    /// This rank's rows of the global batch `indices`, written into `images`; its targets.
    ///
    /// Multi-branch augmentation draws from one generator image after image and mixes
    /// images of the batch (mixup, mosaic), so with augmentation every rank builds and
    /// augments the whole batch identically and keeps its rows; without, it loads only them.
    func shardBatch(dataset: RunDataset, indices: [Int]) -> TaskTargets {
        let per = indices.count / collective.size
        let rows = collective.rank * per..<(collective.rank + 1) * per
        guard let branches = recipe.augmentation[dataset.name], !branches.isEmpty else {
            return dataset.train.makeBatch(indices: Array(indices[rows]), into: &images)
        }
        var targets = dataset.train.makeBatch(indices: indices, into: &images)
        augment(dataset: dataset.name, targets: &targets)
        let plane = images.shape.dropFirst().reduce(1, *)
        images = Tensor(
            shape: [per] + images.shape.dropFirst(),
            storage: Array(images.storage[rows.lowerBound * plane..<rows.upperBound * plane]))
        switch targets {
        case .labels(let labels): return .labels(Array(labels[rows]))
        case .boxes(let boxes): return .boxes(Array(boxes[rows]))
        case .masks(let masks):
            let pixels = masks.count / max(indices.count, 1)
            return .masks(Array(masks[rows.lowerBound * pixels..<rows.upperBound * pixels]))
        }
    }

    /// `g ← Σ_ranks g` for every trainable gradient this step reached (the same parameters
    /// on every rank, since every rank ran the same dataset), packed into one flat bucket for
    /// one allreduce (expert banks under expert parallelism: `reduceExpertGradients`). Runs
    /// before clipping, so every rank clips by the same global norm and applies the same
    /// update.
    func reduceGradients() throws {
        let banks = expertBankNames
        let reached = model.store.parameters.filter {
            $0.isTrainable && $0.hasGradient && !banks.contains($0.name)
        }
        try sumGradients(of: reached, bucket: &gradientBucket) { try collective.allreduceSum($0) }
        if !banks.isEmpty { try reduceExpertGradients() }
    }

    /// Packs the gradients of `parameters` into `bucket`, runs `sum` on it in place (one
    /// collective call for all of them) and unpacks the result.
    func sumGradients(
        of parameters: [Parameter], bucket: inout [Float], _ sum: (UnsafeMutableBufferPointer<Float>) throws -> Void
    ) throws {
        let total = parameters.reduce(0) { $0 + $1.grad.count }
        if bucket.count != total { bucket = [Float](repeating: 0, count: total) }
        bucket.withUnsafeMutableBufferPointer { bucket in
            var offset = 0
            for p in parameters {
                let n = p.grad.count
                p.grad.withUnsafePointer { (bucket.baseAddress! + offset).update(from: $0, count: n) }
                offset += n
            }
        }
        try bucket.withUnsafeMutableBufferPointer { try sum($0) }
        bucket.withUnsafeBufferPointer { bucket in
            var offset = 0
            for p in parameters {
                let n = p.grad.count
                p.grad.withUnsafeMutablePointer { $0.update(from: bucket.baseAddress! + offset, count: n) }
                offset += n
            }
        }
    }

    /// `Σ_ranks` of the per-task shared-gradient buffers of `tasks` (round-robin).
    func reduceTaskBuffers(_ tasks: [Int]) throws {
        for t in tasks {
            try taskBuffers[t].withUnsafeMutableBufferPointer { try collective.allreduceSum($0) }
        }
    }

    /// Each layer's batch-mean routing probabilities q, averaged over ranks: every shard has
    /// B/N images of the same token count, so the mean of the shard means is the global mean
    ///
    ///     q = (1/N) Σ_r q_r.
    func averageRoutingMeans(_ means: inout [[Float]]) throws {
        var flat = means.flatMap { $0.map(Double.init) }
        try collective.allreduceSum(&flat)
        let ranks = Double(collective.size)
        var i = 0
        for l in means.indices {
            for e in means[l].indices {
                means[l][e] = Float(flat[i] / ranks)
                i += 1
            }
        }
    }
}
