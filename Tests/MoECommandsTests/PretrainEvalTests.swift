import ArgumentParser
import Foundation
import MoECheckpoint
import MoETestSupport
import Synchronization
import Testing

@testable import MoECommands
@testable import MoEData
@testable import MoERecipe
@testable import MoETasks
@testable import MoETraining

/// `moe pretrain` end to end on a tiny digits recipe: it writes the checkpoint where --out
/// says, a JSON-lines metrics log beside it, resumes from that checkpoint, and `moe eval`
/// reads it back. Holds the cross-module training-run lock (it runs `TrainingRun`).
@Suite(.serialized) struct PretrainEvalTests {
    static func records(_ url: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any], "not a JSON object: \(line)")
        }
    }

    @Test("pretrain → checkpoint + metrics.jsonl; resume extends it; eval --json reads it")
    func endToEnd() throws {
        _ = parallelPoolReady
        try withTrainingRunLock {
            Interrupt.reset()
            try withTemporaryDirectory { dir in
                let recipePath = dir.appendingPathComponent("tiny.yaml")
                try tinyDigitsRecipe.write(to: recipePath, atomically: true, encoding: .utf8)
                let out = dir.appendingPathComponent("run/run.moe")
                let log = dir.appendingPathComponent("run/metrics.jsonl")

                var pretrain = try MoECommand.parseAsRoot([
                    "pretrain", "--recipe", recipePath.path, "--out", out.path, "--steps", "5",
                    "--set", "optimizer.lr=2e-3",
                ])
                let printed = try capturingStandardOutput(in: dir) { try pretrain.run() }
                #expect(printed.contains("finished 5 steps"))
                #expect(printed.contains("checkpoint: \(out.path)"))

                #expect(FileManager.default.fileExists(atPath: out.path))
                let file = try RunCheckpoint.read(path: out.path)
                let recipe = try RunCheckpoint.recipe(file)
                #expect(recipe.training.steps == 5 && recipe.output == out.path)
                #expect(recipe.optimizer.learningRate == 2e-3)
                #expect(try file.decodeMetadata(TrainingState.self, key: RunCheckpoint.Key.trainingState).step == 5)

                var records = try Self.records(log)
                #expect(!records.isEmpty && records.allSatisfy { $0["event"] is String })
                #expect(records.filter { $0["event"] as? String == "train" }.count == 5)
                #expect(records.filter { $0["event"] as? String == "eval" }.count == 1)

                var resume = try MoECommand.parseAsRoot(["pretrain", "--resume", out.path, "--steps", "7"])
                _ = try capturingStandardOutput(in: dir) { try resume.run() }
                let resumed = try RunCheckpoint.read(path: out.path)
                #expect(try resumed.decodeMetadata(TrainingState.self, key: RunCheckpoint.Key.trainingState).step == 7)
                records = try Self.records(log)
                #expect(
                    records.filter { $0["event"] as? String == "train" }.compactMap { $0["step"] as? Int }
                        == [1, 2, 3, 4, 5, 6, 7], "the resumed run appends to the log")

                var eval = try MoECommand.parseAsRoot(["eval", "--checkpoint", out.path, "--json"])
                let output = try capturingStandardOutput(in: dir) { try eval.run() }
                let object = output.split(separator: "\n").lazy.compactMap {
                    (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
                }.first { $0["digits"] != nil }
                let digits = try #require(object?["digits"] as? [String: Any], "no JSON line in: \(output)")
                #expect(digits["count"] as? Int == 359)
                let top1 = try #require(digits["top1"] as? Double)
                let top5 = try #require(digits["top5"] as? Double)
                #expect(0 <= top1 && top1 <= top5 && top5 <= 1)
                #expect((digits["loss"] as? Double)?.isFinite == true)
            }
        }
    }

    @Test("Ctrl-C: pretrain saves the run and exits with status 130, so a script sees it unfinished")
    func interruptExitStatus() throws {
        _ = parallelPoolReady
        try withTrainingRunLock {
            Interrupt.reset()
            defer { Interrupt.reset() }
            try withTemporaryDirectory { dir in
                let recipePath = dir.appendingPathComponent("tiny.yaml")
                try tinyDigitsRecipe.write(to: recipePath, atomically: true, encoding: .utf8)
                let out = dir.appendingPathComponent("run/run.moe")
                var pretrain = try MoECommand.parseAsRoot(["pretrain", "--recipe", recipePath.path, "--out", out.path])
                Interrupt.requested.store(1, ordering: .relaxed)
                var status: Int32?
                let printed = try capturingStandardOutput(in: dir) {
                    do { try pretrain.run() } catch let code as ExitCode { status = code.rawValue }
                }
                #expect(status == 130)
                #expect(printed.contains("interrupted 0 steps"))
                let saved = try RunCheckpoint.read(path: out.path)
                #expect(try saved.decodeMetadata(TrainingState.self, key: RunCheckpoint.Key.trainingState).step == 0)
            }
        }
    }

    @Test("a missing recipe file fails with the recipe error")
    func missingRecipe() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("nope.yaml").path
            var pretrain = try MoECommand.parseAsRoot(["pretrain", "--recipe", path])
            #expect(throws: RecipeError.fileNotFound(path)) { try pretrain.run() }
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("checkpoints").path))
        }
    }
}
