import Foundation
import MoEBench
import MoEDataParallel
import MoERecipe
import MoETraining

extension MoECommand.Bench {
    /// `moe bench --distributed`: data-parallel steps on every rank of the MPI job (one rank
    /// without a launcher); rank 0 prints (DESIGN §11.3).
    func runDistributed(_ collective: MPICollective?) throws {
        let threads = runtime.apply()
        let recipe =
            try self.recipe.map { try Recipe.load(path: $0, overrides: ["training.steps=1000000"]) }
            ?? DistributedBenchmark.benchTinyRecipe(batch: trainBatch)
        let r = try DistributedBenchmark.run(
            recipe: recipe, collective: collective ?? SingleProcess(), threads: threads, samples: samples,
            singleImagesPerSecond: singleImagesPerSecond, progress: sayOnStandardError)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            say(String(decoding: try encoder.encode(r), as: UTF8.self))
            return
        }
        say("\(r.recipe): \(r.ranks) rank(s) × \(r.threadsPerRank) thread(s), median of \(r.steps) steps")
        let exchange = r.allToAllMilliseconds.map { String(format: "%.1f ms", $0) } ?? "n/a (no expert parallelism)"
        say(
            String(
                format: "  step %.1f ms = compute %.1f ms + all-reduce %.1f ms + all-to-all %@", r.millisecondsPerStep,
                r.computeMilliseconds, r.allReduceMilliseconds, exchange))
        say(
            String(
                format:
                    "  bytes per step per rank: payload %.2f MB, ring all-reduce %.2f MB each way (gradients %.2f MB)",
                r.payloadBytesPerStep / 1e6, r.ringBytesPerStep / 1e6, r.gradientBytes / 1e6))
        say(
            String(
                format: "  held per rank: %.2f MB of weights, gradients and optimiser state (expert banks %.2f MB)",
                r.storeBytesPerRank / 1e6, r.expertStoreBytesPerRank / 1e6))
        var line = String(format: "  %.1f images/s", r.imagesPerSecond)
        if let single = r.singleImagesPerSecond, let speedup = r.speedup, let efficiency = r.scalingEfficiency {
            line += String(
                format: "; one rank alone %.1f images/s (%@): speed-up %.2f×, scaling efficiency %.0f%%", single,
                r.singleSource ?? "?", speedup, 100 * efficiency)
        }
        say(line)
    }
}
