import Foundation
import MoEData
import MoEModel
import MoETasks
import MoETensor
import Testing

@testable import MoEBalancing
@testable import MoERecipe
@testable import MoETraining

/// Data-parallel steps (DESIGN §11) without MPI: two trainers on two threads, summing
/// through shared memory, must step like one trainer on the whole batch.
@Suite struct DataParallelTests {
    static let twoDatasets = [
        TinyDataset(name: "digits", samplingWeight: 3, batchSize: 16),
        TinyDataset(name: "digits-b", samplingWeight: 1, batchSize: 8),
    ]

    /// max over parameters of ‖a − b‖∞ / ‖b‖∞.
    static func maxRelativeDifference(_ a: Trainer, _ b: Trainer) -> Double {
        var worst = 0.0
        for (p, q) in zip(a.model.store.parameters, b.model.store.parameters) {
            var diff: Float = 0
            var scale: Float = 0
            for (x, y) in zip(p.value.storage, q.value.storage) {
                diff = max(diff, abs(x - y))
                scale = max(scale, abs(y))
            }
            worst = max(worst, Double(diff) / Double(max(scale, 1e-30)))
        }
        return worst
    }

    /// `steps` steps of one trainer, and of `ranks` data-parallel trainers in lockstep.
    static func runBoth(_ recipe: Recipe, steps: Int, ranks: Int = 2) throws -> (Trainer, [Trainer]) {
        let single = try tinyTrainer(recipe)
        for _ in 0..<steps { try single.step() }
        let group = ThreadGroup(size: ranks)
        let shards = try (0..<ranks).map { r in
            let t = try tinyTrainer(recipe)
            try t.distribute(over: group.rank(r))
            return t
        }
        nonisolated(unsafe) let trainers = shards
        try group.run { r in
            for _ in 0..<steps { try trainers[r].step() }
        }
        return (single, shards)
    }

    /// With every expert active no token's top-K choice can flip on a near-tie, the one way
    /// rounding makes two equal steps' runs part (docs/scaling.md); what is left must stay
    /// equal over many steps: epoch ends (each sampler reshuffles), the MI buffers' updates.
    @Test("with every expert active, 60 steps across epoch ends stay equal to one process")
    func longRunAcrossEpochEnds() throws {
        let datasets = [
            TinyDataset(name: "digits", samplingWeight: 3, batchSize: 128),
            TinyDataset(name: "digits-b", samplingWeight: 1, batchSize: 64),
        ]
        let recipe = try tinyRecipe(
            steps: 60, datasets: datasets, overrides: ["optimizer.kind=sgd", "model.topK=4", "training.miWeight=0.01"])
        let (single, shards) = try Self.runBoth(recipe, steps: 60)
        let trainImages = try #require(single.data.first { $0.name == "digits" }).train.count
        #expect(try #require(single.state.imagesSeen["digits"]) > 2 * trainImages)  // ≥ 2 epoch ends
        let relative = Self.maxRelativeDifference(shards[0], single)
        print("data-parallel, 60 steps, every expert active: max relative parameter difference \(relative)")
        #expect(relative <= 1e-5)
        #expect(shards[0].state.batchSamplers == single.state.batchSamplers)
    }

