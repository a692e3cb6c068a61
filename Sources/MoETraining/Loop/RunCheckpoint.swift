import Foundation
import MoECheckpoint
import MoEModel
import MoEOptim
import MoERecipe
import MoETasks

/// Model, recipe, optimiser and training state to and from one checkpoint file
/// (DESIGN §7: a zstd frame holding a safetensors file).
public enum RunCheckpoint {
    /// Tensor-name prefix of optimiser state; everything else is a model parameter.
    public static let optimizerPrefix = OptimizerState.prefix

    /// Metadata keys.
    public enum Key {
        public static let modelConfig = "model_config"
        public static let recipe = "recipe"
        public static let datasets = "datasets"
        public static let trainingState = "training_state"
        public static let optimizer = "optimizer"
        public static let history = "history"
    }

    /// A checkpoint of `model` with everything needed to evaluate it, and, when `optimizer`
    /// and `state` are given, to resume training bit for bit.
    public static func make(
        model: VisionMoE, recipe: Recipe, state: TrainingState?, optimizer: (any Optimizer)?,
        history: [String] = []
    ) throws -> Checkpoint {
        var tensors = model.store.parameters.map { NamedTensor($0.name, $0.value) }
        var metadata: [String: String] = [
            Key.modelConfig: try Checkpoint.encodeMetadata(model.config),
            Key.recipe: try recipe.jsonString(),
            Key.datasets: try Checkpoint.encodeMetadata(model.config.datasets),
            Key.history: try Checkpoint.encodeMetadata(history),
        ]
        if let state { metadata[Key.trainingState] = try Checkpoint.encodeMetadata(state) }
        if let optimizer {
            tensors += optimizer.stateTensors().map { NamedTensor($0.name, $0.tensor) }
            metadata[Key.optimizer] = try Checkpoint.encodeMetadata(optimizer.stateMetadata)
        }
        return Checkpoint(tensors: tensors, metadata: metadata)
    }

    /// Rebuilds the model saved in `checkpoint`; every parameter must be present with its
    /// shape, and no unknown tensor may be left over.
    /// The stored model config (not yet validated; `VisionMoE` validates it).
    public static func modelConfig(_ checkpoint: Checkpoint, path: String) throws -> ModelConfig {
        try decode(ModelConfig.self, checkpoint, key: Key.modelConfig, path: path)
    }

    public static func loadModel(_ checkpoint: Checkpoint, path: String) throws -> VisionMoE {
        let config = try modelConfig(checkpoint, path: path)
        let model = try VisionMoE(config: config, seed: 0)
        for parameter in model.store.parameters {
            let value = try checkpoint.tensor(parameter.name, shape: parameter.value.shape)
            guard value.storage.allSatisfy(\.isFinite) else {
                throw TrainingError.nonFiniteWeights(name: parameter.name, path: path)
            }
            parameter.value = value
        }
        for t in checkpoint.tensors
        where !t.name.hasPrefix(optimizerPrefix) && !model.store.contains(t.name) {
            throw TrainingError.unexpectedTensor(name: t.name, path: path)
        }
        return model
    }

    /// The recipe a checkpoint was trained with, decoded and validated like a recipe file.
    public static func recipe(_ checkpoint: Checkpoint, path: String = "checkpoint") throws -> Recipe {
        try Recipe.stored(json: try text(checkpoint, key: Key.recipe, path: path), source: "\(path): stored recipe")
    }

    /// The saved training state (errors name the field); check it with `validate` against the
    /// data before use.
    public static func trainingState(_ checkpoint: Checkpoint, path: String) throws -> TrainingState {
        guard checkpoint.metadata[Key.trainingState] != nil else {
            throw TrainingError.missingState(path: path, key: Key.trainingState)
        }
        return try decode(TrainingState.self, checkpoint, key: Key.trainingState, path: path)
    }

    /// A metadata entry's text, or an error naming the missing key.
    static func text(_ checkpoint: Checkpoint, key: String, path: String) throws -> String {
        guard let text = checkpoint.metadata[key] else {
            throw CheckpointError.missingMetadata(key: key, path: path)
        }
        return text
    }

    /// Decodes a JSON metadata entry; errors name the file, the key and the field.
    static func decode<T: Decodable>(_ type: T.Type, _ checkpoint: Checkpoint, key: String, path: String) throws -> T {
        let source = "\(path): metadata '\(key)'"
        do {
            return try RecipeTreeDecoder.decode(type, json: try text(checkpoint, key: key, path: path), source: source)
        } catch let error as DecodingError {
            throw RecipeError.invalid(file: source, detail: Recipe.describe(error))
        }
    }

    /// The operations that made this checkpoint (pretrain, adapt, ...), oldest first.
    public static func history(_ checkpoint: Checkpoint) -> [String] {
        (try? checkpoint.decodeMetadata([String].self, key: Key.history)) ?? []
    }

    /// Reads a checkpoint file (typed errors with hints for every kind of damage).
    public static func read(path: String) throws -> Checkpoint {
        try Checkpoint.read(from: URL(fileURLWithPath: path))
    }
}
