import Foundation
import MoECheckpoint
import MoEModel
import MoETensor
import MoETestSupport
import Testing

@testable import MoEData
@testable import MoEOptim
@testable import MoERecipe
@testable import MoETraining

// Shared helpers for the training tests: a tiny digits recipe (8×8 images, a 2-block ViT of
// width 16 with 4 experts, top-2) that trains a step in milliseconds, cached data, temporary
// directories and bit-exact comparisons.

/// The repository root, found from this file's path (Tests/MoETrainingTests/Support.swift).
let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// scikit-learn's digits, parsed once per process (every test shares the same images).
let cachedDigits: ImageDataset = {
    do { return try Digits.load() } catch { fatalError("digits data unavailable: \(error)") }
}()

/// Creates `Parallel`'s worker pool before tests run models concurrently, so its start-up is
/// not part of any test's timing.
let parallelPoolReady: Void = Parallel.forEachChunk(count: 2, minimumPerThread: 1) { _ in }

/// One dataset entry of a tiny recipe.
struct TinyDataset {
    var name: String
    var samplingWeight: Double = 1
    var batchSize: Int = 16
}

/// YAML text of a tiny digits recipe. `extra` lines are appended verbatim (top-level keys).
func tinyRecipeYAML(
    name: String = "tiny", seed: UInt64 = 7, steps: Int = 6, optimizer: String = "adamw",
    lr: String = "3.0e-3", weightDecay: Double = 0.05, momentum: Double = 0.9,
    schedule: String = "cosine", datasets: [TinyDataset] = [TinyDataset(name: "digits")],
    logEvery: Int = 1, checkpointEvery: Int = 0, output: String? = nil
) -> String {
    var yaml = """
        name: \(name)
        seed: \(seed)
        model:
          channels: 1
          imageSize: 8
          patchSize: 4
          width: 16
          depth: 2
          heads: 2
          mlpRatio: 2
          experts: 4
          topK: 2
        datasets:

        """
    for d in datasets {
        yaml += """
              \(d.name):
                source: digits
                batchSize: \(d.batchSize)
                samplingWeight: \(d.samplingWeight)

            """
    }
    yaml += """
        optimizer:
          kind: \(optimizer)
          lr: \(lr)
          weightDecay: \(weightDecay)
          momentum: \(momentum)
        schedule:
          kind: \(schedule)
          warmup: 2
        training:
          steps: \(steps)
          logEvery: \(logEvery)
          checkpointEvery: \(checkpointEvery)
          evalBatchSize: 512
          threads: 2

        """
    if let output { yaml += "output: \"\(output)\"\n" }
    return yaml
}

/// A tiny digits recipe (see `tinyRecipeYAML`), parsed the way `moe pretrain` parses one.
func tinyRecipe(
    seed: UInt64 = 7, steps: Int = 6, optimizer: String = "adamw", weightDecay: Double = 0.05,
    datasets: [TinyDataset] = [TinyDataset(name: "digits")], checkpointEvery: Int = 0,
    overrides: [String] = []
) throws -> Recipe {
    try Recipe.parse(
        yaml: tinyRecipeYAML(
            seed: seed, steps: steps, optimizer: optimizer, weightDecay: weightDecay,
            datasets: datasets, checkpointEvery: checkpointEvery),
        source: "tiny.yaml", overrides: overrides)
}

/// The recipe's datasets built from the cached digits, split exactly as
/// `RunDataset.load` splits them (so a resumed `Trainer` sees the same images).
func tinyData(_ recipe: Recipe) -> [RunDataset] {
    _ = parallelPoolReady
    return recipe.datasets.map { entry in
        let (train, test) = Digits.split(cachedDigits, testFraction: entry.testFraction, seed: recipe.seed)
        return RunDataset(recipe: entry, train: ClassificationSplit(train), test: ClassificationSplit(test))
    }
}

/// A fresh trainer for `recipe` on the cached digits.
func tinyTrainer(_ recipe: Recipe) throws -> Trainer {
    try Trainer(recipe: recipe, data: tinyData(recipe))
}

/// The Float bit patterns of a tensor (so -0.0 ≠ 0.0 and NaN payloads count).
func bits(_ tensor: Tensor) -> [UInt32] { tensor.storage.map(\.bitPattern) }

/// Every parameter's bit pattern, by name.
func parameterBits(_ model: VisionMoE) -> [String: [UInt32]] {
    Dictionary(uniqueKeysWithValues: model.store.parameters.map { ($0.name, bits($0.value)) })
}

/// Every optimiser state tensor's bit pattern and shape, by name.
func optimizerBits(_ optimizer: any Optimizer) -> [String: [UInt32]] {
    Dictionary(
        uniqueKeysWithValues: optimizer.stateTensors().map {
            ($0.name, bits($0.tensor) + $0.tensor.shape.map { UInt32($0) })
        })
}

/// Names whose bit patterns differ between `a` and `b` (or that only one of them has).
func differingNames(_ a: [String: [UInt32]], _ b: [String: [UInt32]]) -> [String] {
    Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
}

/// A `TrainingRun` that discards progress lines, logging beside `checkpoint`.
func quietRun(
    _ trainer: Trainer, checkpoint: URL, append: Bool = false,
    progress: @escaping (String, Bool) -> Void = { _, _ in }
) throws -> TrainingRun {
    let log = try MetricsLog(
        path: checkpoint.deletingLastPathComponent().appendingPathComponent("metrics.jsonl").path,
        append: append)
    return TrainingRun(trainer: trainer, checkpointPath: checkpoint.path, log: log, progress: progress)
}

/// The JSON objects of a metrics log, one per line.
func metricsRecords(_ url: URL) throws -> [[String: Any]] {
    let text = try String(contentsOf: url, encoding: .utf8)
    return try text.split(separator: "\n").map { line in
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(object as? [String: Any], "not a JSON object: \(line)")
    }
}

/// Runs `body`, returning the error of type `E` it throws (recording an issue if it throws
/// something else or nothing).
@discardableResult
func thrown<E: Error>(
    _ errorType: E.Type, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) -> E? {
    do {
        try body()
        Issue.record("expected \(E.self), but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as E {
        return error
    } catch {
        Issue.record("expected \(E.self), got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
