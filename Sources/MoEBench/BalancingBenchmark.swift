import Foundation
import MoERecipe
import MoETraining

/// Time per roundRobin step of each balancing method, measured in one process with the
/// methods interleaved (round r runs `steps` steps of every method in turn), so load changes
/// on a shared machine hit every method alike. The first `warmup` steps of each method
/// (allocation of buffers and scratch) are not timed.
public enum BalancingBenchmark {
    /// A variant: a label and the recipe overrides that make it.
    public typealias Variant = (label: String, overrides: [String])

    public static let defaultVariants: [Variant] = [
        ("equal", ["balancing=equal"]),
        ("static", ["balancing=static"]),
        ("uncertainty", ["balancing=uncertainty"]),
        ("uncertainty-analytic", ["balancing=uncertainty-analytic"]),
        ("gradnorm", ["balancing=gradnorm"]),
        ("tbgc", ["balancing=tbgc"]),
        ("tbgc-no-rescale", ["balancing=tbgc-no-rescale"]),
        ("pcgrad", ["balancing=pcgrad"]),
        ("gradsplit", ["balancing=gradsplit"]),
        ("adam-per-task (equal)", ["balancing=equal", "optimizer.kind=adam-per-task"]),
        ("equal + diagnostics every step", ["balancing=equal", "training.diagnosticsEvery=1"]),
    ]

    /// Seconds per step of every variant, one entry per timed round, in `variants` order.
    public static func run(
        recipePath: String, variants: [Variant] = defaultVariants, rounds: Int, steps: Int,
        warmup: Int = 2, progress: (String) -> Void = { _ in }
    ) throws -> [(label: String, seconds: [Double])] {
        let base = try Recipe.load(path: recipePath, overrides: ["training.stepMode=roundRobin"])
        let data = try RunDataset.loadAll(base)
        var trainers: [Trainer] = []
        for v in variants {
            let recipe = try Recipe.load(
                path: recipePath,
                overrides: ["training.stepMode=roundRobin", "training.steps=1000000"] + v.overrides)
            let trainer = try Trainer(recipe: recipe, data: data)
            for _ in 0..<warmup { try trainer.step() }
            trainers.append(trainer)
            progress("warmed up \(v.label) (shared backbone: \(trainer.layout.sharedCount) scalars per task buffer)")
        }
        var times = Array(repeating: [Double](), count: variants.count)
        for r in 0..<rounds {
            for (i, trainer) in trainers.enumerated() {
                let t0 = Date()
                for _ in 0..<steps { try trainer.step() }
                times[i].append(Date().timeIntervalSince(t0) / Double(steps))
            }
            progress("round \(r + 1)/\(rounds) done")
        }
        return zip(variants, times).map { ($0.label, $1) }
    }
}
