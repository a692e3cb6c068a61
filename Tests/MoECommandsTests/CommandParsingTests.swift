import ArgumentParser
import Testing

@testable import MoECommands

/// The command line parses into the options each command documents, and invalid
/// combinations fail at parse time (before any work) with a message naming the flag.
@Suite struct CommandParsingTests {
    static func message(_ arguments: [String]) -> String? {
        do {
            _ = try MoECommand.parseAsRoot(arguments)
            return nil
        } catch {
            return MoECommand.message(for: error)
        }
    }

    @Test("pretrain takes a recipe, repeated --set, steps, output and threads")
    func pretrain() throws {
        let command = try MoECommand.parseAsRoot([
            "pretrain", "--recipe", "r.yaml", "--set", "optimizer.lr=2e-3", "--set", "model.depth=3",
            "--steps", "7", "--out", "runs/x.moe", "--threads", "3",
        ])
        let p = try #require(command as? MoECommand.Pretrain)
        #expect(p.recipe == "r.yaml")
        #expect(p.overrides == ["optimizer.lr=2e-3", "model.depth=3"])
        #expect(p.steps == 7 && p.out == "runs/x.moe" && p.resume == nil && p.runtime.threads == 3)
    }

    @Test("pretrain defaults to the shipped heterogeneous default recipe; --resume names a checkpoint")
    func pretrainDefaultsAndResume() throws {
        let plain = try #require(try MoECommand.parseAsRoot(["pretrain"]) as? MoECommand.Pretrain)
        #expect(plain.recipe == "recipes/default.yaml" && plain.overrides.isEmpty && plain.steps == nil)
        #expect(plain.runtime.threads == nil)
        let resume = try #require(
            try MoECommand.parseAsRoot(["pretrain", "--resume", "a.moe", "--steps", "9"]) as? MoECommand.Pretrain)
        #expect(resume.resume == "a.moe" && resume.steps == 9)
    }

    @Test("eval takes a checkpoint and --json")
    func eval() throws {
        let e = try #require(
            try MoECommand.parseAsRoot(["eval", "--checkpoint", "c.moe", "--json"]) as? MoECommand.Eval)
        #expect(e.checkpoint == "c.moe" && e.json && e.batchSize == 256)
        let plain = try #require(try MoECommand.parseAsRoot(["eval", "--checkpoint", "c.moe"]) as? MoECommand.Eval)
        #expect(!plain.json)
    }

    @Test("bench takes --json and keeps its defaults")
    func bench() throws {
        let b = try #require(try MoECommand.parseAsRoot(["bench", "--json"]) as? MoECommand.Bench)
        #expect(b.json && b.samples == 10 && b.trainBatch == 64 && b.inferBatch == 256)
    }

    @Test(
        "invalid arguments fail with a message naming the problem",
        arguments: [
            (["pretrain", "--steps", "0"], "--steps must be at least 1"),
            (["pretrain", "--threads", "0"], "--threads must be at least 1"),
            (["pretrain", "--resume", "a.moe", "--set", "model.depth=3"], "--set cannot change a resumed run"),
            (["eval"], "--checkpoint"),
            (["eval", "--checkpoint", "c.moe", "--batch-size", "0"], "--batch-size must be at least 1"),
            (["bench", "--samples", "0"], "--samples must be at least 1"),
            (["pretrain", "--steps", "many"], "many"),
            (["train"], "train"),
        ])
    func invalid(arguments: [String], expected: String) {
        let message = Self.message(arguments)
        #expect(message != nil, "\(arguments) parsed")
        #expect(message?.contains(expected) == true, "\(message ?? "")")
    }

    @Test("the help lists pretrain, eval and bench")
    func help() {
        let help = MoECommand.helpMessage()
        for name in ["pretrain", "eval", "bench"] {
            #expect(help.contains(name), "help lacks \(name)")
        }
        #expect(MoECommand.helpMessage(for: MoECommand.Pretrain.self).contains("--set"))
    }
}
