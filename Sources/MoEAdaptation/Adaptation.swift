import Foundation
import MoEModel
import MoEOptim
import MoERecipe
import MoETensor
import MoETraining

/// Adaptation and continual-learning operations on a trained `VisionMoE` (DESIGN §6):
/// add a dataset and train its router (and optionally some experts), prune experts by a
/// dataset's usage, expand with new experts for a new dataset. Each returns the new model
/// and an `AdaptationRecord`; training runs through `Trainer`/`TrainingRun`, so progress,
/// `metrics.jsonl`, Ctrl-C and NaN handling behave as in `moe pretrain`.
public enum Adaptation {
    // MARK: - Measuring

    /// FLOPs of `model` on `dataset` over those of `source`'s architecture on the same input
    /// with the source's full K and all its experts.
    public static func flopsRatio(model: VisionMoE, dataset: String, source: ModelConfig) throws -> Double {
        let spec = try model.config.dataset(named: dataset)
        var plain = spec
        plain.routerExperts = nil
        plain.topK = nil
        plain.expertMask = nil
        let base = source.forwardFLOPs(spec: plain, batch: 1)
        return try model.forwardFLOPs(dataset: dataset, batch: 1) / base
    }

    /// Per MoE layer, the share of `dataset`'s token→expert assignments each expert gets,
    /// over the first `images` training images (rows sum to 1).
    public static func measureUsage(
        model: VisionMoE, dataset: RunDataset, images: Int = 512, batchSize: Int = 128
    ) throws -> [[Double]] {
        try ExpertUsage.measure(
            model: model, dataset: dataset, images: images, training: true, batchSize: batchSize)
    }

    /// The record of `operation` turning `source` into `model` for `dataset`: parameter
    /// counts, FLOPs ratio and the run's final test metric.
    /// - Throws: when the run ended without an evaluation (interrupted).
    static func makeRecord(
        _ operation: String, dataset: String, settings: [String: String], model: VisionMoE,
        source: VisionMoE, summary: RunSummary, trainable: Int
    ) throws -> AdaptationRecord {
        guard let metrics = summary.metrics[dataset] else {
            throw AdaptationError.invalid("the run of '\(dataset)' ended without an evaluation (interrupted?)")
        }
        return AdaptationRecord(
            operation: operation, dataset: dataset, settings: settings, trainableParameters: trainable,
            modelParameters: model.store.scalarCount, sourceParameters: source.store.scalarCount,
            flopsRatio: try flopsRatio(model: model, dataset: dataset, source: source.config),
            metricName: metrics.primaryName, metric: metrics.primary)
    }

    // MARK: - Recipes

    /// The recipe saved with an adapted model: the source run's seed and its datasets that
    /// the model still has, then `adaptation`'s new datasets; optimiser, schedule and
    /// training settings of `adaptation`. Data always loads with the source seed, so every
    /// dataset's splits stay the ones it was trained and evaluated on.
    public static func mergedRecipe(source: Recipe, adaptation: Recipe, model: ModelConfig) -> Recipe {
        var merged = adaptation
        merged.seed = source.seed
        var architecture = model
        architecture.datasets = []
        merged.model = architecture
        let names = Set(model.datasets.map(\.name))
        var datasets = source.datasets.filter { names.contains($0.name) }
        for d in adaptation.datasets where names.contains(d.name) && !datasets.contains(where: { $0.name == d.name }) {
            datasets.append(d)
        }
        merged.datasets = datasets
        merged.output = nil
        return merged
    }

    // MARK: - Training

    /// Trains `model` on `dataset` for `steps` steps with `policy` deciding what learns,
    /// writing `checkpointPath` (no optimiser state: adaptation runs are not resumable) and
    /// `metrics.jsonl` beside it. `recipe` supplies optimiser, schedule and logging and is
    /// saved in the checkpoint. Returns the run summary (final test metrics included).
    ///
    /// With a `collective` of N > 1 ranks the run is data-parallel (DESIGN §11.1, through
    /// `Trainer.distribute(over:)`): every rank must call this with the same model, data and
    /// recipe; rank 0 alone logs and writes the checkpoint, every rank gets the metrics.
    public static func train(
        _ model: VisionMoE, dataset: RunDataset, policy: any FreezingPolicy, recipe: Recipe,
        steps: Int, checkpointPath: String, history: [String], collective: any Collective = SingleProcess(),
        progress: @escaping (String, Bool) -> Void
    ) throws -> RunSummary {
        try policy.apply(to: model, dataset: dataset.name)
        let state = TrainingState(
            recipe: recipe, data: [dataset], totalSteps: steps, moeLayers: model.moeLayerCount)
        let trainer = try Trainer(
            recipe: recipe, data: [dataset], model: model,
            optimizer: makeOptimizer(recipe.optimizer, tasks: [dataset.name]), state: state, history: history)
        if collective.size > 1 { try trainer.distribute(over: collective) }
        let log =
            collective.rank == 0
            ? try MetricsLog(path: MetricsLog.path(besideCheckpoint: checkpointPath), append: true, tensorBoard: true)
            : nil
        try log?.write(["event": "adapt", "dataset": dataset.name, "policy": policy.name, "steps": steps])
        let run = TrainingRun(trainer: trainer, checkpointPath: checkpointPath, log: log, progress: progress)
        let summary = try run.run()
        if summary.outcome == .interrupted { throw TrainingError.interrupted(checkpoint: checkpointPath) }
        // Expert parallelism may have sharded the banks: `model` goes on whole (DESIGN §11.2).
        try trainer.unshardExpertStore()
        return summary
    }

