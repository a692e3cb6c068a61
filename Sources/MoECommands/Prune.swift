import ArgumentParser
import Foundation
import MoEAdaptation
import MoECheckpoint
import MoEOptim
import MoETraining

extension MoECommand {
    /// `moe prune`: keeps the experts a dataset's router uses most; the rest leave the
    /// weights, router columns and config together.
    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove the experts a dataset uses least (by its router's picks on its training images).",
            discussion: """
                The output keeps only that dataset (a smaller single-task model) unless \
                --keep-other-datasets; it loads and evaluates like any checkpoint. \
                --threshold P keeps, per layer, experts with at least the share P of the \
                assignments (every layer keeps the same number, at least K).
                """)

        @Option(help: "Checkpoint to prune (.moe).")
        var checkpoint: String

        @Option(help: "Dataset whose expert usage decides.")
        var dataset: String

        @Option(parsing: .unconditional, help: "Experts to keep per MoE layer.")
        var keep: Int?

        @Option(
            parsing: .unconditional, help: "Keep experts with at least this share of the dataset's assignments (0-1).")
        var threshold: Double?

        @Option(parsing: .unconditional, help: "Fine-tuning steps after pruning (0: none).")
        var finetuneSteps: Int = 0

        @Option(help: "What the fine-tune trains: router, experts (router + kept experts), all.")
        var finetune: Adaptation.FinetunePolicy = .experts

        @Option(parsing: .unconditional, help: "Fine-tuning learning rate (AdamW, constant).")
        var lr: Float = 2e-4

        @Flag(help: "Keep the checkpoint's other datasets (their routers lose the pruned experts too).")
        var keepOtherDatasets = false

        @Option(parsing: .unconditional, help: "Training images whose routing decides the ranking.")
        var usageImages: Int = 512

        @Option(help: "Output checkpoint.")
        var out: String

        @OptionGroup var runtime: RuntimeOptions

        func validate() throws {
            if (keep == nil) == (threshold == nil) {
                throw ValidationError("give exactly one of --keep N and --threshold P")
            }
            try requireAtLeast(1, keep, for: "--keep")
            if let threshold, !(0..<1).contains(threshold) {
                throw ValidationError("--threshold must be a share in [0, 1), got \(threshold)")
            }
            if !(1e-12...10).contains(lr) { throw ValidationError("--lr must be in 1e-12...10, got \(lr)") }
            try requireAtLeast(0, finetuneSteps, for: "--finetune-steps")
            try requireAtLeast(1, usageImages, for: "--usage-images")
            if out == checkpoint { throw ValidationError("--out must differ from --checkpoint") }
        }

        func run() throws { try exitingOnInterrupt { try perform() } }

        private func perform() throws {
            let source = try SourceCheckpoint(path: checkpoint)
            let data = try source.dataset(named: dataset)
            _ = runtime.apply(fallback: source.recipe.training.threads)
            if let keep, keep > source.model.config.experts {
                throw AdaptationError.invalid(
                    "--keep \(keep) is more than the model's \(source.model.config.experts) experts")
            }
            var finetuneRecipe = source.recipe
            finetuneRecipe.optimizer.learningRate = lr
            finetuneRecipe.schedule = LRSchedule()
            finetuneRecipe.training.steps = finetuneSteps
            finetuneRecipe.training.evalEvery = 0
            finetuneRecipe.training.checkpointEvery = 0
            var names = source.model.config
            if !keepOtherDatasets { names.datasets = names.datasets.filter { $0.name == dataset } }
            let merged = Adaptation.mergedRecipe(source: source.recipe, adaptation: finetuneRecipe, model: names)
            printPlan("prune", source: source, dataset: data, steps: finetuneSteps, out: out)
            Interrupt.install()
            let progress = ProgressPrinter()
            let rule: Adaptation.PruneRule = keep.map { .keep($0) } ?? .threshold(threshold ?? 0)
            let (model, record) = try Adaptation.prune(
                source.model, dataset: data, rule: rule, keepOtherDatasets: keepOtherDatasets,
                finetuneSteps: finetuneSteps, finetune: finetune, recipe: merged,
                history: source.history, checkpointPath: out, usageImages: usageImages
            ) { progress.show($0, final: $1) }
            progress.finish()
            try Adaptation.save(model, recipe: merged, history: source.history, record: record, path: out)
            say("kept experts per MoE layer: \(record.settings["kept"] ?? "")")
            say("their share of \(dataset)'s assignments before pruning: \(record.settings["keptUsage"] ?? "")")
            printRecord(record, out: out)
        }
    }
}
