import Foundation
import MoEModel

/// Checks, before the first step, that a run fits in this machine's memory: a config that
/// passes `ModelConfig.Limits` can still ask for more than the machine holds at a given
/// batch size, and should fail with a message rather than in the allocator.
public enum MemoryBudget {
    /// Bytes a training run needs, roughly and from above: parameters with gradients and two
    /// moments (plus one more pair per task with per-task Adam), and per token of the
    /// largest batch, every block's activations: residual streams, LayerNorm, qkv and
    /// attention outputs (8D), attention probabilities (H·N), and the MLP (MoE: K·(2D + 3F);
    /// dense: 3·ratio·D).
    public static func trainingBytes(config: ModelConfig, batch: Int, tasks: Int, perTaskMoments: Bool) -> Double {
        let parameters = Double(config.parameterCount ?? Int.max)
        let optimizer = parameters * (16 + (perTaskMoments ? 8 * Double(tasks) : 0))
        let tokens =
            config.datasets.map { ($0.height / config.patchSize) * ($0.width / config.patchSize) + 1 }.max() ?? 1
        let (d, n) = (Double(config.width), Double(tokens))
        let mlp =
            config.isDense
            ? 3 * Double(config.mlpRatio) * d : Double(config.topK) * (2 * d + 3 * Double(config.expertHidden))
        let perToken = 8 * d + Double(config.heads) * n + mlp
        let activations = Double(batch) * n * Double(config.depth) * perToken * 4
        return optimizer + activations
    }

    /// Throws when `trainingBytes` exceeds 90 % of physical memory.
    public static func check(config: ModelConfig, batch: Int, tasks: Int, perTaskMoments: Bool) throws {
        let needed = trainingBytes(config: config, batch: batch, tasks: tasks, perTaskMoments: perTaskMoments)
        let available = Double(ProcessInfo.processInfo.physicalMemory)
        guard needed <= 0.9 * available else {
            let gib = 1024.0 * 1024 * 1024
            throw TrainingError.datasetMismatch(
                detail: String(
                    format: "the run needs about %.1f GiB (parameters, optimiser state and activations at batch %d); "
                        + "this machine has %.1f GiB (hint: lower model.width, model.depth or the batch size)",
                    needed / gib, batch, available / gib))
        }
    }
}
