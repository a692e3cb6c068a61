import ArgumentParser
import Foundation
import MoECheckpoint
import MoEDataParallel
import MoEModel
import MoERecipe
import MoETensor
import MoETraining

extension MoECommand {
    /// `moe pretrain`: train a backbone from a recipe, or resume a run.
    struct Pretrain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train a model from a YAML recipe (or resume a saved run).",
            discussion: """
                Writes the checkpoint (default checkpoints/<name>/<name>.moe) and a JSON-lines \
                log metrics.jsonl beside it. Ctrl-C saves a checkpoint and exits; run again \
                with --resume to continue. Under `mpirun -np N` it trains data-parallel: batch \
                sizes stay global (each rank takes 1/N of every batch, so N must divide them) \
                and rank 0 alone prints, logs, evaluates and saves. With                 training.expertParallel: P (P divides N and model.experts) each group of P                 ranks splits every MoE layer's experts and exchanges tokens all-to-all.
                """)

        static let defaultRecipe = "recipes/default.yaml"

        @Option(help: "Recipe file (YAML).")
        var recipe: String = Pretrain.defaultRecipe

        @Option(parsing: .unconditional, help: "Train for this many optimiser steps (overrides training.steps/epochs).")
        var steps: Int?

        @Option(
            name: .customLong("set"),
            help: ArgumentHelp(
                "Override a recipe field, e.g. --set optimizer.lr=2e-3 (repeatable).",
                valueName: "key.path=value"))
        var overrides: [String] = []

        @Option(help: "Checkpoint path (default: the recipe's output).")
        var out: String?

        @Option(help: "Resume the run saved in this checkpoint (its recipe is used).")
        var resume: String?

        @OptionGroup var runtime: RuntimeOptions

        func validate() throws {
            try requireIn(Recipe.Limits.steps, steps, for: "--steps")
            if resume != nil && !overrides.isEmpty {
                throw ValidationError("--set cannot change a resumed run; its recipe is in the checkpoint")
            }
        }

        /// Under an MPI launcher, trains data-parallel on `Communicator.world()` (DESIGN §11):
        /// rank 0 alone prints, logs and saves; an error names the rank that hit it.
        func run() throws { try MPILaunch.run { try train(collective: $0) } }

        private func train(collective: MPICollective?) throws {
            let trainer: Trainer
            let checkpointPath: String
            if let resume {
                let checkpoint = try RunCheckpoint.read(path: resume)
                trainer = try Trainer(resuming: checkpoint, path: resume, totalSteps: steps)
                checkpointPath = out ?? resume
            } else {
                var all = overrides
                if let steps { all.append("training.steps=\(steps)") }
                var recipe = try Recipe.load(path: self.recipe, overrides: all)
                if let out { recipe.output = out }
                _ = runtime.apply(fallback: recipe.training.threads)
                trainer = try Trainer(recipe: recipe, data: try RunDataset.loadAll(recipe))
                checkpointPath = recipe.outputPath
            }
            let primary = (collective?.rank ?? 0) == 0
            let threads = runtime.apply(fallback: trainer.recipe.training.threads)
            // Before `distribute`, which may shard the expert banks: the plan counts the whole model.
            if primary { printPlan(trainer, checkpointPath: checkpointPath, threads: threads) }
            if let collective { try trainer.distribute(over: collective) }
            if let collective, collective.size > 1, primary {
                say("data-parallel: \(collective.size) ranks (MPI), each takes 1/\(collective.size) of every batch")
                let p = trainer.expertGroupSize
                if p > 1 {
                    let e = trainer.model.config.experts
                    say(
                        "expert-parallel: \(collective.size / p) groups of \(p) ranks, \(e / p) of \(e) experts per rank"
                    )
                }
            }

            let logPath = MetricsLog.path(besideCheckpoint: checkpointPath)
            let log = primary ? try MetricsLog(path: logPath, append: resume != nil, tensorBoard: true) : nil
            Interrupt.install()
            let progress = ProgressPrinter()
            let run = TrainingRun(trainer: trainer, checkpointPath: checkpointPath, log: log) {
                progress.show($0, final: $1)
            }
            let summary = try run.run(lastCheckpoint: resume)
            if primary {
                progress.finish()
                let verb = summary.outcome == .finished ? "finished" : "interrupted"
                say(
                    "\(verb) \(summary.steps) steps in "
                        + String(
                            format: "%.1f s of training (%.0f images/s), %.1f s wall time",
                            summary.trainingSeconds, summary.imagesPerSecond, summary.seconds))
                say("checkpoint: \(summary.checkpointPath)")
                say("metrics:    \(logPath)")
                let f = trainer.storeFootprint
                say(
                    "floats held by rank 0: \(f.weights) weights + \(f.gradients) gradients + \(f.optimizerState) "
                        + "optimiser state = \(f.total) (expert banks \(f.experts))")
            }
            // 128 + SIGINT, like a shell: a script must not take the saved partial run for a finished one.
            if summary.outcome == .interrupted { throw ExitCode(130) }
        }

        private func printPlan(_ trainer: Trainer, checkpointPath: String, threads: Int) {
            let c = trainer.model.config
            let kind = c.isDense ? "dense MLP" : "\(c.experts) experts, top-\(c.topK), hidden \(c.expertHidden)"
            say("recipe \(trainer.recipe.name): ViT width \(c.width), depth \(c.depth), \(c.heads) heads, \(kind)")
            say(
                "parameters: \(trainer.model.store.scalarCount) (\(trainer.model.store.trainableScalarCount) trainable)"
            )
            for d in trainer.data {
                say(
                    "  dataset \(d.name): \(d.train.count) train / \(d.test.count) test, \(d.train.channels)×\(d.train.height)×\(d.train.width), \(d.train.classes) classes, batch \(d.recipe.batchSize)"
                )
            }
            let o = trainer.recipe.optimizer
            say(
                "optimizer \(o.kind.rawValue) lr \(o.learningRate) wd \(o.weightDecay), schedule \(trainer.recipe.schedule.kind.rawValue), steps \(trainer.state.step)→\(trainer.state.totalSteps), threads \(threads), "
                    + "GEMM \(GEMMKernel.current.name)"
            )
            say("checkpoint → \(checkpointPath)")
        }
    }
}
