import Foundation
import MoECheckpoint
import MoETensor
import MoETestSupport
import Synchronization
import Testing

@testable import MoEData
@testable import MoETasks
@testable import MoETraining

/// The outer loop's promises: a NaN stops the run with the last good checkpoint intact and
/// named, and logged; Ctrl-C saves, stops and resumes to the same end as an uninterrupted run;
/// metrics.jsonl holds one JSON object per line. Serialised: these tests run `TrainingRun` and
/// set the process-wide `Interrupt` flag.
@Suite(.serialized) struct RunLifecycleTests {
    /// Sets a parameter's first value to NaN.
    static func poison(_ trainer: Trainer, _ name: String = "heads.digits.fc.weight") throws {
        try trainer.model.store.parameter(named: name).value[0] = .nan
    }

    static func events(_ records: [[String: Any]], _ event: String) -> [[String: Any]] {
        records.filter { $0["event"] as? String == event }
    }

    // MARK: NaN

    @Test("a NaN after a finished run stops the continued run; the checkpoint still holds the good weights")
    func nanAfterCheckpoint() throws {
        try withTrainingRunLock {
            try withTemporaryDirectory { dir in
                let url = dir.appendingPathComponent("run.moe")
                let log = dir.appendingPathComponent("metrics.jsonl")
                let trainer = try tinyTrainer(try tinyRecipe(steps: 4, checkpointEvery: 2))
                let summary = try quietRun(trainer, checkpoint: url).run()
                #expect(summary.outcome == .finished && summary.steps == 4)
                let good = parameterBits(trainer.model)

                try Self.poison(trainer)
                var state = trainer.state
                state.totalSteps = 8
                let continued = try Trainer(
                    recipe: trainer.recipe, data: trainer.data, model: trainer.model,
                    optimizer: trainer.optimizer, state: state, history: trainer.history)
                let run = try quietRun(continued, checkpoint: url, append: true)
                let error = thrown(TrainingError.self) { _ = try run.run(lastCheckpoint: url.path) }
                #expect(error == .nonFiniteLoss(step: 5, dataset: "digits", lastCheckpoint: url.path))
                #expect(error?.description.contains("intact at \(url.path)") == true)

                let saved = try RunCheckpoint.read(path: url.path)
                #expect(differingNames(parameterBits(try RunCheckpoint.loadModel(saved, path: url.path)), good) == [])
                let savedState = try saved.decodeMetadata(TrainingState.self, key: RunCheckpoint.Key.trainingState)
                #expect(savedState.step == 4 && savedState.totalSteps == 4)

                let records = try metricsRecords(log)
                let nan = Self.events(records, "nan")
                #expect(nan.count == 1)
                #expect(nan.first?["step"] as? Int == 5 && nan.first?["dataset"] as? String == "digits")
                #expect(Self.events(records, "train").count == 4, "the first run's lines were kept")
                #expect(try String(contentsOf: log, encoding: .utf8).contains(#""event":"nan""#))
            }
        }
    }

