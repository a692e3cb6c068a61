import ArgumentParser
import Foundation
import MoECheckpoint
import MoETensor
import MoETestSupport
import Testing

@testable import MoECommands
@testable import MoETraining

/// What a user gets from the command line for bad arguments, an interrupted adaptation, a
/// checkpoint with nothing to evaluate, and an output path under a file.
@Suite(.serialized) struct BadInputCommandTests {
    func parseError(_ arguments: [String]) -> String? {
        do {
            var command = try MoECommand.parseAsRoot(arguments)
            try command.validate()
            return nil
        } catch {
            return MoECommand.message(for: error)
        }
    }

    @Test(
        "negative and out-of-range numbers are named with the allowed range, not 'missing value'",
        arguments: [
            (["adapt", "--checkpoint", "c", "--recipe", "r", "--out", "o", "--experts", "-3"], "--experts"),
            (["adapt", "--checkpoint", "c", "--recipe", "r", "--out", "o", "--steps", "-5"], "--steps"),
            (["eval", "--checkpoint", "c", "--batch-size", "-1"], "--batch-size"),
            (["eval", "--checkpoint", "c", "--threads", "100000"], "--threads"),
            (["pretrain", "--steps", "-2"], "--steps"),
            (["prune", "--checkpoint", "c", "--dataset", "d", "--keep", "-1", "--out", "o"], "--keep"),
            (["expand", "--checkpoint", "c", "--recipe", "r", "--experts", "-2", "--out", "o"], "--experts"),
            (["inspect", "--checkpoint", "c", "--images", "-4"], "--images"),
        ])
    func numbers(arguments: [String], option: String) throws {
        let message = try #require(parseError(arguments), "\(arguments) was accepted")
        #expect(message.contains(option) && !message.contains("Missing value"), "\(message)")
    }

    @Test("a negative value where one is allowed parses (relations --tau)")
    func negativeAllowed() throws {
        let r = try #require(try MoECommand.parseAsRoot(["relations", "--tau", "-0.05"]) as? MoECommand.Relations)
        #expect(r.tau == -0.05)
    }

    /// A tiny pretrained digits checkpoint in `dir`.
    func pretrained(in dir: URL) throws -> URL {
        let recipe = dir.appendingPathComponent("tiny.yaml")
        try tinyDigitsRecipe.replacingOccurrences(of: "steps: 100", with: "steps: 3")
            .write(to: recipe, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("run/run.moe")
        var pretrain = try MoECommand.parseAsRoot(["pretrain", "--recipe", recipe.path, "--out", out.path])
        _ = try capturingStandardOutput(in: dir) { try pretrain.run() }
        return out
    }

    @Test("Ctrl-C in adapt exits 130, and pretrain --resume finishes the adaptation with the backbone frozen")
    func interruptedAdaptation() throws {
        _ = parallelPoolReady
        try withTrainingRunLock {
            Interrupt.reset()
            defer { Interrupt.reset() }
            try withTemporaryDirectory { dir in
                let source = try pretrained(in: dir)
                let adaptRecipe = dir.appendingPathComponent("adapt.yaml")
                try
                    "name: a\ndatasets:\n  digits2: {source: digits, batchSize: 16}\ntraining: {steps: 4, logEvery: 1}\n"
                    .write(to: adaptRecipe, atomically: true, encoding: .utf8)
                let out = dir.appendingPathComponent("adapted/adapted.moe")
                var adapt = try MoECommand.parseAsRoot([
                    "adapt", "--router-only", "--checkpoint", source.path, "--recipe", adaptRecipe.path, "--out",
                    out.path,
                ])
                Interrupt.requested.store(1, ordering: .relaxed)
                var status: Int32?
                _ = try capturingStandardOutput(in: dir) {
                    do { try adapt.run() } catch let code as ExitCode { status = code.rawValue }
                }
                #expect(status == 130)
                Interrupt.reset()

                var resume = try MoECommand.parseAsRoot(["pretrain", "--resume", out.path])
                let printed = try capturingStandardOutput(in: dir) { try resume.run() }
                #expect(printed.contains("finished 4 steps"), "\(printed)")
                let before = try RunCheckpoint.loadModel(try RunCheckpoint.read(path: source.path), path: source.path)
                let after = try RunCheckpoint.loadModel(try RunCheckpoint.read(path: out.path), path: out.path)
                for p in before.store.parameters where !p.name.hasPrefix("heads.") {
                    let q = try after.store.parameter(named: p.name)
                    #expect(q.value.storage.map(\.bitPattern) == p.value.storage.map(\.bitPattern), "\(p.name) moved")
                }
                #expect(after.store.contains("heads.digits2.fc.weight"))
            }
        }
    }

    @Test("eval of a checkpoint whose recipe names no dataset of the model is an error, not {}")
    func nothingToEvaluate() throws {
        try withTrainingRunLock {
            try withTemporaryDirectory { dir in
                let source = try pretrained(in: dir)
                var checkpoint = try RunCheckpoint.read(path: source.path)
                let recipe = try #require(checkpoint.metadata[RunCheckpoint.Key.recipe])
                checkpoint.metadata[RunCheckpoint.Key.recipe] = recipe.replacingOccurrences(
                    of: #""name":"digits""#, with: #""name":"other""#)
                let edited = dir.appendingPathComponent("edited.moe")
                try checkpoint.write(to: edited)
                var eval = try MoECommand.parseAsRoot(["eval", "--checkpoint", edited.path, "--json"])
                let error = #expect(throws: TrainingError.self) { try eval.run() }
                #expect("\(error!)".contains("nothing to evaluate"))
            }
        }
    }

    @Test("--out under a regular file names that file")
    func outUnderFile() throws {
        try withTrainingRunLock {
            try withTemporaryDirectory { dir in
                let recipe = dir.appendingPathComponent("tiny.yaml")
                try tinyDigitsRecipe.write(to: recipe, atomically: true, encoding: .utf8)
                let file = dir.appendingPathComponent("plain.txt")
                try "x".write(to: file, atomically: true, encoding: .utf8)
                var pretrain = try MoECommand.parseAsRoot([
                    "pretrain", "--recipe", recipe.path, "--out", file.path + "/run/run.moe",
                ])
                let error = #expect(throws: TrainingError.self) {
                    _ = try capturingStandardOutput(in: dir) { try pretrain.run() }
                }
                #expect("\(error!)".contains("plain.txt"), "\(error!)")
            }
        }
    }
}