    /// Adam's first steps move every weight by about ±lr·sign(g), so a gradient element that
    /// is zero up to rounding (summed in another order on two ranks) moves by a whole ±lr
    /// either way: the comparisons use SGD, or Adam with ε = 1e-3, which keeps rounding-level
    /// gradients from being blown up to full steps.
    @Test(
        "2 thread ranks equal one process over 5 steps",
        arguments: [
            ["optimizer.kind=sgd"],  // sampled, two datasets (MI buffers)
            ["optimizer.kind=adamw", "optimizer.eps=1e-3"],
            ["optimizer.kind=sgd", "balancing=pcgrad"],  // roundRobin, per-task gradient buffers
            ["optimizer.kind=sgd", "balancing=tbgc"],  // roundRobin, owned-gradient norms
            [
                "balancing=static", "training.stepMode=roundRobin", "optimizer.kind=adam-per-task",
                "optimizer.eps=1e-3",
            ],
        ])
    func twoRanksEqualOneProcess(overrides: [String]) throws {
        let recipe = try tinyRecipe(steps: 5, datasets: Self.twoDatasets, overrides: overrides)
        let (single, shards) = try Self.runBoth(recipe, steps: 5)
        let relative = Self.maxRelativeDifference(shards[0], single)
        print("data-parallel \(overrides): max relative parameter difference \(relative)")
        #expect(relative <= 1e-5)
        #expect(differingNames(parameterBits(shards[0].model), parameterBits(shards[1].model)).isEmpty)
        #expect(differingNames(optimizerBits(shards[0].optimizer), optimizerBits(shards[1].optimizer)).isEmpty)
        // The state every rank would save is the same, and equals the one-process state.
        #expect(shards[0].state.batchSamplers == single.state.batchSamplers)
        #expect(shards[0].state.imagesSeen == single.state.imagesSeen)
        #expect(shards[0].state.mutualInformation == shards[1].state.mutualInformation)
        for (a, b) in zip(shards[0].state.mutualInformation, single.state.mutualInformation) {
            #expect(a.counts == b.counts)
            for (x, y) in zip(a.values, b.values) { #expect(abs(x - y) <= 1e-6 * max(abs(y), 1e-3)) }
        }
    }

    /// Every balancing method in round-robin mode (losses, task buffers, owned norms and
    /// learned weights all from reduced numbers), with diagnostics every other step.
    @Test(arguments: BalancingMethod.allCases)
    func everyBalancerStepsLikeOneProcess(method: BalancingMethod) throws {
        let recipe = try tinyRecipe(
            steps: 4, datasets: Self.twoDatasets,
            overrides: [
                "optimizer.kind=sgd", "balancing=\(method.rawValue)", "training.stepMode=roundRobin",
                "training.diagnosticsEvery=2",
            ])
        let (single, shards) = try Self.runBoth(recipe, steps: 4)
        let relative = Self.maxRelativeDifference(shards[0], single)
        print("data-parallel roundRobin \(method.rawValue): max relative parameter difference \(relative)")
        #expect(relative <= 1e-5)
        #expect(differingNames(parameterBits(shards[0].model), parameterBits(shards[1].model)).isEmpty)
        #expect(shards[0].state.balancer == shards[1].state.balancer)
    }

    /// Mixup and crop mix images of the batch and draw from one generator: every rank
    /// augments the whole batch the same way and keeps its rows.
    @Test func augmentedBatchesShardLikeOneProcess() throws {
        let yaml =
            tinyRecipeYAML(steps: 5, datasets: Self.twoDatasets) + """
                augmentation:
                  digits:
                    - {kind: hflip}
                    - {kind: noise, std: 0.2}
                    - {kind: mixup}
                    - {kind: crop, minScale: 0.5}

                """
        let recipe = try Recipe.parse(yaml: yaml, source: "a.yaml", overrides: ["optimizer.kind=sgd"])
        let (single, shards) = try Self.runBoth(recipe, steps: 5)
        let relative = Self.maxRelativeDifference(shards[0], single)
        print("data-parallel with augmentation: max relative parameter difference \(relative)")
        #expect(relative <= 1e-5)
        #expect(differingNames(parameterBits(shards[0].model), parameterBits(shards[1].model)).isEmpty)
        #expect(shards[0].state.augmentationGenerator == single.state.augmentationGenerator)
    }

    @Test func aBatchTheRanksCannotSplitIsAnErrorNamingTheDatasetAndN() throws {
        let trainer = try tinyTrainer(try tinyRecipe(datasets: Self.twoDatasets))
        let error = try #require(throws: TrainingError.self) {
            try trainer.distribute(over: ThreadGroup(size: 3).rank(0))
        }
        #expect(error.description.contains("'digits'"))
        #expect(error.description.contains("3 ranks"))
        #expect(!trainer.isDistributedForTests)
    }