    /// Writes the final checkpoint: weights, config, recipe and history (the record appended).
    public static func save(
        _ model: VisionMoE, recipe: Recipe, history: [String], record: AdaptationRecord, path: String
    ) throws {
        let checkpoint = try RunCheckpoint.make(
            model: model, recipe: recipe, state: nil, optimizer: nil,
            history: history + [record.historyLine])
        try checkpoint.write(to: URL(fileURLWithPath: path))
    }

    // MARK: - Operations

    /// Settings of `adapt`.
    public struct AdaptSettings: Sendable {
        /// Freeze the backbone (false: full fine-tuning, the baseline).
        public var routerOnly: Bool = true
        /// Experts per MoE layer that also learn (with `routerOnly`).
        public var experts: Int = 0
        public var selection: ExpertSelection = .random
        /// K for the dataset (Top-K reduction); nil keeps the model's.
        public var topK: Int?
        public var steps: Int = 200
        /// Seeds the new head and the random expert choice.
        public var seed: UInt64 = 0
        public init() {}
    }

    /// `moe adapt`: adds `dataset` (router per MoE layer + head) unless the model has it,
    /// optionally sets its K, and trains what `settings` allows. With `most-used` or
    /// `least-used` experts, the router first trains alone for a quarter of the steps, then
    /// the experts are chosen by the usage that router produces on the training images.
    public static func adapt(
        _ source: VisionMoE, dataset: RunDataset, settings: AdaptSettings, recipe: Recipe,
        history: [String], checkpointPath: String, collective: any Collective = SingleProcess(),
        progress: @escaping (String, Bool) -> Void
    ) throws -> (VisionMoE, AdaptationRecord) {
        let name = dataset.name
        var model = source
        if !source.config.datasets.contains(where: { $0.name == name }) {
            model = try source.addingDataset(dataset.spec, seed: settings.seed)
        }
        if let k = settings.topK {
            let spec = try model.config.dataset(named: name)
            let visible = model.config.routerExperts(of: spec)
            guard k >= 1 && k <= visible else {
                throw AdaptationError.invalid(
                    "--top-k \(k) must be between 1 and the experts the router covers (\(visible))")
            }
            model = try model.settingTopK(k, datasets: [name])
        }
        guard settings.experts >= 0 && settings.experts <= model.config.experts else {
            throw AdaptationError.invalid(
                "--experts \(settings.experts) must be between 0 and the model's experts (\(model.config.experts))")
        }
        var summary: RunSummary
        var policyName = settings.routerOnly ? RouterOnly().name : FullFineTune().name
        var chosen: [[Int]] = []
        if !settings.routerOnly {
            summary = try train(
                model, dataset: dataset, policy: FullFineTune(), recipe: recipe,
                steps: settings.steps, checkpointPath: checkpointPath, history: history,
                collective: collective, progress: progress)
        } else if settings.experts == 0 {
            summary = try train(
                model, dataset: dataset, policy: RouterOnly(), recipe: recipe,
                steps: settings.steps, checkpointPath: checkpointPath, history: history,
                collective: collective, progress: progress)
        } else {
            var remaining = settings.steps
            var usage = [[Double]](
                repeating: [Double](repeating: 0, count: model.config.experts), count: model.moeLayerCount)
            if settings.selection != .random {
                let warmup = max(1, settings.steps / 4)
                progress("router warm-up: \(warmup) steps before choosing \(settings.selection.rawValue) experts", true)
                summary = try train(
                    model, dataset: dataset, policy: RouterOnly(), recipe: recipe,
                    steps: warmup, checkpointPath: checkpointPath, history: history,
                    collective: collective, progress: progress)
                usage = try measureUsage(model: model, dataset: dataset)
                remaining -= warmup
            }
            chosen = settings.selection.choose(count: settings.experts, usage: usage, seed: settings.seed)
            let policy = RouterAndExperts(experts: chosen)
            policyName = policy.name
            summary = try train(
                model, dataset: dataset, policy: policy, recipe: recipe,
                steps: max(remaining, 0), checkpointPath: checkpointPath, history: history,
                collective: collective, progress: progress)
        }
        let trainable = model.store.trainableScalarCount
        var details = [
            "policy": policyName, "steps": String(settings.steps),
            "topK": String(model.config.topK(of: try model.config.dataset(named: name))),
        ]
        if !chosen.isEmpty {
            details["experts"] = chosen.map { $0.map(String.init).joined(separator: ",") }.joined(separator: ";")
            details["selection"] = settings.selection.rawValue
        }
        let record = try makeRecord(
            "adapt", dataset: name, settings: details, model: model, source: source, summary: summary,
            trainable: trainable)
        return (model, record)
    }

