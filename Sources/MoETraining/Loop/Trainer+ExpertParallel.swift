import MoEModel
import MoETensor

/// Expert-parallel training (DESIGN §11.2): within each group of P ranks, rank g runs
/// experts `[g·E/P, (g+1)·E/P)` of every MoE layer on the tokens the whole group routed to
/// them (the model's all-to-all), and expert-bank gradients are summed among the ranks
/// that hold the same experts. Each rank's store keeps only its experts' slices of the
/// banks (`Trainer+ExpertShard`), unless the run needs per-task gradient buffers.
extension Trainer {
    /// Turns expert parallelism on when the recipe asks for P > 1 and more than one rank
    /// trains; with one rank every expert runs here (so an expert-parallel run's checkpoint
    /// resumes in one process and the reverse).
    /// - Throws: `TrainingError.distribution` when P does not divide the rank count N or the
    ///   expert count E, or the collective has no expert-group operations.
    func enableExpertParallelism(over collective: any Collective) throws {
        let (p, n, e) = (recipe.training.expertGroupSize, collective.size, model.config.experts)
        guard p > 1, n > 1 else {
            expertGroupSize = 1
            model.expertParallelism = nil
            return
        }
        guard n % p == 0 else {
            throw TrainingError.distribution(
                detail: "training.expertParallel is \(p), which does not divide the \(n) ranks (each group of "
                    + "\(p) ranks holds every expert once; hint: launch a multiple of \(p) ranks)")
        }
        guard e > 0, e % p == 0 else {
            throw TrainingError.distribution(
                detail: "training.expertParallel is \(p), which does not divide the \(e) experts of model.experts")
        }
        guard let experts = collective as? any ExpertCollective else {
            throw TrainingError.distribution(
                detail: "training.expertParallel is \(p), but this collective has no expert-group all-to-all")
        }
        model.expertParallelism = try ExpertParallelism(ExpertGroupExchange(experts, groupSize: p))
        expertGroupSize = p
        try shardExpertStore(groupSize: p, groupRank: collective.rank % p)
    }

    /// The names of every MoE layer's expert bank (w1, b1, w2, b2) under expert
    /// parallelism; empty otherwise.
    var expertBankNames: Set<String> {
        guard expertGroupSize > 1 else { return [] }
        return Set(
            model.config.moeBlocks.flatMap { l in
                ParameterName.ExpertPart.allCases.map { ParameterName.experts(block: l, $0) }
            })
    }

    /// Expert-bank gradients summed over the N/P ranks holding the same experts,
    ///
    ///     G[e] = Σ_{ranks r with r mod P = g} G_r[e],
    ///
    /// for this rank's experts e. With a sharded store each bank holds just those; with full
    /// banks `[E, …]` (only slices `[g·E/P, (g+1)·E/P)` are non-zero) the owned slices are
    /// summed and then gathered within the group (a sum where every other rank contributes
    /// exact zeros), so every rank ends with the full, identical bank gradient.
    func reduceExpertGradients() throws {
        guard let exchange = model.expertParallelism, let experts = collective as? any ExpertCollective else {
            return
        }
        let (p, g) = (exchange.groupSize, exchange.groupRank)
        let banks = expertBankNames
        let reached = model.store.parameters.filter { $0.isTrainable && $0.hasGradient && banks.contains($0.name) }
        if expertShard != nil {
            try sumGradients(of: reached, bucket: &expertGradientBucket) {
                try experts.sameExpertsSum($0, groupSize: p)
            }
            return
        }
        var owned = [Float]()
        for bank in reached {
            let slice = bank.grad.count / p
            bank.grad.withUnsafePointer {
                owned.append(contentsOf: UnsafeBufferPointer(start: $0 + g * slice, count: slice))
            }
        }
        try owned.withUnsafeMutableBufferPointer { try experts.sameExpertsSum($0, groupSize: p) }
        var full = [Float]()
        var offset = 0
        for bank in reached {
            let slice = bank.grad.count / p
            for h in 0..<p {
                if h == g {
                    full.append(contentsOf: owned[offset..<offset + slice])
                } else {
                    full.append(contentsOf: repeatElement(0, count: slice))
                }
            }
            offset += slice
        }
        try full.withUnsafeMutableBufferPointer { try experts.expertGroupSum($0, groupSize: p) }
        offset = 0
        for bank in reached {
            let n = bank.grad.count
            full.withUnsafeBufferPointer { values in
                bank.grad.withUnsafeMutablePointer { $0.update(from: values.baseAddress! + offset, count: n) }
            }
            offset += n
        }
    }
}
