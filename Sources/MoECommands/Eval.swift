import ArgumentParser
import Foundation
import MoEBalancing
import MoECheckpoint
import MoEDataParallel
import MoETasks
import MoETraining

extension MoECommand {
    /// `moe eval`: test-split metrics of every dataset of a checkpoint.
    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report every dataset's test metrics for a checkpoint.",
            discussion: """
                Under `mpirun -np N` each rank evaluates a contiguous 1/N of every test split; \
                the ranks sum counts, loss sums and confusion matrices and gather detections, \
                so the metrics are those of one process. Rank 0 prints.
                """)

        @Option(help: "Checkpoint file (.moe).")
        var checkpoint: String

        @Flag(help: "Print one JSON object keyed by dataset name.")
        var json = false

        @Option(parsing: .unconditional, help: "Evaluation batch size.")
        var batchSize: Int = 256

        @Option(
            parsing: .unconditional,
            help: "Evaluate with K experts per token for every dataset (Top-K reduction at inference).")
        var topK: Int?

        @Option(help: "Single-task baseline checkpoints (comma-separated), matched to datasets by name; reports Δm.")
        var baselines: String?

        @OptionGroup var runtime: RuntimeOptions

        func validate() throws {
            try requireAtLeast(1, batchSize, for: "--batch-size")
            try requireAtLeast(1, topK, for: "--top-k")
        }

        /// Under `mpirun -np N` each rank evaluates 1/N of every test split and the ranks
        /// combine their counts (DESIGN §11.3); rank 0 prints.
        func run() throws { try MPILaunch.run { try evaluate(collective: $0) } }

        private func evaluate(collective: MPICollective?) throws {
            _ = runtime.apply()
            let file = try RunCheckpoint.read(path: checkpoint)
            var model = try RunCheckpoint.loadModel(file, path: checkpoint)
            if let topK {
                model = try TopKReduction.apply(topK, to: model, report: json ? sayOnStandardError : say)
            }
            let recipe = try RunCheckpoint.recipe(file, path: checkpoint)
            var results: [(String, TaskMetrics)] = []
            let items = FashionMNISTCache()
            for entry in recipe.datasets where model.config.datasets.contains(where: { $0.name == entry.name }) {
                let data = try RunDataset.load(entry, seed: recipe.seed, items: items, model: model.config)
                let metrics = try Evaluation.evaluate(
                    model: model, dataset: data, batchSize: batchSize, collective: collective ?? SingleProcess())
                results.append((entry.name, metrics))
            }
            guard !results.isEmpty else {
                throw TrainingError.datasetMismatch(
                    detail:
                        "\(checkpoint): none of the stored recipe's datasets (\(recipe.datasets.map(\.name).joined(separator: ", "))) "
                        + "has a head in the model (\(model.config.datasets.map(\.name).joined(separator: ", "))); nothing to evaluate"
                )
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                let object = Dictionary(uniqueKeysWithValues: results)
                say(String(decoding: try encoder.encode(object), as: UTF8.self))
                try reportDeltaM(Dictionary(uniqueKeysWithValues: results))
                return
            }
            say("dataset            task            examples   metrics")
            for (name, m) in results {
                say(
                    name.padding(toLength: 18, withPad: " ", startingAt: 0) + " "
                        + m.task.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)
                        + String(format: " %8d   ", m.count) + m.summary)
            }
            for line in model.config.datasets.compactMap({ classNamesLine($0) }) { say(line) }
            try reportDeltaM(Dictionary(uniqueKeysWithValues: results))
        }

        /// Δm against `--baselines` (DESIGN §5; percent, positive = better than single-task).
        private func reportDeltaM(_ results: [String: TaskMetrics]) throws {
            guard let baselines, !isSecondaryRank else { return }
            let paths = baselines.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            let single = try DeltaM.evaluateBaselines(paths: paths, batchSize: batchSize)
            let entries = DeltaM.entries(multiTask: results, singleTask: single)
            guard !entries.isEmpty else {
                throw ValidationError("no baseline checkpoint holds a dataset of this checkpoint")
            }
            let delta = DeltaM.compute(entries)
            if json {
                let object: [String: Any] = [
                    "delta_m": delta,
                    "tasks": Dictionary(
                        uniqueKeysWithValues: entries.map {
                            (
                                $0.task,
                                [
                                    "multi_task": $0.multiTask, "single_task": $0.singleTask,
                                    "relative_change": $0.relativeChange,
                                ]
                            )
                        }),
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                say(String(decoding: data, as: UTF8.self))
                return
            }
            say("")
            say("dataset            multi-task   single-task   change")
            for e in entries {
                say(
                    e.task.padding(toLength: 18, withPad: " ", startingAt: 0)
                        + String(
                            format: " %9.2f%%   %9.2f%%   %+6.2f%%", 100 * e.multiTask, 100 * e.singleTask,
                            e.relativeChange))
            }
            say(String(format: "Δm = %+.2f%% over %d tasks (positive = better than single-task)", delta, entries.count))
        }
    }
}