    /// How `prune` chooses the experts to keep.
    public enum PruneRule: Sendable, Equatable {
        /// The N most used experts of every layer.
        case keep(Int)
        /// Experts with at least this share (a fraction) of the assignments; every layer keeps
        /// the same number (the largest count over layers, at least K).
        case threshold(Double)
    }

    /// What learns while fine-tuning after pruning.
    public enum FinetunePolicy: String, Sendable, CaseIterable {
        case router
        case experts
        case all

        func policy(_ model: VisionMoE) -> any FreezingPolicy {
            switch self {
            case .router: RouterOnly()
            case .experts:
                RouterAndExperts(experts: Array(repeating: Array(0..<model.config.experts), count: model.moeLayerCount))
            case .all: FullFineTune()
            }
        }
    }

    /// Pruning: ranks experts by how often `dataset`'s router picks them on its training
    /// images, keeps the chosen ones (weights, router columns, masks and config together),
    /// drops the other datasets unless `keepOtherDatasets`, then fine-tunes for
    /// `finetuneSteps` steps (0: evaluate only).
    public static func prune(
        _ source: VisionMoE, dataset: RunDataset, rule: PruneRule, keepOtherDatasets: Bool,
        finetuneSteps: Int, finetune: FinetunePolicy, recipe: Recipe, history: [String],
        checkpointPath: String, usageImages: Int = 512, collective: any Collective = SingleProcess(),
        progress: @escaping (String, Bool) -> Void
    ) throws -> (VisionMoE, AdaptationRecord) {
        let name = dataset.name
        let spec = try source.config.dataset(named: name)
        let k = source.config.topK(of: spec)
        let usage = try measureUsage(model: source, dataset: dataset, images: usageImages)
        let kept: [[Int]]
        switch rule {
        case .keep(let n):
            guard n >= k && n <= source.config.experts else {
                throw AdaptationError.invalid(
                    "--keep \(n) must be between the dataset's top-K (\(k)) and the model's experts (\(source.config.experts))"
                )
            }
            kept = ExpertSelection.mostUsed.choose(count: n, usage: usage, seed: 0)
        case .threshold(let p):
            guard p >= 0 && p < 1 else {
                throw AdaptationError.invalid("--threshold \(p) must be a share in [0, 1)")
            }
            kept = ExpertSelection.aboveThreshold(p, usage: usage, minimum: k)
        }
        let narrowed = keepOtherDatasets ? source : try source.keepingDatasets([name])
        let model = try narrowed.keepingExperts(kept)
        let summary = try train(
            model, dataset: dataset, policy: finetune.policy(model), recipe: recipe,
            steps: finetuneSteps, checkpointPath: checkpointPath, history: history,
            collective: collective, progress: progress)
        let trainable = finetuneSteps > 0 ? model.store.trainableScalarCount : 0
        let keptShare = kept.enumerated().map { i, row in row.reduce(0) { $0 + usage[i][$1] } }
        let record = try makeRecord(
            "prune", dataset: name,
            settings: [
                "kept": kept.map { $0.map(String.init).joined(separator: ",") }.joined(separator: ";"),
                "keptUsage": keptShare.map { String(format: "%.3f", $0) }.joined(separator: ","),
                "experts": "\(source.config.experts)→\(model.config.experts)",
                "finetuneSteps": String(finetuneSteps), "finetune": finetune.rawValue,
                "datasets": model.config.datasets.map(\.name).joined(separator: ","),
            ],
            model: model, source: source, summary: summary, trainable: trainable)
        return (model, record)
    }

