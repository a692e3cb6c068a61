import MoECheckpoint
import MoEModel
import MoEOptim
import MoETensor

/// What a rank's trainer holds, in floats: weights, gradients and optimiser state, and the
/// expert banks' share of each (DESIGN §11.2).
public struct StoreFootprint: Sendable, Equatable {
    public var weights = 0
    public var gradients = 0
    public var optimizerState = 0
    public var expertWeights = 0
    public var expertGradients = 0
    public var expertOptimizerState = 0

    /// weights + gradients + optimiser state.
    public var total: Int { weights + gradients + optimizerState }
    /// The expert banks' part of `total`.
    public var experts: Int { expertWeights + expertGradients + expertOptimizerState }
}

/// The sharded expert store under expert parallelism (DESIGN §11.2): each rank keeps only
/// its E/P experts of every bank; full banks are gathered for evaluation and checkpoints.
extension Trainer {
    /// Whether expert parallelism shards the store: not when a round-robin step keeps
    /// per-task gradient buffers (task-gradient balancing, diagnostics, per-task moments),
    /// whose balancers take dot products over whole gradients; those runs keep full banks.
    var shardsExpertStore: Bool {
        recipe.stepMode != .roundRobin
            || !(balancer.method.needsTaskGradients || recipe.training.diagnosticsEvery > 0
                || optimizer.keepsPerTaskMoments)
    }

    /// Slices the store and the optimiser state to group rank `groupRank`'s experts.
    func shardExpertStore(groupSize p: Int, groupRank g: Int) throws {
        guard expertShard == nil, shardsExpertStore else { return }
        let shard = try ExpertShard(model: model, groupSize: p, groupRank: g)
        try shard.shard(model.store)
        try shard.shardState(of: &optimizer, store: model.store)
        expertShard = shard
    }

    /// Runs `body` with the full expert banks in the store (gathered within the group, so
    /// every rank must call it), then keeps this rank's slices again. Gradients are zero
    /// afterwards. Without a sharded store it just runs `body`.
    public func withFullExpertBanks<R>(_ body: () throws -> R) throws -> R {
        guard let shard = expertShard, model.holdsExpertSlices, let experts = collective as? any ExpertCollective
        else { return try body() }
        try shard.unshard(model.store, over: experts)
        defer { try? shard.shard(model.store) }
        return try body()
    }

    /// Gathers the full banks and their optimiser state for good: the trainer continues with
    /// every expert in every rank's store (expert-parallel compute, full-bank gradients), and
    /// `model` can be saved or changed as one process's. Collective.
    public func unshardExpertStore() throws {
        guard let shard = expertShard, let experts = collective as? any ExpertCollective else { return }
        let state = try shard.gathered(
            optimizer.stateTensors().map { NamedTensor($0.name, $0.tensor) }, over: experts)
        try shard.unshard(model.store, over: experts)
        try optimizer.loadState(
            tensors: Dictionary(uniqueKeysWithValues: state.map { ($0.name, $0.tensor) }),
            metadata: optimizer.stateMetadata, store: model.store)
        expertShard = nil
    }

    /// The full `trainableSlices` of parameter `p` (its bank's, when sharded).
    func fullTrainableSlices(_ p: Parameter) -> [Bool]? {
        expertShard?.banks[p.name].map(\.trainableSlices) ?? p.trainableSlices
    }

    /// `checkpoint` with full expert banks and bank optimiser state (a no-op unless sharded).
    /// Collective: every rank of the group calls it.
    func gatheringExpertBanks(_ checkpoint: Checkpoint) throws -> Checkpoint {
        guard let shard = expertShard, let experts = collective as? any ExpertCollective else { return checkpoint }
        var full = checkpoint
        full.tensors = try shard.gathered(checkpoint.tensors, over: experts)
        return full
    }

    /// Clips by the global gradient norm and returns it. With a sharded store,
    ///
    ///     ‖g‖² = ‖g_dense‖² + Σ_{group ranks} ‖g_owned experts‖²,
    ///
    /// the same on every rank and equal to one process's norm over the full banks.
    func clipGradients(maxNorm: Float) throws -> Float {
        let store = model.store
        guard let shard = expertShard, let experts = collective as? any ExpertCollective else {
            return GradientClipping.clip(store, maxNorm: maxNorm)
        }
        let dense = GradientClipping.squaredNorm(store) { shard.banks[$0.name] == nil }
        var owned = [GradientClipping.squaredNorm(store) { shard.banks[$0.name] != nil }]
        try experts.expertGroupSum(&owned, groupSize: shard.groupSize)
        let norm = Float((dense + owned[0]).squareRoot())
        GradientClipping.clip(store, maxNorm: maxNorm, norm: norm)
        return norm
    }

    /// Floats this rank's store and optimiser hold now.
    public var storeFootprint: StoreFootprint {
        var f = StoreFootprint()
        for p in model.store.parameters {
            f.weights += p.value.count
            f.gradients += p.grad.count
            if ParameterName.isExpertBank(p.name) {
                f.expertWeights += p.value.count
                f.expertGradients += p.grad.count
            }
        }
        for (name, tensor) in optimizer.stateTensors() {
            f.optimizerState += tensor.count
            if ParameterName.isExpertBank(name) { f.expertOptimizerState += tensor.count }
        }
        return f
    }
}
