import ArgumentParser
import Foundation
import MoEBench
import MoEDataParallel
import MoERecipe
import MoETensor
import MoETraining

extension MoECommand {
    /// `moe bench`: training and inference throughput against this machine's SGEMM peak.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time training and inference of bench-tiny and bench-tiny-dense.",
            discussion: """
                Reports images/s and achieved GFLOP/s (matrix work only; a training step counts \
                3× the forward) next to the SGEMM GFLOP/s of this machine at 1024³, all measured \
                in this run: medians after warm-up. Build with `swift build -c release` first.
                """)

        @Flag(help: "One JSON object per line.")
        var json = false

        @Option(parsing: .unconditional, help: "Timed steps per measurement, at least 10 (the median is reported).")
        var samples: Int = 10

        @Option(parsing: .unconditional, help: "Batch size of training steps.")
        var trainBatch: Int = 64

        @Option(parsing: .unconditional, help: "Batch size of inference passes.")
        var inferBatch: Int = 256

        @Flag(
            help: """
                Instead: break a bench-tiny training step and inference pass (or, with --recipe, \
                each dataset's training step) down by kernel class: time, share, FLOPs, GFLOP/s.
                """)
        var profile = false

        @Option(
            help: """
                Instead: time one training step of each dataset of this recipe (median of --samples \
                after warm-up), and their mean. With --distributed: the recipe to step (default: \
                bench-tiny on Fashion-MNIST).
                """)
        var recipe: String?

        @Option(help: "Instead: time a roundRobin step of every balancing method on this recipe (interleaved rounds).")
        var balancing: String?

        @Option(
            parsing: .unconditional,
            help: "With --balancing: timed rounds (each runs --balancing-steps steps of every method).")
        var rounds: Int = 3

        @Option(parsing: .unconditional, help: "With --balancing: steps per method per round.")
        var balancingSteps: Int = 2

        @Flag(
            help: """
                Instead: time data-parallel training steps under `mpirun -np N` (compute, all-reduce, \
                bytes, images/s, scaling efficiency against one rank alone measured first by rank 0).
                """)
        var distributed = false

        @Option(
            parsing: .unconditional,
            help: "With --distributed: one rank's images/s to compare against, instead of measuring it.")
        var singleImagesPerSecond: Double?

        @OptionGroup var runtime: RuntimeOptions

        func validate() throws {
            try requireIn(10...100_000, samples, for: "--samples")
            try requireIn(Recipe.Limits.batchSize, trainBatch, for: "--train-batch")
            try requireIn(Recipe.Limits.batchSize, inferBatch, for: "--infer-batch")
            try requireAtLeast(1, rounds, for: "--rounds")
            try requireAtLeast(1, balancingSteps, for: "--balancing-steps")
        }

        func run() throws {
            if distributed { return try MPILaunch.run { try runDistributed($0) } }
            let threads = runtime.apply()
            if let recipe {
                try runRecipe(recipe, threads: threads)
                return
            }
            if profile {
                try runProfile()
                return
            }
            if let balancing {
                let results = try BalancingBenchmark.run(
                    recipePath: balancing, rounds: rounds, steps: balancingSteps,
                    progress: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
                let reference = results.first.map { $0.seconds.sorted()[$0.seconds.count / 2] } ?? 1
                for r in results {
                    let median = r.seconds.sorted()[r.seconds.count / 2]
                    say(
                        pad(r.label, 32)
                            + String(
                                format: "%8.0f ms/step (median of %d rounds)  %.2f× equal   rounds: %@",
                                1000 * median, r.seconds.count, median / reference,
                                r.seconds.map { String(format: "%.0f", 1000 * $0) }.joined(separator: " ")))
                }
                say(
                    String(
                        format: "peak RSS %.0f MiB (all %d trainers alive in one process)", Benchmark.peakResidentMiB(),
                        results.count))
                return
            }
            let sgemm = Benchmark.sgemm(size: 1024, samples: samples, threads: threads)
            emit(sgemm)
            let peak = sgemm.gflopsPerSecond
            for (name, config) in [("bench-tiny", Benchmark.benchTiny), ("bench-tiny-dense", Benchmark.benchTinyDense)]
            {
                emit(
                    try Benchmark.train(
                        name: name, config: config, batch: trainBatch, samples: samples,
                        threads: threads, sgemmGFLOPs: peak))
                emit(
                    try Benchmark.infer(
                        name: name, config: config, batch: inferBatch, samples: samples,
                        threads: threads, sgemmGFLOPs: peak))
            }
        }

        func pad(_ s: String, _ n: Int) -> String {
            s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0)
        }

        private func emit(_ r: BenchResult) {
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                if let data = try? encoder.encode(r) { print(String(decoding: data, as: UTF8.self)) }
                return
            }
            if r.kind == "sgemm" {
                say(
                    pad(r.model, 18) + " sgemm      "
                        + String(
                            format: "%8.2f ms   %7.1f GFLOP/s  (threads %d, GEMM %@)",
                            r.millisecondsPerStep, r.gflopsPerSecond, r.threads, r.blasCore ?? "?"))
                return
            }
            say(
                pad(r.model, 18) + " " + pad(r.kind, 5) + " " + pad("b\(r.batch)", 5)
                    + String(
                        format: "%8.2f ms   %7.1f GFLOP/s  %8.1f images/s  %5.1f%% of SGEMM  peak RSS %.0f MiB",
                        r.millisecondsPerStep, r.gflopsPerSecond, r.imagesPerSecond,
                        100 * (r.fractionOfSGEMM ?? 0), r.peakResidentMiB))
        }
    }
}
