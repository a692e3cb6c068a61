import ArgumentParser
import Foundation
import MoEAdaptation
import MoEData
import MoEModel
import MoERecipe
import MoETraining

extension ExpertSelection: ExpressibleByArgument {}
extension Adaptation.FinetunePolicy: ExpressibleByArgument {}

/// A checkpoint opened for adaptation: its model, recipe and history.
struct SourceCheckpoint {
    let path: String
    let model: VisionMoE
    let recipe: Recipe
    let history: [String]

    init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw AdaptationError.invalid("checkpoint '\(path)' does not exist")
        }
        self.path = path
        let file = try RunCheckpoint.read(path: path)
        model = try RunCheckpoint.loadModel(file, path: path)
        recipe = try RunCheckpoint.recipe(file, path: path)
        history = RunCheckpoint.history(file)
    }

    /// The recipe entry of one of the checkpoint's datasets, loaded with the run's seed.
    func dataset(named name: String) throws -> RunDataset {
        _ = try model.config.dataset(named: name)
        guard let entry = recipe.datasets.first(where: { $0.name == name }) else {
            throw AdaptationError.invalid("the checkpoint's recipe has no entry for dataset '\(name)'")
        }
        return try RunDataset.load(entry, seed: recipe.seed, model: model.config)
    }

    /// The one new dataset of an adaptation recipe (or the one named `name`), loaded with
    /// the source run's seed so its splits stay fixed across the pipeline.
    func newDataset(of recipe: Recipe, named name: String?) throws -> RunDataset {
        let entry: DatasetRecipe
        if let name {
            guard let e = recipe.datasets.first(where: { $0.name == name }) else {
                throw AdaptationError.invalid(
                    "the recipe has no dataset '\(name)'; it has: \(recipe.datasets.map(\.name).joined(separator: ", "))"
                )
            }
            entry = e
        } else {
            guard recipe.datasets.count == 1, let e = recipe.datasets.first else {
                throw AdaptationError.invalid(
                    "the recipe has \(recipe.datasets.count) datasets; name the one to adapt to with --dataset")
            }
            entry = e
        }
        let data = try RunDataset.load(entry, seed: self.recipe.seed, model: model.config)
        guard data.train.channels == model.config.channels else {
            throw AdaptationError.invalid(
                "dataset '\(entry.name)' has \(data.train.channels) channels, the model takes \(model.config.channels)")
        }
        guard data.train.height % model.config.patchSize == 0, data.train.width % model.config.patchSize == 0 else {
            throw AdaptationError.invalid(
                "dataset '\(entry.name)' images are \(data.train.height)×\(data.train.width), not a multiple of the patch size \(model.config.patchSize)"
            )
        }
        return data
    }
}

/// Prints the model's size and what will train, before the work starts.
func printPlan(_ operation: String, source: SourceCheckpoint, dataset: RunDataset, steps: Int, out: String) {
    let c = source.model.config
    say(
        "\(operation): \(source.path) (\(c.experts) experts, top-\(c.topK), \(source.model.store.scalarCount) parameters; datasets \(c.datasets.map(\.name).joined(separator: ", ")))"
    )
    say(
        "  dataset \(dataset.name): \(dataset.train.count) train / \(dataset.test.count) test, \(dataset.train.channels)×\(dataset.train.height)×\(dataset.train.width), \(dataset.train.classes) classes; \(steps) steps"
    )
    say("  → \(out)")
}

/// Prints an operation's record (the numbers DESIGN §6 asks every command to report).
func printRecord(_ record: AdaptationRecord, out: String) {
    for line in record.summaryLines { say(line) }
    say("checkpoint: \(out)")
}
