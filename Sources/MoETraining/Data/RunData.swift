import MoEData
import MoEModel

/// A dataset of a run, loaded: its recipe entry, train and test splits, and the spec the
/// model's head and router are built from.
public struct RunDataset: Sendable {
    public let recipe: DatasetRecipe
    public let train: ImageDataset
    public let test: ImageDataset

    public var name: String { recipe.name }

    /// What the model needs to know about this dataset.
    public var spec: DatasetSpec {
        DatasetSpec(
            name: recipe.name, task: .classification, classes: train.classes,
            height: train.height, width: train.width)
    }

    /// Loads the splits of one recipe entry from its source.
    public static func load(_ recipe: DatasetRecipe, seed: UInt64) throws -> RunDataset {
        switch recipe.source {
        case .fashionMNIST:
            let directory = recipe.path ?? FashionMNIST.defaultDirectory
            return RunDataset(
                recipe: recipe,
                train: try FashionMNIST.load(split: .train, directory: directory),
                test: try FashionMNIST.load(split: .test, directory: directory))
        case .digits:
            let all = try Digits.load(path: recipe.path ?? Digits.defaultPath)
            let (train, test) = Digits.split(all, testFraction: recipe.testFraction, seed: seed)
            return RunDataset(recipe: recipe, train: train, test: test)
        }
    }

    /// Loads every dataset of `recipe`, in recipe order.
    public static func loadAll(_ recipe: Recipe) throws -> [RunDataset] {
        try recipe.datasets.map { try load($0, seed: recipe.seed) }
    }
}

extension Recipe {
    /// The model config with the datasets' heads and routers filled in from the data.
    public func modelConfig(for data: [RunDataset]) -> ModelConfig {
        var config = model
        config.datasets = data.map(\.spec)
        return config
    }

    /// Total optimiser steps: `training.steps`, or epochs × Σ_t batches per epoch of t.
    public func totalSteps(for data: [RunDataset]) -> Int {
        if let steps = training.steps { return steps }
        let batches = data.reduce(0.0) {
            $0 + Double($1.train.count / $1.recipe.batchSize)
        }
        return max(1, Int(((training.epochs ?? 1) * batches).rounded()))
    }
}
