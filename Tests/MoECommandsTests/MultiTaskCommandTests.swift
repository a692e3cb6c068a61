import Foundation
import MoETestSupport
import Testing

@testable import MoECommands
@testable import MoERecipe
@testable import MoETraining

/// The multi-task toolkit from the command line: `pretrain --set balancing=pcgrad` with
/// diagnostics, `inspect --gradients` plotting them, and `eval --baselines` reporting Δm.
@Suite(.serialized) struct MultiTaskCommandTests {
    @Test("pcgrad + diagnostics → inspect --gradients SVG; eval --baselines prints Δm")
    func toolkit() throws {
        _ = parallelPoolReady
        try withTrainingRunLock {
            Interrupt.reset()
            try withTemporaryDirectory { dir in
                let two = tinyDigitsRecipe.replacingOccurrences(
                    of: "\noptimizer:", with: "\n  digits-b:\n    source: digits\n    batchSize: 8\noptimizer:")
                let recipePath = dir.appendingPathComponent("two.yaml")
                try two.write(to: recipePath, atomically: true, encoding: .utf8)
                let single = dir.appendingPathComponent("one.yaml")
                try tinyDigitsRecipe.write(to: single, atomically: true, encoding: .utf8)
                let out = dir.appendingPathComponent("mt/mt.moe")
                let base = dir.appendingPathComponent("st/st.moe")

                var pretrain = try MoECommand.parseAsRoot([
                    "pretrain", "--recipe", recipePath.path, "--out", out.path, "--steps", "3",
                    "--set", "balancing=pcgrad", "--set", "training.diagnosticsEvery=1",
                ])
                _ = try capturingStandardOutput(in: dir) { try pretrain.run() }
                let log = try String(contentsOf: dir.appendingPathComponent("mt/metrics.jsonl"), encoding: .utf8)
                #expect(log.split(separator: "\n").filter { $0.contains("\"event\":\"grad\"") }.count == 3)
                #expect(log.contains("task_weights"))

                var inspect = try MoECommand.parseAsRoot(["inspect", "--checkpoint", out.path, "--gradients"])
                let printed = try capturingStandardOutput(in: dir) { try inspect.run() }
                #expect(printed.contains("gradient plot"))
                let svg = try String(
                    contentsOfFile: dir.appendingPathComponent("mt/mt-gradients.svg").path, encoding: .utf8)
                #expect(
                    svg.hasPrefix("<svg") && svg.contains("polyline") && svg.contains("digits/digits-b"),
                    "\(svg.prefix(3000))")

                var baseline = try MoECommand.parseAsRoot([
                    "pretrain", "--recipe", single.path, "--out", base.path, "--steps", "2",
                ])
                _ = try capturingStandardOutput(in: dir) { try baseline.run() }
                var eval = try MoECommand.parseAsRoot([
                    "eval", "--checkpoint", out.path, "--baselines", base.path,
                ])
                let table = try capturingStandardOutput(in: dir) { try eval.run() }
                #expect(table.contains("Δm = ") && table.contains("over 1 tasks"))
                var json = try MoECommand.parseAsRoot([
                    "eval", "--checkpoint", out.path, "--baselines", base.path, "--json",
                ])
                let text = try capturingStandardOutput(in: dir) { try json.run() }
                let delta = text.split(separator: "\n").compactMap {
                    (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
                }.first { $0["delta_m"] != nil }
                #expect((delta?["delta_m"] as? Double)?.isFinite == true)
            }
        }
    }

    @Test("relations trains singles and the pair and writes a gradsplit fragment")
    func relationsRuns() throws {
        _ = parallelPoolReady
        try withTemporaryDirectory { dir in
            let two = tinyDigitsRecipe.replacingOccurrences(
                of: "\noptimizer:", with: "\n  digits-b:\n    source: digits\n    batchSize: 8\noptimizer:")
            let recipePath = dir.appendingPathComponent("two.yaml")
            try two.write(to: recipePath, atomically: true, encoding: .utf8)
            let out = dir.appendingPathComponent("relations.yaml")
            var command = try MoECommand.parseAsRoot([
                "relations", "--recipe", recipePath.path, "--steps", "2", "--out", out.path,
            ])
            _ = try capturingStandardOutput(in: dir) { try command.run() }
            let fragment = try String(contentsOf: out, encoding: .utf8)
            #expect(fragment.contains("method: gradsplit") && fragment.contains("relations: [[1, "))
            // The fragment is a valid balancing section of the same recipe.
            let recipe = try Recipe.parse(
                yaml: two + fragment.split(separator: "\n").filter { !$0.hasPrefix("#") }.joined(separator: "\n")
                    + "\n", source: "r.yaml")
            #expect(recipe.balancing.method == .gradsplit && recipe.balancing.relations?.count == 2)
        }
    }

    @Test("relations parses its options")
    func relationsParses() throws {
        let command = try MoECommand.parseAsRoot(["relations", "--steps", "10", "--tau=-0.02"])
        let relations = try #require(command as? MoECommand.Relations)
        #expect(relations.steps == 10 && relations.tau == -0.02)
    }
}
