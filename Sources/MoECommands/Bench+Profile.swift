import Foundation
import MoEBench

extension MoECommand.Bench {
    /// `--profile` alone: bench-tiny's training step and inference pass by kernel class.
    func runProfile() throws {
        let train = try Benchmark.profileTrain(
            name: "bench-tiny", config: Benchmark.benchTiny, batch: trainBatch, steps: samples)
        train.lines().forEach(say)
        say("")
        let infer = try Benchmark.profileInfer(
            name: "bench-tiny", config: Benchmark.benchTiny, batch: inferBatch, steps: samples)
        infer.lines().forEach(say)
    }

    /// `--recipe PATH`: one training step of each dataset (median of `samples`), their mean
    /// and the sampler-weighted mean; with `--profile`, each dataset's breakdown after.
    func runRecipe(_ path: String, threads: Int) throws {
        let timings = try RecipeBenchmark.run(
            recipePath: path, steps: samples, profile: profile, progress: sayOnStandardError)
        say(
            "recipe \(path): one sampled training step per dataset, median of \(samples) "
                + "after 3 warm-up rounds, threads \(threads)")
        say(pad("dataset", 16) + pad("task", 16) + pad("batch", 7) + "   ms/step   images/s")
        for t in timings {
            say(
                pad(t.name, 16) + pad(t.task, 16) + pad("\(t.batch)", 7)
                    + String(format: "%10.2f %10.1f", 1e3 * t.medianSeconds, t.imagesPerSecond))
        }
        say(
            String(
                format:
                    "mean over %d datasets: %.2f ms/step; sampling-weighted (the sampler's expected step): %.2f ms/step",
                timings.count, 1e3 * RecipeBenchmark.meanSeconds(timings),
                1e3 * RecipeBenchmark.sampledSeconds(timings)))
        for t in timings {
            guard let table = t.profile else { continue }
            say("")
            table.lines().forEach(say)
        }
    }
}
