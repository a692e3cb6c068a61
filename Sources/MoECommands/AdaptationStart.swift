import MoEAdaptation
import MoERecipe
import MoETraining

/// What `moe adapt` and `moe expand` start from: the source checkpoint, the new dataset of
/// the adaptation recipe (split with the source run's seed), the optimiser steps, the recipe
/// saved with the result and the threads in force.
struct AdaptationStart {
    let source: SourceCheckpoint
    let data: RunDataset
    let steps: Int
    /// The source's recipe merged with the adaptation's, for the source model plus the new
    /// dataset (unless the model has it already) and `steps` steps.
    let recipe: Recipe
    let threads: Int

    /// Opens `checkpoint`, loads `job`'s recipe and new dataset and applies the thread count.
    init(checkpoint: String, job: AdaptationRecipeOptions, runtime: RuntimeOptions) throws {
        source = try SourceCheckpoint(path: checkpoint)
        let adaptation = try Recipe.load(path: job.recipe, overrides: job.overrides)
        data = try source.newDataset(of: adaptation, named: job.dataset)
        threads = runtime.apply(fallback: adaptation.training.threads)
        steps = job.steps ?? adaptation.totalSteps(for: [data])
        var config = source.model.config
        let spec = data.spec
        if !config.datasets.contains(where: { $0.name == spec.name }) { config.datasets.append(spec) }
        var merged = Adaptation.mergedRecipe(source: source.recipe, adaptation: adaptation, model: config)
        merged.training.steps = steps
        recipe = merged
    }

    /// Prints the source model, the new dataset and the steps before `operation` starts.
    func printPlan(_ operation: String, out: String) {
        MoECommands.printPlan(operation, source: source, dataset: data, steps: steps, out: out)
    }
}