    /// Loss and output gradient of each task on 2 shards equal those on the whole batch.
    @Test(arguments: [TaskKind.classification, .segmentation, .detection])
    func shardedLossesEqualTheWholeBatchLoss(task: TaskKind) throws {
        let geometry = TaskGeometry(classes: 3, imageHeight: 16, imageWidth: 16, patchSize: 4)
        let batch = 4
        var rng = SeededGenerator(seed: 11)
        let (targets, shape) = Self.randomTargets(task, batch: batch, geometry: geometry, rng: &rng)
        let outputs = Tensor(shape: shape, storage: (0..<shape.reduce(1, *)).map { _ in rng.uniform() * 4 - 2 })
        let whole = try targets.loss(outputs: outputs, geometry: geometry)
        let group = ThreadGroup(size: 2)
        let results = ResultBox(count: 2)
        try group.run { r in
            let rows = r * batch / 2..<(r + 1) * batch / 2
            let part = Self.slice(targets, rows: rows, batch: batch)
            let plane = shape.dropFirst().reduce(1, *)
            let shardOutputs = Tensor(
                shape: [rows.count] + shape.dropFirst(),
                storage: Array(outputs.storage[rows.lowerBound * plane..<rows.upperBound * plane]))
            var result = try part.loss(outputs: shardOutputs, geometry: geometry)
            try ShardedLoss.globalize(&result, targets: part, geometry: geometry, collective: group.rank(r))
            results.set(r, result)
        }
        let shards = results.values
        #expect(abs(shards[0].loss - whole.loss) <= 1e-6 * abs(whole.loss))
        #expect(shards[0].loss == shards[1].loss)
        let joined = shards[0].gradient.storage + shards[1].gradient.storage
        let scale = whole.gradient.storage.map(abs).max() ?? 1
        let diff = zip(joined, whole.gradient.storage).map { abs($0 - $1) }.max() ?? 0
        #expect(diff <= 1e-6 * scale, "\(task): gradient difference \(diff) of \(scale)")
    }

    static func randomTargets(
        _ task: TaskKind, batch: Int, geometry: TaskGeometry, rng: inout SeededGenerator
    ) -> (TaskTargets, [Int]) {
        let k = geometry.classes
        switch task {
        case .classification:
            return (.labels((0..<batch).map { _ in Int32(rng.next() % UInt64(k)) }), [batch, k])
        case .segmentation:
            // Shards with different numbers of ignored pixels: the normaliser must be global.
            let masks = (0..<batch * geometry.pixels).map { i -> Int32 in
                i < geometry.pixels / 2 ? -1 : Int32(rng.next() % UInt64(k + 1))
            }
            return (.masks(masks), [batch, geometry.cells, k + 1])
        case .detection:
            // Image 0 has 2 boxes, image 2 one, the others none: uneven positives per shard.
            let boxes: [[Box]] = [
                [Box(x0: 1, y0: 1, x1: 7, y1: 9, label: 0), Box(x0: 8, y0: 4, x1: 15, y1: 12, label: 2)],
                [], [Box(x0: 3, y0: 2, x1: 12, y1: 10, label: 1)], [],
            ]
            return (.boxes(boxes), [batch, geometry.cells, k + 5])
        }
    }

    static func slice(_ targets: TaskTargets, rows: Range<Int>, batch: Int) -> TaskTargets {
        switch targets {
        case .labels(let l): .labels(Array(l[rows]))
        case .boxes(let b): .boxes(Array(b[rows]))
        case .masks(let m):
            .masks(Array(m[rows.lowerBound * (m.count / batch)..<rows.upperBound * (m.count / batch)]))
        }
    }
}

/// Per-rank results written from the ranks' threads.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [TaskLossResult?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: TaskLossResult) {
        lock.lock()
        slots[i] = value
        lock.unlock()
    }
    var values: [TaskLossResult] { slots.map { $0! } }
}

extension Trainer {
    var isDistributedForTests: Bool { isDistributed }
}
