import Foundation
import MoECheckpoint
import Testing

@testable import MoETraining

/// `Fixtures/format-v1.moe` was written by `moe pretrain` before the module split (commit
/// 6b645ea: two digits datasets, per-task Adam, 4 steps). Every later version must load it,
/// evaluate it to the metrics that version printed, and resume it.
@Suite(.serialized) struct CheckpointCompatibilityTests {
    static let path = repositoryRoot.appendingPathComponent("Tests/MoETrainingTests/Fixtures/format-v1.moe").path

    @Test("a checkpoint written before the refactor evaluates to the metrics it had")
    func evaluates() throws {
        _ = parallelPoolReady
        let file = try RunCheckpoint.read(path: Self.path)
        let model = try RunCheckpoint.loadModel(file, path: Self.path)
        let recipe = try RunCheckpoint.recipe(file, path: Self.path)
        let expected: [String: (top1: Double, loss: Double)] = [
            "digits": (0.07520891364902507, 2.3111718836601067),
            "digits2": (0.10306406685236769, 2.3058043416164047),
        ]
        for entry in recipe.datasets {
            let data = try RunDataset.load(entry, seed: recipe.seed)
            let m = try Evaluation.evaluate(model: model, dataset: data, batchSize: 512)
            let want = try #require(expected[entry.name])
            #expect(m.count == 359)
            #expect(abs((m.values["top1"] ?? -1) - want.top1) < 1e-12)
            #expect(abs((m.values["loss"] ?? -1) - want.loss) < 1e-6, "\(entry.name): \(m.values)")
        }
    }

    @Test("a checkpoint written before the refactor resumes")
    func resumes() throws {
        let trainer = try Trainer(resuming: try RunCheckpoint.read(path: Self.path), path: Self.path, totalSteps: 6)
        #expect(trainer.state.step == 4)
        for _ in 0..<2 { #expect(try trainer.step().loss.isFinite) }
        #expect(trainer.isFinished)
    }
}
