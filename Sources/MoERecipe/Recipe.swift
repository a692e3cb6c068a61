import Foundation
import MoEBalancing
import MoEData
import MoEModel
import MoEOptim

/// A whole run described as data: model, datasets, optimiser, schedule, length, output.
/// Read from YAML (`recipes/*.yaml`), overridable with `--set`, saved in every checkpoint.
public struct Recipe: Codable, Sendable, Equatable {
    public var name: String
    public var seed: UInt64 = 0
    /// Architecture; its `datasets` are filled in from the data when the run starts.
    public var model: ModelConfig
    public var datasets: [DatasetRecipe]
    public var optimizer: OptimizerSettings
    public var schedule: LRSchedule
    public var training: TrainingSettings
    /// How task losses or gradients are combined (DESIGN §5); default `static` (λ_t).
    public var balancing: BalancingSettings
    /// Multi-branch augmentation: dataset name → branches (one drawn per sample).
    public var augmentation: [String: [AugmentationBranch]]
    /// Checkpoint path; default `checkpoints/<name>/<name>.moe`.
    public var output: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, seed, model, datasets, optimizer, schedule, training, balancing, augmentation, output
    }

    /// The step mode in effect (`training.stepMode`, else what the balancing method needs).
    public var stepMode: StepMode {
        training.stepMode ?? (balancing.method.needsRoundRobin ? .roundRobin : .sampled)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        model = try c.decodeIfPresent(ModelConfig.self, forKey: .model) ?? ModelConfig()
        datasets = try c.decode([DatasetRecipe].self, forKey: .datasets)
        optimizer = try c.decodeIfPresent(OptimizerSettings.self, forKey: .optimizer) ?? OptimizerSettings()
        schedule = try c.decodeIfPresent(LRSchedule.self, forKey: .schedule) ?? LRSchedule()
        training = try c.decodeIfPresent(TrainingSettings.self, forKey: .training) ?? TrainingSettings()
        balancing = try c.decodeIfPresent(BalancingSettings.self, forKey: .balancing) ?? BalancingSettings()
        augmentation = try c.decodeIfPresent([String: [AugmentationBranch]].self, forKey: .augmentation) ?? [:]
        output = try c.decodeIfPresent(String.self, forKey: .output)
    }

    /// Where the checkpoint goes.
    public var outputPath: String { output ?? "checkpoints/\(name)/\(name).moe" }

    /// The recipe as JSON (saved in checkpoint metadata).
    public func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
