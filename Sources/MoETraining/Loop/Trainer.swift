import Foundation
import MoEBalancing
import MoECheckpoint
import MoEModel
import MoEOptim
import MoERecipe
import MoETasks
import MoETensor

/// What one optimiser step did.
public struct StepReport: Sendable {
    public var step: Int
    public var dataset: String
    public var loss: Float
    public var learningRate: Float
    public var gradientNorm: Float
    public var images: Int
    /// w_MI · Σ_layers L_MI of this step (the surrogate's value, not MI).
    public var mutualInformationLoss: Float
    /// roundRobin: each dataset's unweighted loss and the weight it was multiplied by.
    public var taskLosses: [String: Float] = [:]
    public var taskWeights: [String: Float] = [:]
    /// roundRobin, every `training.diagnosticsEvery` steps: gradient-conflict diagnostics.
    public var diagnostics: GradientDiagnostics?
}

/// The training loop: the two-step sampler picks a dataset, its next batch runs forward and
/// backward, the optimiser steps with the scheduled LR (nanoGPT's loop, heterogeneous).
public final class Trainer {
    public let recipe: Recipe
    public let model: VisionMoE
    public internal(set) var optimizer: any Optimizer
    public internal(set) var state: TrainingState
    public let data: [RunDataset]
    /// Operations that produced the weights (carried into the checkpoint).
    public var history: [String]

    var images = Tensor(shape: [0])
    private let samplingWeights: [Double]
    /// The balancing method (its learned state is mirrored into `state.balancer`).
    public internal(set) var balancer: any GradientBalancer
    /// Shared vs per-dataset parameters and the flat layout of per-task gradient buffers.
    public let layout: TaskParameterLayout
    /// One shared-gradient buffer per task, allocated on first use and reused.
    var taskBuffers: [[Float]] = []
    /// Multiplies each dataset's loss (tests use it for loss-scale invariance checks).
    var taskLossScales: [Float]
    /// The ranks training together (`distribute(over:)`); one process by default.
    public internal(set) var collective: any Collective = SingleProcess()
    /// The flat buffer gradients are packed into for the data-parallel allreduce.
    var gradientBucket: [Float] = []
    /// The same for the sharded expert banks' same-expert sum.
    var expertGradientBucket: [Float] = []
    /// P of expert parallelism (1: every rank runs every expert; DESIGN §11.2).
    public internal(set) var expertGroupSize = 1
    /// This rank's slice of the expert banks, when expert parallelism shards the store.
    var expertShard: ExpertShard?

    /// A fresh run: model initialised from the recipe's seed.
    public convenience init(recipe: Recipe, data: [RunDataset]) throws {
        // The batch sampler drops partial batches, so a batch larger than the split never comes.
        for d in data where d.recipe.batchSize > d.train.count {
            throw TrainingError.datasetMismatch(
                detail: "dataset '\(d.name)' has \(d.train.count) training images, fewer than its "
                    + "batch size \(d.recipe.batchSize) (hint: lower datasets.\(d.name).batchSize)")
        }
        let model = try VisionMoE(config: recipe.modelConfig(for: data), seed: recipe.seed)
        try self.init(
            recipe: recipe, data: data, model: model,
            optimizer: makeOptimizer(recipe.optimizer, tasks: data.map(\.name)),
            state: TrainingState(
                recipe: recipe, data: data, totalSteps: recipe.totalSteps(for: data),
                moeLayers: model.moeLayerCount),
            history: ["pretrain \(recipe.name)"])
    }

    /// Builds a trainer from its parts. `state` is validated against them (errors name
    /// `stateSource`), and the trainable flags it saved are applied to the model.
    public init(
        recipe: Recipe, data: [RunDataset], model: VisionMoE, optimizer: any Optimizer,
        state: TrainingState, history: [String], stateSource: String = "the training state"
    ) throws {
        for d in data where !model.config.datasets.contains(where: { $0.name == d.name }) {
            throw TrainingError.datasetMismatch(detail: "the model has no head for dataset '\(d.name)'")
        }
        try state.validate(recipe: recipe, data: data, model: model, source: stateSource)
        for flags in state.parameterFlags ?? [] {
            let p = try model.store.parameter(named: flags.name)
            p.isTrainable = flags.isTrainable
            p.trainableSlices = flags.trainableSlices
            p.decays = flags.decays
        }
        try MemoryBudget.check(
            config: model.config,
            batch: max(data.map(\.recipe.batchSize).max() ?? 1, recipe.training.evalBatchSize),
            tasks: data.count, perTaskMoments: optimizer.keepsPerTaskMoments)
        self.recipe = recipe
        self.data = data
        self.model = model
        self.optimizer = optimizer
        self.state = state
        self.history = history
        samplingWeights = data.map(\.recipe.samplingWeight)
        taskLossScales = Array(repeating: 1, count: data.count)
        layout = TaskParameterLayout(store: model.store, datasets: data.map(\.name))
        balancer = makeBalancer(
            recipe.balancing, datasets: data.map(\.name), lossWeights: data.map(\.recipe.lossWeight),
            seed: recipe.seed, depth: model.config.depth)
        if recipe.stepMode == .roundRobin {
            if let saved = state.balancer { balancer.state = saved } else { self.state.balancer = balancer.state }
        }
    }

