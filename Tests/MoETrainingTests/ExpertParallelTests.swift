import Foundation
import MoEData
import MoETensor
import Testing

@testable import MoEModel
@testable import MoERecipe
@testable import MoETraining

/// Expert-parallel steps (DESIGN §11.2) on in-process thread ranks: each group of P ranks
/// splits the experts and exchanges tokens all-to-all, and must step like one process on
/// the whole batch.
@Suite struct ExpertParallelTests {
    /// Routers start at zero, which sends every token to experts 0 and 1 (group rank 0's):
    /// random routers make every rank run experts on tokens from every rank.
    static func scrambleRouters(_ trainer: Trainer) throws {
        var rng = SeededGenerator(seed: 99)
        for p in trainer.model.store.parameters where p.name.contains(".routers.") {
            let values = (0..<p.value.count).map { _ in rng.normal() }
            try trainer.model.store.setValue(Tensor(shape: p.value.shape, storage: values), for: p.name)
        }
    }

    /// `steps` steps of one trainer, and of `ranks` expert-parallel trainers in lockstep,
    /// whose sharded expert stores are then gathered (`unshardExpertStore`) for comparison;
    /// also returns the rows each rank's experts received from the group in the last step
    /// and each rank's footprint before the gather.
    static func runBoth(
        _ recipe: Recipe, steps: Int, ranks: Int, prepare: (Trainer) throws -> Void = { _ in }
    ) throws -> (Trainer, [Trainer], [Int], [StoreFootprint]) {
        let single = try tinyTrainer(recipe)
        try scrambleRouters(single)
        try prepare(single)
        for _ in 0..<steps { try single.step() }
        let group = ThreadGroup(size: ranks)
        let shards = try (0..<ranks).map { r in
            let t = try tinyTrainer(recipe)
            try scrambleRouters(t)
            try prepare(t)
            try t.distribute(over: group.rank(r))
            return t
        }
        nonisolated(unsafe) let trainers = shards
        try group.run { r in
            for _ in 0..<steps { try trainers[r].step() }
        }
        let received = shards.map { t in t.model.blockCaches.map { $0.moe.remote.receivedRows }.reduce(0, +) }
        let footprints = shards.map(\.storeFootprint)
        try group.run { r in try trainers[r].unshardExpertStore() }
        return (single, shards, received, footprints)
    }

    /// SGD, or Adam with ε = 1e-3 (why: `DataParallelTests.twoRanksEqualOneProcess`).
    @Test(
        "P=2 expert-parallel ranks equal one process over 5 steps",
        arguments: [
            (["optimizer.kind=sgd"], 2),  // sampled, two datasets
            (["optimizer.kind=adamw", "optimizer.eps=1e-3"], 2),
            (["optimizer.kind=sgd", "balancing=pcgrad"], 2),  // roundRobin, per-task buffers
            (["optimizer.kind=sgd"], 4),  // two groups: same-expert sums over 2 ranks
            (["optimizer.kind=sgd", "optimizer.clip=0.01"], 4),  // clipped by the global norm
            (["optimizer.kind=adam-per-task", "optimizer.eps=1e-3"], 2),  // sampled: per-task moments sharded
        ])
    func expertParallelRanksEqualOneProcess(overrides: [String], ranks: Int) throws {
        let recipe = try tinyRecipe(
            steps: 5, datasets: DataParallelTests.twoDatasets, overrides: overrides + ["training.expertParallel=2"])
        let (single, shards, received, footprints) = try Self.runBoth(recipe, steps: 5, ranks: ranks)
        // The store is sharded unless round-robin keeps per-task gradient buffers (PCGrad).
        let whole = single.storeFootprint
        let sharded = !overrides.contains("balancing=pcgrad")
        for f in footprints {
            #expect(f.experts * (sharded ? 2 : 1) == whole.experts, "\(f) vs one process \(whole)")
            #expect(f.total - f.experts == whole.total - whole.experts)
        }
        #expect(single.expertGroupSize == 1)
        #expect(shards.allSatisfy { $0.expertGroupSize == 2 })
        #expect(received.allSatisfy { $0 > 0 }, "rows run on each rank's experts: \(received)")
        let relative = DataParallelTests.maxRelativeDifference(shards[0], single)
        print("expert-parallel \(overrides) on \(ranks) ranks: max relative parameter difference \(relative)")
        #expect(relative <= 1e-5)
        for shard in shards.dropFirst() {
            #expect(differingNames(parameterBits(shards[0].model), parameterBits(shard.model)).isEmpty)
            #expect(differingNames(optimizerBits(shards[0].optimizer), optimizerBits(shard.optimizer)).isEmpty)
        }
        #expect(shards[0].state.batchSamplers == single.state.batchSamplers)
    }

