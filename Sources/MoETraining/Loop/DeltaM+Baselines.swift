import MoEBalancing
import MoETasks

extension DeltaM {
    /// Test metrics of the single-task baseline checkpoints at `paths`, by dataset name
    /// (each checkpoint may hold several datasets; a later one wins).
    public static func evaluateBaselines(paths: [String], batchSize: Int) throws -> [String: TaskMetrics] {
        var result: [String: TaskMetrics] = [:]
        let items = FashionMNISTCache()
        for path in paths {
            let file = try RunCheckpoint.read(path: path)
            let model = try RunCheckpoint.loadModel(file, path: path)
            let recipe = try RunCheckpoint.recipe(file, path: path)
            for entry in recipe.datasets where model.config.datasets.contains(where: { $0.name == entry.name }) {
                let data = try RunDataset.load(entry, seed: recipe.seed, items: items, model: model.config)
                result[entry.name] = try Evaluation.evaluate(model: model, dataset: data, batchSize: batchSize)
            }
        }
        return result
    }
}
