import ArgumentParser
import Foundation
import MoEAdaptation
import MoECheckpoint
import MoEDataParallel
import MoETensor
import MoETraining

extension MoECommand {
    /// `moe expand`: new experts and a router for a new dataset; old datasets unchanged.
    struct Expand: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append N experts per MoE layer and a router + head for a new dataset; train only those.",
            discussion: """
                Old datasets' routers never see the new experts and nothing they use is \
                trained, so their predictions are bit-identical (zero forgetting). \
                Under `mpirun -np N` it trains data-parallel like `moe pretrain` (batch sizes \
                stay global, so N must divide them; evaluation is sharded); rank 0 alone prints \
                and writes.
                """)

        enum Initialization: String, ExpressibleByArgument, CaseIterable {
            case fresh
            case copy
        }

        @Option(help: "Checkpoint to expand (.moe).")
        var checkpoint: String

        @Option(parsing: .unconditional, help: "Experts to append per MoE layer.")
        var experts: Int

        @Option(help: "New experts start fresh (random) or as noisy copies of old experts.")
        var initialization: Initialization = .copy

        @Option(
            parsing: .unconditional,
            help: "Test images per old dataset whose outputs are compared before and after (0: skip).")
        var verifyImages: Int = 16

        @OptionGroup var job: AdaptationRecipeOptions

        @OptionGroup var runtime: RuntimeOptions

        func validate() throws {
            try requireAtLeast(0, verifyImages, for: "--verify-images")
            try requireAtLeast(1, experts, for: "--experts")
            if job.out == checkpoint { throw ValidationError("--out must differ from --checkpoint") }
        }

        /// Under `mpirun -np N` it trains data-parallel like `moe pretrain` (DESIGN §11.1);
        /// rank 0 alone prints and writes.
        func run() throws { try MPILaunch.run { collective in try exitingOnInterrupt { try perform(collective) } } }

        private func perform(_ collective: MPICollective?) throws {
            let start = try AdaptationStart(checkpoint: checkpoint, job: job, runtime: runtime)
            start.printPlan("expand", out: job.out)
            let (source, data, merged) = (start.source, start.data, start.recipe)
            let initializer: any ExpansionInitializer =
                initialization == .fresh ? FreshExperts() : CopyMostUsed()
            let probes: [(String, Tensor, Tensor)] =
                try verifyImages == 0
                ? []
                : source.model.config.datasets.map { spec in
                    let data = try source.dataset(named: spec.name)
                    var images = Tensor(shape: [0])
                    _ = data.test.makeBatch(indices: Array(0..<min(verifyImages, data.test.count)), into: &images)
                    let output = try source.model.forward(images: images, dataset: spec.name, training: false)
                    return (spec.name, images, output)
                }
            Interrupt.install()
            let progress = ProgressPrinter()
            let (model, record) = try Adaptation.expand(
                source.model, dataset: data, count: experts, initializer: initializer, steps: start.steps,
                seed: job.seed, recipe: merged, history: source.history, checkpointPath: job.out,
                collective: collective ?? SingleProcess()
            ) { progress.show($0, final: $1) }
            progress.finish()
            if !isSecondaryRank {
                try Adaptation.save(model, recipe: merged, history: source.history, record: record, path: job.out)
            }
            let old = source.model.config.experts
            say(
                "new experts \(old)..<\(old + experts) per MoE layer are visible only to '\(data.name)'; the old datasets' routers are unchanged"
            )
            for (name, images, before) in probes {
                let after = try model.forward(images: images, dataset: name, training: false)
                let same = after.storage.map { $0.bitPattern } == before.storage.map { $0.bitPattern }
                say(
                    "  \(name): outputs on \(images.shape[0]) test images "
                        + (same ? "bit-identical to the source's" : "CHANGED"))
                if !same { throw AdaptationError.invalid("expansion changed the outputs of old dataset '\(name)'") }
            }
            printRecord(record, out: job.out)
        }
    }
}
