import ArgumentParser
import Foundation
import MoEAdaptation
import MoECheckpoint
import MoEDataParallel
import MoETraining

extension MoECommand {
    /// `moe adapt`: a new router per MoE layer and a head for a new dataset, trained alone
    /// (router-only), with N experts per layer, at a smaller K, or everything (fine-tune).
    struct Adapt: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Adapt a checkpoint to a new dataset: new router + head (router-only), optionally experts or a smaller K.",
            discussion: """
                Without --router-only the whole model is fine-tuned (the baseline that forgets). \
                With --router-only every tensor but the dataset's routers and head (and, with \
                --experts N, N experts per MoE layer) is bit-identical in the output. If the \
                checkpoint already has the dataset, its router and head are trained further \
                (e.g. at a smaller --top-k after pruning). \
                Under `mpirun -np N` it trains data-parallel like `moe pretrain` (batch sizes \
                stay global, so N must divide them; evaluation is sharded); rank 0 alone prints \
                and writes.
                """)

        @Option(help: "Checkpoint to adapt (.moe).")
        var checkpoint: String

        @Flag(help: "Freeze the backbone: train only the new routers and head (plus --experts).")
        var routerOnly = false

        @Option(parsing: .unconditional, help: "Experts per MoE layer that also train (with --router-only).")
        var experts: Int = 0

        @Option(help: "How to choose those experts: random, most-used, least-used.")
        var expertChoice: ExpertSelection = .random

        @Option(parsing: .unconditional, help: "Experts per token for the dataset (Top-K reduction).")
        var topK: Int?

        @OptionGroup var job: AdaptationRecipeOptions

        @OptionGroup var runtime: RuntimeOptions

        func validate() throws {
            try requireAtLeast(0, experts, for: "--experts")
            if experts > 0 && !routerOnly {
                throw ValidationError("--experts needs --router-only (without it every expert trains)")
            }
            try requireAtLeast(1, topK, for: "--top-k")
            if job.out == checkpoint { throw ValidationError("--out must differ from --checkpoint") }
        }

        /// Under `mpirun -np N` it trains data-parallel like `moe pretrain` (DESIGN §11.1);
        /// rank 0 alone prints and writes.
        func run() throws { try MPILaunch.run { collective in try exitingOnInterrupt { try perform(collective) } } }

        private func perform(_ collective: MPICollective?) throws {
            let start = try AdaptationStart(checkpoint: checkpoint, job: job, runtime: runtime)
            start.printPlan("adapt", out: job.out)
            say("  threads \(start.threads)")
            let (source, data, merged) = (start.source, start.data, start.recipe)

            var settings = Adaptation.AdaptSettings()
            settings.routerOnly = routerOnly
            settings.experts = experts
            settings.selection = expertChoice
            settings.topK = topK
            settings.steps = start.steps
            settings.seed = job.seed
            Interrupt.install()
            let progress = ProgressPrinter()
            let (model, record) = try Adaptation.adapt(
                source.model, dataset: data, settings: settings, recipe: merged,
                history: source.history, checkpointPath: job.out,
                collective: collective ?? SingleProcess()
            ) { progress.show($0, final: $1) }
            progress.finish()
            if !isSecondaryRank {
                try Adaptation.save(model, recipe: merged, history: source.history, record: record, path: job.out)
            }
            printRecord(record, out: job.out)
        }
    }
}