    @Test func twoExpertParallelRunsAreBitIdentical() throws {
        let recipe = try tinyRecipe(
            steps: 5, datasets: DataParallelTests.twoDatasets,
            overrides: ["optimizer.kind=adamw", "optimizer.eps=1e-3", "training.expertParallel=2"])
        let (_, first, _, _) = try Self.runBoth(recipe, steps: 5, ranks: 2)
        let (_, second, _, _) = try Self.runBoth(recipe, steps: 5, ranks: 2)
        #expect(differingNames(parameterBits(first[0].model), parameterBits(second[0].model)).isEmpty)
        #expect(differingNames(optimizerBits(first[0].optimizer), optimizerBits(second[0].optimizer)).isEmpty)
    }

    /// Frozen experts (`trainableSlices`, as `adapt --experts N` sets them) shard with their
    /// banks: each rank keeps its experts' flags, frozen experts stay bit-identical, and the
    /// gathered store has the full flags back.
    @Test func frozenExpertsShardWithTheirBanks() throws {
        let recipe = try tinyRecipe(
            steps: 3, datasets: DataParallelTests.twoDatasets,
            overrides: ["optimizer.kind=sgd", "training.expertParallel=2"])
        let flags = [true, false, false, true]
        var initial: [String: Tensor] = [:]
        let (single, shards, _, _) = try Self.runBoth(recipe, steps: 3, ranks: 2) { t in
            for p in t.model.store.parameters where ParameterName.isExpertBank(p.name) {
                p.trainableSlices = flags
                p.decays = false  // as adaptation sets it: frozen slices get no decay either
                initial[p.name] = p.value
            }
        }
        #expect(DataParallelTests.maxRelativeDifference(shards[0], single) <= 1e-5)
        for shard in shards {
            for p in shard.model.store.parameters where ParameterName.isExpertBank(p.name) {
                #expect(p.trainableSlices == flags)
                let per = p.value.count / flags.count
                let frozen = per..<3 * per  // experts 1 and 2
                let unchanged = p.value.storage[frozen].elementsEqual(initial[p.name]!.storage[frozen])
                #expect(unchanged, "\(p.name)")
            }
        }
    }

    /// A store holding only expert slices runs expert-parallel training passes alone:
    /// inference throws a `ModelError` instead of reading past the bank.
    @Test func aModelHoldingExpertSlicesRefusesInference() throws {
        let trainer = try tinyTrainer(try tinyRecipe(overrides: ["training.expertParallel=2"]))
        let model = trainer.model
        try ExpertShard(model: model, groupSize: 2, groupRank: 1).shard(model.store)
        #expect(model.holdsExpertSlices)
        let spec = model.config.datasets[0]
        let images = Tensor(shape: [1, model.config.channels, spec.height, spec.width])
        let error = try #require(throws: ModelError.self) {
            try model.forwardFeatures(images: images, dataset: spec.name, training: false)
        }
        #expect(error.description.contains("needs every expert"))
    }

    @Test func aGroupSizeTheRanksCannotSplitIsAnErrorNamingBoth() throws {
        let datasets = [TinyDataset(name: "digits", batchSize: 12)]
        let trainer = try tinyTrainer(try tinyRecipe(datasets: datasets, overrides: ["training.expertParallel=2"]))
        let error = try #require(throws: TrainingError.self) {
            try trainer.distribute(over: ThreadGroup(size: 3).rank(0))
        }
        #expect(error.description.contains("expertParallel is 2"))
        #expect(error.description.contains("3 ranks"))
        #expect(trainer.model.expertParallelism == nil)
    }

    @Test func aGroupSizeThatDoesNotDivideTheExpertsIsARecipeError() throws {
        let error = try #require(throws: RecipeError.self) {
            _ = try tinyRecipe(overrides: ["training.expertParallel=3"])
        }
        #expect(error.description.contains("training.expertParallel"))
        #expect(error.description.contains("model.experts (4)"))
    }

    /// One process runs every expert itself, so an expert-parallel recipe steps there
    /// exactly as without it (its checkpoint resumes in one process and back).
    @Test func oneProcessIgnoresTheGroupSize() throws {
        let plain = try tinyTrainer(try tinyRecipe(steps: 2, overrides: ["optimizer.kind=sgd"]))
        let grouped = try tinyTrainer(
            try tinyRecipe(steps: 2, overrides: ["optimizer.kind=sgd", "training.expertParallel=2"]))
        try grouped.distribute(over: SingleProcess())
        for _ in 0..<2 {
            try plain.step()
            try grouped.step()
        }
        #expect(differingNames(parameterBits(plain.model), parameterBits(grouped.model)).isEmpty)
    }
}
