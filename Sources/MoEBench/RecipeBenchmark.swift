import Foundation
import MoERecipe
import MoETensor
import MoETraining

/// Training-step time of each dataset of a recipe: the recipe's own model, data, batch
/// sizes, augmentation, task losses, MI loss and optimiser, one `sampled` step forced onto
/// each dataset in turn (`Trainer.step(dataset:)`).
///
/// Rounds interleave the datasets (round r runs one step of every dataset), so load changes on
/// a shared machine hit every dataset alike; the first `warmup` rounds are not timed.
///
///     ms/step_t = median over rounds,   images/s_t = b_t / (ms/step_t / 1000)
///     mean      = (1/T) Σ_t ms/step_t,  sampled = Σ_t s_t·ms/step_t / Σ_t s_t
///
/// (`sampled` is the expected step time of the recipe's two-step sampler with weights s.)
public enum RecipeBenchmark {
    /// One dataset's timing and, when profiled, its breakdown.
    public struct DatasetTiming: Sendable {
        public var name: String
        public var task: String
        public var batch: Int
        public var samplingWeight: Double
        public var medianSeconds: Double
        public var imagesPerSecond: Double { Double(batch) / medianSeconds }
        public var profile: ProfileTable?
    }

    /// Times every dataset of the recipe at `path` (with `overrides`); with `profile`, runs
    /// `steps` more steps per dataset under `Profiler` afterwards.
    public static func run(
        recipePath: String, overrides: [String] = [], warmup: Int = 3, steps: Int = 10,
        profile: Bool = false, progress: (String) -> Void = { _ in }
    ) throws -> [DatasetTiming] {
        // One dataset per step; a balancing method that needs roundRobin falls back to static.
        var recipe = try Recipe.load(path: recipePath, overrides: overrides)
        var forced = ["training.stepMode=sampled", "training.steps=1000000"]
        if recipe.balancing.method.needsRoundRobin {
            forced.append("balancing=static")
            progress("note: \(recipe.balancing.method.rawValue) needs roundRobin steps; timing with balancing=static")
        }
        recipe = try Recipe.load(path: recipePath, overrides: overrides + forced)
        let data = try RunDataset.loadAll(recipe)
        let trainer = try Trainer(recipe: recipe, data: data)
        progress("loaded \(data.map { "\($0.name) (\($0.train.count) images)" }.joined(separator: ", "))")
        var times = Array(repeating: [Double](), count: data.count)
        for round in 0..<(warmup + steps) {
            for t in data.indices {
                let t0 = DispatchTime.now().uptimeNanoseconds
                try trainer.step(dataset: t)
                if round >= warmup { times[t].append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9) }
            }
        }
        var result: [DatasetTiming] = []
        for (t, d) in data.enumerated() {
            let sorted = times[t].sorted()
            var timing = DatasetTiming(
                name: d.name, task: d.spec.task.rawValue, batch: d.recipe.batchSize,
                samplingWeight: d.recipe.samplingWeight, medianSeconds: sorted[sorted.count / 2])
            if profile {
                timing.profile = try Benchmark.profile(
                    title: "\(d.name) (\(timing.task)) train b\(timing.batch)", steps: steps
                ) {
                    try trainer.step(dataset: t)
                }
                timing.profile?.unprofiledStepSeconds = timing.medianSeconds
            }
            result.append(timing)
        }
        return result
    }

    /// (1/T) Σ_t ms/step_t in seconds.
    public static func meanSeconds(_ timings: [DatasetTiming]) -> Double {
        timings.map(\.medianSeconds).reduce(0, +) / Double(max(timings.count, 1))
    }

    /// Σ_t s_t·ms/step_t / Σ_t s_t in seconds: the sampler's expected step time.
    public static func sampledSeconds(_ timings: [DatasetTiming]) -> Double {
        let weight = timings.map(\.samplingWeight).reduce(0, +)
        guard weight > 0 else { return meanSeconds(timings) }
        return timings.map { $0.samplingWeight * $0.medianSeconds }.reduce(0, +) / weight
    }
}
