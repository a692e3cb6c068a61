import ArgumentParser
import MoEAdaptation

/// `moe`: train modular mixture-of-experts vision backbones and adapt them.
public struct MoECommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "moe",
        abstract: "Train modular mixture-of-experts vision transformers on many datasets at once.",
        version: "0.1.0",
        groupedSubcommands: [
            CommandGroup(
                name: "Training",
                subcommands: [Pretrain.self, Eval.self, Inspect.self, Predict.self, ExportScenes.self]),
            CommandGroup(name: "Deployment", subcommands: [Export.self]),
            CommandGroup(
                name: "Adaptation", subcommands: [Adapt.self, Prune.self, Expand.self]),
            CommandGroup(name: "Performance", subcommands: [Bench.self]),
            CommandGroup(name: "Multi-task", subcommands: [Relations.self]),
        ])

    public init() {}
}
