import Foundation
import MoECheckpoint
import MoETestSupport
import Testing

@testable import MoETasks
@testable import MoETraining

/// Resuming is invisible: 3 steps, a checkpoint on disk, a fresh process-equivalent
/// `Trainer(resuming:)` and 3 more steps end bit for bit where 6 uninterrupted steps end —
/// weights, optimiser moments, step counts, sampler and dataset-chooser state, and losses.
@Suite struct ResumeTests {
    static let twoDatasets = [
        TinyDataset(name: "digits", samplingWeight: 3, batchSize: 16),
        TinyDataset(name: "digits-b", samplingWeight: 1, batchSize: 8),
    ]

    @Test(
        "3 steps + checkpoint + resume + 3 steps is bit-identical to 6 steps",
        arguments: ["adamw", "sgd", "lamb", "adam-per-task"], [false, true])
    func resumeEqualsUninterrupted(optimizer: String, twoDatasets: Bool) throws {
        let datasets = twoDatasets ? Self.twoDatasets : [TinyDataset(name: "digits")]
        let recipe = try tinyRecipe(steps: 6, optimizer: optimizer, datasets: datasets)

        let uninterrupted = try tinyTrainer(recipe)
        var expected: [StepReport] = []
        for _ in 0..<6 { expected.append(try uninterrupted.step()) }
        #expect(uninterrupted.isFinished)

        let first = try tinyTrainer(recipe)
        for _ in 0..<3 { try first.step() }
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("run.moe")
            try first.checkpoint().write(to: url)
            let resumed = try Trainer(
                resuming: try RunCheckpoint.read(path: url.path), path: url.path, totalSteps: 6)

            // What was saved comes back exactly.
            #expect(resumed.recipe == recipe)
            #expect(resumed.state == first.state)
            #expect(resumed.optimizer.stepCount == 3)
            #expect(differingNames(parameterBits(resumed.model), parameterBits(first.model)) == [])
            #expect(differingNames(optimizerBits(resumed.optimizer), optimizerBits(first.optimizer)) == [])

            var actual: [StepReport] = []
            for _ in 0..<3 { actual.append(try resumed.step()) }
            #expect(resumed.isFinished)

            let tail = expected[3...]
            #expect(actual.map(\.dataset) == tail.map(\.dataset))
            #expect(actual.map(\.loss.bitPattern) == tail.map(\.loss.bitPattern))
            #expect(actual.map(\.learningRate.bitPattern) == tail.map(\.learningRate.bitPattern))
            #expect(differingNames(parameterBits(resumed.model), parameterBits(uninterrupted.model)) == [])
            let optimizerState = optimizerBits(uninterrupted.optimizer)
            #expect(!optimizerState.isEmpty || optimizer == "sgd" && recipe.optimizer.momentum == 0)
            #expect(differingNames(optimizerBits(resumed.optimizer), optimizerState) == [])
            #expect(resumed.optimizer.stateMetadata == uninterrupted.optimizer.stateMetadata)
            #expect(resumed.state == uninterrupted.state)
        }
        if twoDatasets {
            // The chooser picked each dataset at least once, on both sides of the resume.
            let firstHalf = Set(expected[..<3].map(\.dataset))
            let secondHalf = Set(expected[3...].map(\.dataset))
            #expect(firstHalf.union(secondHalf) == ["digits", "digits-b"])
            #expect(uninterrupted.state.imagesSeen.values.allSatisfy { $0 > 0 })
        }
    }

    @Test("extending totalSteps on resume continues the run")
    func extendRun() throws {
        let recipe = try tinyRecipe(steps: 2)
        let trainer = try tinyTrainer(recipe)
        for _ in 0..<2 { try trainer.step() }
        #expect(trainer.isFinished)
        let resumed = try Trainer(resuming: try trainer.checkpoint(), path: "memory", totalSteps: 4)
        #expect(!resumed.isFinished && resumed.state.step == 2 && resumed.state.totalSteps == 4)
        try resumed.step()
        try resumed.step()
        #expect(resumed.isFinished && resumed.state.imagesSeen["digits"] == 4 * 16)
    }

    @Test("a checkpoint saved without training state cannot be resumed")
    func missingState() throws {
        let trainer = try tinyTrainer(try tinyRecipe())
        let weightsOnly = try RunCheckpoint.make(
            model: trainer.model, recipe: trainer.recipe, state: nil, optimizer: nil)
        let error = thrown(TrainingError.self) { _ = try Trainer(resuming: weightsOnly, path: "w.moe") }
        #expect(error == .missingState(path: "w.moe", key: RunCheckpoint.Key.trainingState))
    }
}