    /// Continues the run saved in `checkpoint`: weights, optimiser moments, sampler state.
    /// `totalSteps` may extend the run.
    public convenience init(resuming checkpoint: Checkpoint, path: String, totalSteps: Int? = nil) throws {
        let recipe = try RunCheckpoint.recipe(checkpoint, path: path)
        let model = try RunCheckpoint.loadModel(checkpoint, path: path)
        var state = try RunCheckpoint.trainingState(checkpoint, path: path)
        if let totalSteps { state.totalSteps = totalSteps }
        let all = try RunDataset.loadAll(recipe)
        let data =
            try state.trainedDatasets.map { names in
                try names.map { name in
                    guard let d = all.first(where: { $0.name == name }) else {
                        throw TrainingError.invalidState(
                            path: path, field: "trainedDatasets", detail: "names '\(name)', which the recipe lacks")
                    }
                    return d
                }
            } ?? all
        var optimizer = makeOptimizer(recipe.optimizer, tasks: data.map(\.name))
        let optimizerTensors = Dictionary(
            uniqueKeysWithValues: checkpoint.tensors
                .filter { $0.name.hasPrefix(RunCheckpoint.optimizerPrefix) }
                .map { ($0.name, $0.tensor) })
        let optimizerMetadata = try checkpoint.decodeMetadata(
            [String: String].self, key: RunCheckpoint.Key.optimizer)
        try optimizer.loadState(
            tensors: optimizerTensors, metadata: optimizerMetadata, store: model.store)
        try self.init(
            recipe: recipe, data: data, model: model, optimizer: optimizer, state: state,
            history: RunCheckpoint.history(checkpoint), stateSource: path)
    }

    public var isFinished: Bool { state.step >= state.totalSteps }

    /// Draws the next dataset: t ~ Categorical(s / Σ s) from the saved generator.
    func chooseDataset() -> Int {
        if data.count == 1 { return 0 }
        let total = samplingWeights.reduce(0, +)
        var u = Double(state.datasetChooser.uniform()) * total
        for (i, w) in samplingWeights.enumerated() {
            if u < w { return i }
            u -= w
        }
        return data.count - 1
    }

    /// Test-split metrics of every dataset, by name. Data-parallel, every rank must call it:
    /// each evaluates its shard of every test split and all receive the whole split's
    /// metrics (DESIGN §11.3). A sharded expert store is gathered for it (§11.2).
    public func evaluate() throws -> [String: TaskMetrics] {
        try withFullExpertBanks {
            var result: [String: TaskMetrics] = [:]
            for d in data {
                result[d.name] = try Evaluation.evaluate(
                    model: model, dataset: d, batchSize: recipe.training.evalBatchSize, collective: collective)
            }
            return result
        }
    }

    /// True mutual information between datasets and experts of each MoE layer's buffer.
    public var bufferMutualInformation: [Double] { state.mutualInformation.map(\.mutualInformation) }

    /// A checkpoint of the current state, resumable bit for bit. With a sharded expert store
    /// it holds the full banks gathered within the group, so every rank must call it.
    public func checkpoint() throws -> Checkpoint {
        var state = state
        let names = data.map(\.name)
        state.trainedDatasets = names == recipe.datasets.map(\.name) ? nil : names
        let parameters = model.store.parameters
        let allDefault = parameters.allSatisfy {
            $0.isTrainable && $0.trainableSlices == nil && $0.decays == !isExcludedFromWeightDecay($0.name)
        }
        state.parameterFlags =
            allDefault
            ? nil
            : parameters.map {
                ParameterFlags(
                    name: $0.name, isTrainable: $0.isTrainable, trainableSlices: fullTrainableSlices($0),
                    decays: $0.decays)
            }
        return try gatheringExpertBanks(
            RunCheckpoint.make(model: model, recipe: recipe, state: state, optimizer: optimizer, history: history))
    }

    /// Adds wall time spent in steps (kept across resumes for ETA and reports).
    public func addTrainingTime(_ seconds: Double) { state.trainingSeconds += seconds }
}
