import ArgumentParser
import MoEAdaptation
import Testing

@testable import MoECommands

/// `adapt`, `prune`, `expand` and `eval --top-k` parse into their documented options, and bad
/// combinations fail before any work with a message naming the flag.
@Suite struct AdaptationCommandTests {
    @Test("adapt takes router-only, experts, expert choice, top-k, steps and output")
    func adapt() throws {
        let a = try #require(
            try MoECommand.parseAsRoot([
                "adapt", "--router-only", "--checkpoint", "c.moe", "--recipe", "recipes/digits.yaml",
                "--experts", "2", "--expert-choice", "most-used", "--top-k", "3", "--steps", "50",
                "--out", "d.moe",
            ]) as? MoECommand.Adapt)
        #expect(a.routerOnly && a.experts == 2 && a.expertChoice == .mostUsed && a.topK == 3)
        #expect(a.job.steps == 50 && a.job.out == "d.moe" && a.checkpoint == "c.moe")
        let plain = try #require(
            try MoECommand.parseAsRoot([
                "adapt", "--checkpoint", "c.moe", "--recipe", "r.yaml", "--out", "d.moe",
            ]) as? MoECommand.Adapt)
        #expect(!plain.routerOnly && plain.experts == 0 && plain.expertChoice == .random && plain.topK == nil)
    }

    @Test("prune takes --keep or --threshold, fine-tuning and output")
    func prune() throws {
        let p = try #require(
            try MoECommand.parseAsRoot([
                "prune", "--checkpoint", "c.moe", "--dataset", "digits", "--keep", "6",
                "--finetune-steps", "100", "--finetune", "all", "--out", "p.moe",
            ]) as? MoECommand.Prune)
        #expect(p.keep == 6 && p.threshold == nil && p.finetuneSteps == 100 && p.finetune == .all)
        let t = try #require(
            try MoECommand.parseAsRoot([
                "prune", "--checkpoint", "c.moe", "--dataset", "digits", "--threshold", "0.05", "--out", "p.moe",
            ]) as? MoECommand.Prune)
        #expect(t.threshold == 0.05 && t.keep == nil && t.finetune == .experts && !t.keepOtherDatasets)
    }

    @Test("expand takes experts, initialisation, steps and output; eval takes --top-k")
    func expandAndEval() throws {
        let e = try #require(
            try MoECommand.parseAsRoot([
                "expand", "--checkpoint", "c.moe", "--recipe", "r.yaml", "--experts", "2",
                "--initialization", "fresh", "--steps", "20", "--out", "e.moe",
            ]) as? MoECommand.Expand)
        #expect(e.experts == 2 && e.initialization == .fresh && e.job.steps == 20)
        let v = try #require(
            try MoECommand.parseAsRoot(["eval", "--checkpoint", "c.moe", "--top-k", "2"]) as? MoECommand.Eval)
        #expect(v.topK == 2)
    }

    @Test(
        "invalid adaptation arguments fail with a message naming the problem",
        arguments: [
            (
                ["adapt", "--checkpoint", "c", "--recipe", "r", "--experts", "2", "--out", "o"],
                "--experts needs --router-only"
            ),
            (
                ["adapt", "--router-only", "--checkpoint", "c", "--recipe", "r", "--top-k", "0", "--out", "o"],
                "--top-k must be at least 1"
            ),
            (
                [
                    "adapt", "--router-only", "--checkpoint", "c", "--recipe", "r", "--expert-choice", "best", "--out",
                    "o",
                ], "best"
            ),
            (["adapt", "--router-only", "--checkpoint", "c", "--recipe", "r", "--out", "c"], "--out must differ"),
            (
                ["prune", "--checkpoint", "c", "--dataset", "d", "--out", "o"],
                "exactly one of --keep N and --threshold P"
            ),
            (
                ["prune", "--checkpoint", "c", "--dataset", "d", "--keep", "2", "--threshold", "0.1", "--out", "o"],
                "exactly one"
            ),
            (
                ["prune", "--checkpoint", "c", "--dataset", "d", "--keep", "0", "--out", "o"],
                "--keep must be at least 1"
            ),
            (
                ["prune", "--checkpoint", "c", "--dataset", "d", "--threshold", "1.5", "--out", "o"],
                "--threshold must be a share"
            ),
            (
                ["expand", "--checkpoint", "c", "--recipe", "r", "--experts", "0", "--out", "o"],
                "--experts must be at least 1"
            ),
            (["expand", "--checkpoint", "c", "--recipe", "r", "--out", "o"], "--experts"),
            (["eval", "--checkpoint", "c", "--top-k", "0"], "--top-k must be at least 1"),
        ])
    func invalid(arguments: [String], expected: String) {
        let message = CommandParsingTests.message(arguments)
        #expect(message != nil, "\(arguments) parsed")
        #expect(message?.contains(expected) == true, "\(message ?? "")")
    }

    @Test("a missing checkpoint is reported by name")
    func missingCheckpoint() throws {
        #expect(throws: AdaptationError.self) { try SourceCheckpoint(path: "/nonexistent/x.moe") }
        do {
            _ = try SourceCheckpoint(path: "/nonexistent/x.moe")
        } catch {
            #expect("\(error)".contains("/nonexistent/x.moe"))
        }
    }
}
