import ArgumentParser
import MoERecipe

/// The options `moe adapt` and `moe expand` share: the recipe with the new dataset, how long
/// to train on it, the seed of what they create, and where to write the result.
struct AdaptationRecipeOptions: ParsableArguments {
    @Option(help: "Recipe (YAML) with the new dataset, optimizer, schedule and steps; its model section is ignored.")
    var recipe: String

    @Option(help: "Which of the recipe's datasets to add (default: its only one).")
    var dataset: String?

    @Option(parsing: .unconditional, help: "Optimiser steps (default: the recipe's).")
    var steps: Int?

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Override a recipe field (repeatable).", valueName: "key.path=value"))
    var overrides: [String] = []

    @Option(
        parsing: .unconditional, help: "Seed of what the command creates (router, head, experts, random expert choice)."
    )
    var seed: UInt64 = 0

    @Option(help: "Output checkpoint.")
    var out: String

    func validate() throws {
        try requireIn(0...Recipe.Limits.steps.upperBound, steps, for: "--steps")
    }
}
