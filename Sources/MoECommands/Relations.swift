import ArgumentParser
import Foundation
import MoEBalancing
import MoERecipe
import MoETraining

extension MoECommand {
    /// `moe relations`: GradSplit's relation matrix from pairwise single- vs joint-task runs.
    struct Relations: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure task relations (single- vs pairwise joint runs) for gradsplit.",
            discussion: """
                Trains every dataset of the recipe alone and every pair jointly (roundRobin, \
                equal weights), each for --steps steps, compares each task's primary test \
                metric, and writes the relation mask (1 where joint training is at most τ \
                worse) as a recipe fragment.
                """)

        @Option(help: "Recipe file (YAML).")
        var recipe: String = "recipes/default.yaml"

        @Option(parsing: .unconditional, help: "Optimiser steps of every run.")
        var steps: Int = 200

        @Option(parsing: .unconditional, help: "Threshold τ on the relative change (default −0.01: 1 % worse).")
        var tau: Double = -0.01

        @Option(
            name: .customLong("set"),
            help: ArgumentHelp("Override a recipe field (repeatable).", valueName: "key.path=value"))
        var overrides: [String] = []

        @Option(help: "Where to write the YAML fragment (default: stdout only).")
        var out: String?

        @OptionGroup var runtime: RuntimeOptions

        func validate() throws {
            try requireIn(Recipe.Limits.steps, steps, for: "--steps")
            if !tau.isFinite { throw ValidationError("--tau must be a finite number, got \(tau)") }
        }

        /// Trains `base` restricted to `names` and returns each dataset's primary metric.
        func train(_ base: Recipe, _ names: [String]) throws -> [String: Double] {
            var r = base
            r.datasets = base.datasets.filter { names.contains($0.name) }
            r.training.steps = steps
            r.training.stepMode = names.count > 1 ? .roundRobin : .sampled
            r.training.diagnosticsEvery = 0
            r.balancing = BalancingSettings(method: .equal)
            r.augmentation = r.augmentation.filter { names.contains($0.key) }
            let trainer = try Trainer(recipe: r, data: try RunDataset.loadAll(r))
            while !trainer.isFinished { try trainer.step() }
            say("  trained \(names.joined(separator: " + ")) for \(steps) steps")
            return try trainer.evaluate().mapValues(\.primary)
        }

        func run() throws {
            let base = try Recipe.load(path: recipe, overrides: overrides)
            _ = runtime.apply(fallback: base.training.threads)
            let names = base.datasets.map(\.name)
            guard names.count > 1 else { throw ValidationError("the recipe needs at least two datasets") }
            var single: [Double] = []
            for n in names { single.append(try train(base, [n])[n] ?? 0) }
            var joint = Array(repeating: Array(repeating: 0.0, count: names.count), count: names.count)
            for i in names.indices {
                for j in names.indices where j > i {
                    let m = try train(base, [names[i], names[j]])
                    joint[i][j] = m[names[i]] ?? 0
                    joint[j][i] = m[names[j]] ?? 0
                }
            }
            let changes = TaskRelations.relativeChanges(single: single, joint: joint)
            let text = TaskRelations.yaml(
                datasets: names, changes: changes, mask: TaskRelations.mask(changes, tau: tau), tau: tau)
            print(text, terminator: "")
            if let out { try text.write(toFile: out, atomically: true, encoding: .utf8) }
        }
    }
}
