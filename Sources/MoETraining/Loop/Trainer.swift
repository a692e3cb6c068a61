import Foundation
import MoECheckpoint
import MoEData
import MoEModel
import MoETensor

/// What one optimiser step did.
public struct StepReport: Sendable {
    public var step: Int
    public var dataset: String
    public var loss: Float
    public var learningRate: Float
    public var gradientNorm: Float
    public var images: Int
}

/// The training loop: the two-step sampler picks a dataset, its next batch runs forward and
/// backward, the optimiser steps with the scheduled LR (nanoGPT's loop, heterogeneous).
public final class Trainer {
    public let recipe: Recipe
    public let model: VisionMoE
    public private(set) var optimizer: any Optimizer
    public private(set) var state: TrainingState
    public let data: [RunDataset]
    /// Operations that produced the weights (carried into the checkpoint).
    public var history: [String]

    private var images = Tensor(shape: [0])
    private var labels: [Int32] = []
    private let samplingWeights: [Double]

    /// A fresh run: model initialised from the recipe's seed.
    public convenience init(recipe: Recipe, data: [RunDataset]) throws {
        let model = try VisionMoE(config: recipe.modelConfig(for: data), seed: recipe.seed)
        try self.init(
            recipe: recipe, data: data, model: model, optimizer: makeOptimizer(recipe.optimizer),
            state: TrainingState(recipe: recipe, data: data, totalSteps: recipe.totalSteps(for: data)),
            history: ["pretrain \(recipe.name)"])
    }

    public init(
        recipe: Recipe, data: [RunDataset], model: VisionMoE, optimizer: any Optimizer,
        state: TrainingState, history: [String]
    ) throws {
        for d in data where !model.config.datasets.contains(where: { $0.name == d.name }) {
            throw TrainingError.datasetMismatch(detail: "the model has no head for dataset '\(d.name)'")
        }
        self.recipe = recipe
        self.data = data
        self.model = model
        self.optimizer = optimizer
        self.state = state
        self.history = history
        samplingWeights = data.map(\.recipe.samplingWeight)
    }

    /// Continues the run saved in `checkpoint`: weights, optimiser moments, sampler state.
    /// `totalSteps` may extend the run.
    public convenience init(resuming checkpoint: Checkpoint, path: String, totalSteps: Int? = nil) throws {
        let recipe = try RunCheckpoint.recipe(checkpoint)
        let model = try RunCheckpoint.loadModel(checkpoint, path: path)
        guard checkpoint.metadata[RunCheckpoint.Key.trainingState] != nil else {
            throw TrainingError.missingState(path: path, key: RunCheckpoint.Key.trainingState)
        }
        var state = try checkpoint.decodeMetadata(
            TrainingState.self, key: RunCheckpoint.Key.trainingState)
        if let totalSteps { state.totalSteps = totalSteps }
        var optimizer = makeOptimizer(recipe.optimizer)
        let optimizerTensors = Dictionary(
            uniqueKeysWithValues: checkpoint.tensors
                .filter { $0.name.hasPrefix(RunCheckpoint.optimizerPrefix) }
                .map { ($0.name, $0.tensor) })
        let optimizerMetadata = try checkpoint.decodeMetadata(
            [String: String].self, key: RunCheckpoint.Key.optimizer)
        try optimizer.loadState(
            tensors: optimizerTensors, metadata: optimizerMetadata, store: model.store)
        try self.init(
            recipe: recipe, data: try RunDataset.loadAll(recipe), model: model,
            optimizer: optimizer, state: state, history: RunCheckpoint.history(checkpoint))
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

    /// One optimiser step on one sampled batch. Throws on a NaN/Inf loss before touching
    /// the weights, so the last checkpoint stays the last good state.
    @discardableResult
    public func step() throws -> StepReport {
        let t = chooseDataset()
        let dataset = data[t]
        let indices = state.batchSamplers[dataset.name]!.next()
        dataset.train.makeBatch(indices: indices, into: &images, labels: &labels)

        model.store.zeroGradients()
        let logits = try model.forward(images: images, dataset: dataset.name)
        let (rows, classes) = (logits.shape[0], logits.shape[1])
        var losses = [Float](repeating: 0, count: rows)
        var probs = [Float](repeating: 0, count: rows * classes)
        logits.withUnsafePointer { l in
            crossEntropyForward(
                losses: &losses, probs: &probs, logits: l, targets: labels, rows: rows,
                classes: classes)
        }
        let loss = losses.reduce(0, +) / Float(rows)
        guard loss.isFinite else {
            throw TrainingError.nonFiniteLoss(step: state.step + 1, dataset: dataset.name, lastCheckpoint: nil)
        }
        var dlogits = Tensor(shape: logits.shape)
        dlogits.withUnsafeMutablePointer { d in
            crossEntropyBackward(
                dlogits: d, probs: probs, targets: labels,
                scale: dataset.recipe.lossWeight / Float(rows), rows: rows, classes: classes)
        }
        model.backward(outputGradient: dlogits)

        let norm = GradientClipping.clip(model.store, maxNorm: recipe.optimizer.clipNorm)
        guard norm.isFinite else {
            throw TrainingError.nonFiniteLoss(step: state.step + 1, dataset: dataset.name, lastCheckpoint: nil)
        }
        let lr = recipe.schedule.learningRate(
            step: state.step, totalSteps: state.totalSteps, peakLR: recipe.optimizer.learningRate)
        optimizer.step(model.store, lr: lr)
        state.step += 1
        state.imagesSeen[dataset.name, default: 0] += rows
        return StepReport(
            step: state.step, dataset: dataset.name, loss: loss, learningRate: lr,
            gradientNorm: norm, images: rows)
    }

    /// Test-split metrics of every dataset, by name.
    public func evaluate() throws -> [String: ClassificationMetrics] {
        var result: [String: ClassificationMetrics] = [:]
        for d in data {
            result[d.name] = try Evaluation.classify(
                model: model, dataset: d.name, data: d.test, batchSize: recipe.training.evalBatchSize)
        }
        return result
    }

    /// A checkpoint of the current state, resumable bit for bit.
    public func checkpoint() throws -> Checkpoint {
        try RunCheckpoint.make(
            model: model, recipe: recipe, state: state, optimizer: optimizer, history: history)
    }

    /// Adds wall time spent in steps (kept across resumes for ETA and reports).
    public func addTrainingTime(_ seconds: Double) { state.trainingSeconds += seconds }
}