    /// Per MoE layer, how the source model's routers (averaged over its datasets whose
    /// routers cover every expert) spread `dataset`'s training images over the experts;
    /// nil when no router qualifies. Each old router is tried as the new dataset's router.
    public static func usageByOldRouters(
        _ source: VisionMoE, dataset: RunDataset, images: Int = 128
    ) throws -> [[Double]]? {
        let routers = source.config.datasets.filter {
            source.config.routerExperts(of: $0) == source.config.experts && $0.expertMask == nil
        }
        guard !routers.isEmpty else { return nil }
        let probe = try source.addingDataset(dataset.spec, seed: 0)
        var total = [[Double]](
            repeating: [Double](repeating: 0, count: source.config.experts), count: source.moeLayerCount)
        for spec in routers {
            for block in source.config.moeBlocks {
                let router = try source.store.parameter(named: ParameterName.router(block: block, dataset: spec.name))
                    .value
                try probe.store.setValue(router, for: ParameterName.router(block: block, dataset: dataset.name))
            }
            let usage = try measureUsage(model: probe, dataset: dataset, images: images)
            for l in usage.indices { for e in usage[l].indices { total[l][e] += usage[l][e] / Double(routers.count) } }
        }
        return total
    }

    /// Expansion: appends `count` experts per MoE layer (initialised by `initializer`),
    /// adds `dataset` with a router over old and new experts (zero towards the old ones,
    /// small random towards the new ones), and trains only the new
    /// experts, that router and its head. Old datasets' routers never see the new experts,
    /// so their outputs are bit-identical (zero forgetting).
    public static func expand(
        _ source: VisionMoE, dataset: RunDataset, count: Int, initializer: any ExpansionInitializer,
        steps: Int, seed: UInt64, recipe: Recipe, history: [String], checkpointPath: String,
        collective: any Collective = SingleProcess(), progress: @escaping (String, Bool) -> Void
    ) throws -> (VisionMoE, AdaptationRecord) {
        let name = dataset.name
        guard !source.config.datasets.contains(where: { $0.name == name }) else {
            throw AdaptationError.invalid(
                "the checkpoint already has a dataset '\(name)'; expansion adds a new one (rename it in the recipe)")
        }
        guard count >= 1 else { throw AdaptationError.invalid("--experts must be at least 1, got \(count)") }
        let old = source.config.experts
        let usage = try usageByOldRouters(source, dataset: dataset)
        let model = try source.appendingExperts(count, seed: seed).addingDataset(dataset.spec, seed: seed)
        var rng = SeededGenerator(seed: seed &+ 0x9E37)
        for (i, block) in model.config.moeBlocks.enumerated() {
            let names = ParameterName.ExpertPart.allCases.map { ParameterName.experts(block: block, $0) }
            let values = try names.map { try model.store.parameter(named: $0).value }
            var bank = ExpertBank(w1: values[0], b1: values[1], w2: values[2], b2: values[3])
            initializer.initialize(
                &bank, context: ExpansionContext(moeLayer: i, oldCount: old, usage: usage?[i]), rng: &rng)
            for ((part, tensor), before) in zip(bank.parts, values) {
                let size = before.count / (old + count)
                guard tensor.shape == before.shape,
                    tensor.storage[..<(old * size)] == before.storage[..<(old * size)]
                else {
                    throw AdaptationError.invalid(
                        "expansion initialiser '\(initializer.name)' changed an old expert or a shape (\(part.rawValue), layer \(i))"
                    )
                }
                try model.store.setValue(tensor, for: ParameterName.experts(block: block, part))
            }
        }
        // The new router starts neutral towards the old experts (zero columns) and with small
        // random columns (std 0.02) towards the new ones, so that new experts receive tokens
        // from the first step (an all-zero router would break its ties towards expert 0).
        for block in model.config.moeBlocks {
            let router = try model.store.parameter(named: ParameterName.router(block: block, dataset: name))
            let columns = old + count
            for r in 0..<router.value.shape[0] {
                for c in old..<columns { router.value.storage[r * columns + c] = rng.truncatedNormal(std: 0.02) }
            }
        }
        let newExperts = Array(repeating: Array(old..<(old + count)), count: model.moeLayerCount)
        let summary = try train(
            model, dataset: dataset, policy: RouterAndExperts(experts: newExperts),
            recipe: recipe, steps: steps, checkpointPath: checkpointPath, history: history,
            collective: collective, progress: progress)
        let trainable = model.store.trainableScalarCount
        let record = try makeRecord(
            "expand", dataset: name,
            settings: [
                "experts": "\(old)→\(old + count)", "init": initializer.name, "steps": String(steps),
                "oldRouterUsage": usage.map {
                    $0.map { $0.map { String(format: "%.3f", $0) }.joined(separator: ",") }.joined(separator: ";")
                } ?? "",
                "frozenDatasets": source.config.datasets.map(\.name).joined(separator: ","),
            ],
            model: model, source: source, summary: summary, trainable: trainable)
        return (model, record)
    }
}