    @Test("a NaN mid-run names the periodic checkpoint, which holds the weights it was saved with")
    func nanMidRun() throws {
        try withTrainingRunLock {
            try withTemporaryDirectory { dir in
                let url = dir.appendingPathComponent("run.moe")
                let trainer = try tinyTrainer(try tinyRecipe(steps: 8, checkpointEvery: 2))
                var atStep2: [String: [UInt32]] = [:]
                // Progress comes after each step's update and before its checkpoint.
                let run = try quietRun(trainer, checkpoint: url) { line, _ in
                    if line.hasPrefix("step 2/") { atStep2 = parameterBits(trainer.model) }
                    if line.hasPrefix("step 3/") { try? Self.poison(trainer) }
                }
                let error = thrown(TrainingError.self) { _ = try run.run() }
                #expect(error == .nonFiniteLoss(step: 4, dataset: "digits", lastCheckpoint: url.path))
                let saved = try RunCheckpoint.read(path: url.path)
                #expect(!atStep2.isEmpty)
                #expect(
                    differingNames(parameterBits(try RunCheckpoint.loadModel(saved, path: url.path)), atStep2) == [])
                #expect(try saved.decodeMetadata(TrainingState.self, key: RunCheckpoint.Key.trainingState).step == 2)
            }
        }
    }

    @Test("a NaN before any checkpoint says none was written and writes none")
    func nanBeforeCheckpoint() throws {
        try withTrainingRunLock {
            try withTemporaryDirectory { dir in
                let url = dir.appendingPathComponent("run.moe")
                let trainer = try tinyTrainer(try tinyRecipe(steps: 3))
                try Self.poison(trainer)
                let error = thrown(TrainingError.self) { _ = try quietRun(trainer, checkpoint: url).run() }
                #expect(error == .nonFiniteLoss(step: 1, dataset: "digits", lastCheckpoint: nil))
                #expect(error?.description.contains("No checkpoint was written yet") == true)
                #expect(!FileManager.default.fileExists(atPath: url.path))
                #expect(Self.events(try metricsRecords(dir.appendingPathComponent("metrics.jsonl")), "nan").count == 1)
            }
        }
    }

    // MARK: Ctrl-C

    @Test("Ctrl-C before the first step saves step 0 and returns .interrupted")
    func interruptBeforeStart() throws {
        try withTrainingRunLock {
            Interrupt.reset()
            defer { Interrupt.reset() }
            try withTemporaryDirectory { dir in
                let url = dir.appendingPathComponent("run.moe")
                let trainer = try tinyTrainer(try tinyRecipe(steps: 3))
                Interrupt.requested.store(1, ordering: .relaxed)
                #expect(Interrupt.isRequested)
                let summary = try quietRun(trainer, checkpoint: url).run()
                #expect(summary.outcome == .interrupted && summary.steps == 0)
                #expect(summary.checkpointPath == url.path && summary.metrics.isEmpty)
                let saved = try RunCheckpoint.read(path: url.path)
                #expect(try saved.decodeMetadata(TrainingState.self, key: RunCheckpoint.Key.trainingState).step == 0)
            }
        }
    }

    @Test("Ctrl-C mid-run saves and stops; resuming finishes bit-identical to an uninterrupted run")
    func interruptAndResume() throws {
        try withTrainingRunLock {
            Interrupt.reset()
            defer { Interrupt.reset() }
            let recipe = try tinyRecipe(
                steps: 5,
                datasets: [
                    TinyDataset(name: "digits", samplingWeight: 3), TinyDataset(name: "digits-b", batchSize: 8),
                ])
            let reference = try tinyTrainer(recipe)
            for _ in 0..<5 { try reference.step() }

            try withTemporaryDirectory { dir in
                let url = dir.appendingPathComponent("run.moe")
                let trainer = try tinyTrainer(recipe)
                let run = try quietRun(trainer, checkpoint: url) { line, _ in
                    if line.hasPrefix("step 2/") { Interrupt.requested.add(1, ordering: .relaxed) }
                }
                let summary = try run.run()
                #expect(summary.outcome == .interrupted && summary.steps == 2)
                let saved = try RunCheckpoint.read(path: url.path)
                #expect(
                    try saved.decodeMetadata(TrainingState.self, key: RunCheckpoint.Key.trainingState) == trainer.state)
                #expect(
                    differingNames(
                        parameterBits(try RunCheckpoint.loadModel(saved, path: url.path)),
                        parameterBits(trainer.model)) == [])

                Interrupt.reset()
                let resumed = try Trainer(resuming: saved, path: url.path)
                let finished = try quietRun(resumed, checkpoint: url, append: true).run(lastCheckpoint: url.path)
                #expect(finished.outcome == .finished && finished.steps == 3)
                #expect(resumed.state.step == 5 && resumed.isFinished)
                #expect(Set(finished.metrics.keys) == ["digits", "digits-b"])
                #expect(differingNames(parameterBits(resumed.model), parameterBits(reference.model)) == [])
                var state = resumed.state
                state.trainingSeconds = reference.state.trainingSeconds  // wall time differs
                #expect(state == reference.state)

                let records = try metricsRecords(dir.appendingPathComponent("metrics.jsonl"))
                #expect(Self.events(records, "train").compactMap { $0["step"] as? Int } == [1, 2, 3, 4, 5])
                #expect(Self.events(records, "eval").count == 2, "one final evaluation per dataset")
                let final = try RunCheckpoint.read(path: url.path)
                #expect(try final.decodeMetadata(TrainingState.self, key: RunCheckpoint.Key.trainingState).step == 5)
            }
        }
    }

    // MARK: Metrics log

    @Test("every metrics line is a JSON object with an event; train lines carry the step's numbers")
    func metricsLines() throws {
        try withTrainingRunLock {
            try withTemporaryDirectory { dir in
                let url = dir.appendingPathComponent("sub/run.moe")
                let recipe = try tinyRecipe(steps: 4, overrides: ["training.logEvery=2", "training.evalEvery=2"])
                let trainer = try tinyTrainer(recipe)
                var lines: [String] = []
                let summary = try quietRun(trainer, checkpoint: url) { line, _ in lines.append(line) }.run()
                #expect(summary.outcome == .finished && FileManager.default.fileExists(atPath: url.path))
                let records = try metricsRecords(dir.appendingPathComponent("sub/metrics.jsonl"))
                #expect(records.allSatisfy { $0["event"] is String })
                let train = Self.events(records, "train")
                #expect(train.compactMap { $0["step"] as? Int } == [2, 4])
                for r in train {
                    for key in ["loss", "lr", "grad_norm", "images_per_s", "seconds"] {
                        #expect((r[key] as? Double)?.isFinite == true, "train line lacks a finite \(key)")
                    }
                }
                let evals = Self.events(records, "eval")
                #expect(evals.compactMap { $0["step"] as? Int } == [2, 4])
                #expect(evals.allSatisfy { ($0["top1"] as? Double).map { (0...1).contains($0) } == true })
                #expect(lines.contains { $0.hasPrefix("step 4/4  digits  loss ") })
                #expect(summary.metrics["digits"]?.count == trainer.data[0].test.count)
            }
        }
    }
}
