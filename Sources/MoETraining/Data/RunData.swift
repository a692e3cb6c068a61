import MoEData
import MoEModel
import MoERecipe

/// A dataset of a run, loaded: its recipe entry, train and test splits, and the spec the
/// model's head and router are built from.
public struct RunDataset: Sendable {
    public let recipe: DatasetRecipe
    public let train: any TaskSplit
    public let test: any TaskSplit
    /// Class names (own-image sources), stored in the checkpoint's spec.
    public var classNames: [String]? = nil
    /// Per-channel normalisation of own-image sources, stored so `predict` uses the same.
    public var inputMean: [Float]? = nil
    public var inputStd: [Float]? = nil

    public var name: String { recipe.name }
    public var task: TaskKind { recipe.task }

    /// What the model needs to know about this dataset.
    public var spec: DatasetSpec {
        var spec = DatasetSpec(
            name: recipe.name, task: recipe.task, classes: train.classes,
            height: train.height, width: train.width)
        spec.classNames = classNames
        spec.inputMean = inputMean
        spec.inputStd = inputStd
        return spec
    }

    /// Loads the splits of one recipe entry from its source. `items` caches Fashion-MNIST
    /// splits shared by several datasets of a run; `model` gives own-image sources their
    /// channels and default input size.
    public static func load(
        _ recipe: DatasetRecipe, seed: UInt64, items: FashionMNISTCache = FashionMNISTCache(),
        model: ModelConfig = ModelConfig()
    ) throws -> RunDataset {
        switch recipe.source {
        case .folder, .coco, .masks:
            return try loadOwnImages(recipe, seed: seed, model: model)
        case .fashionMNIST:
            let directory = recipe.path ?? FashionMNIST.defaultDirectory
            return RunDataset(
                recipe: recipe,
                train: ClassificationSplit(try items.load(.train, directory: directory)),
                test: ClassificationSplit(try items.load(.test, directory: directory)))
        case .digits:
            var all = try Digits.load(path: recipe.path ?? Digits.defaultPath)
            if let side = recipe.resize { all = try all.resized(height: side, width: side) }
            let (train, test) = Digits.split(all, testFraction: recipe.testFraction, seed: seed)
            return RunDataset(
                recipe: recipe, train: ClassificationSplit(train), test: ClassificationSplit(test))
        case .scenes:
            let directory = recipe.path ?? FashionMNIST.defaultDirectory
            let config = recipe.scene ?? SceneConfig()
            let train = try SceneGenerator(
                items: items.load(.train, directory: directory), split: .train, config: config,
                seed: seed)
            let test = try SceneGenerator(
                items: items.load(.test, directory: directory), split: .test, config: config,
                seed: seed)
            let (mean, std) = train.pixelStatistics(scenes: 256)
            return RunDataset(
                recipe: recipe,
                train: SceneSplit(generator: train, task: recipe.task, count: recipe.trainSize, mean: mean, std: std),
                test: SceneSplit(generator: test, task: recipe.task, count: recipe.testSize, mean: mean, std: std))
        }
    }

    /// Loads every dataset of `recipe`, in recipe order.
    public static func loadAll(_ recipe: Recipe) throws -> [RunDataset] {
        let items = FashionMNISTCache()
        return try recipe.datasets.map { try load($0, seed: recipe.seed, items: items, model: recipe.model) }
    }
}

/// Loads each Fashion-MNIST split once per run, however many datasets use it.
public final class FashionMNISTCache: @unchecked Sendable {
    private var loaded: [String: ImageDataset] = [:]

    public init() {}

    func load(_ split: FashionMNIST.Split, directory: String) throws -> ImageDataset {
        let key = "\(directory)|\(split.rawValue)"
        if let hit = loaded[key] { return hit }
        let data = try FashionMNIST.load(split: split, directory: directory)
        loaded[key] = data
        return data
    }
}

extension Recipe {
    /// The model config with the datasets' heads and routers filled in from the data.
    public func modelConfig(for data: [RunDataset]) -> ModelConfig {
        var config = model
        config.datasets = data.map(\.spec)
        return config
    }

    /// Total optimiser steps: `training.steps`, or epochs × Σ_t batches per epoch of t
    /// (sampled), or epochs × max_t batches per epoch of t (roundRobin: every step takes a
    /// batch of every dataset; an epoch is the longest dataset's, as in LibMTL).
    public func totalSteps(for data: [RunDataset]) -> Int {
        if let steps = training.steps { return steps }
        let perDataset = data.map { Double($0.train.count / $0.recipe.batchSize) }
        let batches =
            stepMode == .roundRobin
            ? perDataset.max() ?? 0 : perDataset.reduce(0, +)
        return max(1, Int(((training.epochs ?? 1) * batches).rounded()))
    }
}
