import Foundation
import MoEBench
import MoEModel
import MoETestSupport
import Testing

@testable import MoECommands

/// `moe bench --profile` and `moe bench --recipe`: the breakdown lists the kernel classes and
/// accounts for the whole step; the recipe benchmark reports every dataset.
@Suite(.serialized) struct BenchProfileTests {
    /// A classification, a detection and a segmentation dataset on a 2-block model.
    static let recipe = """
        name: bench-hetero
        seed: 3
        model: {channels: 1, imageSize: 8, patchSize: 4, width: 16, depth: 2, heads: 2, mlpRatio: 2, experts: 4, topK: 2}
        datasets:
          digits: {source: digits, batchSize: 16, samplingWeight: 3}
          detect:
            source: scenes
            task: detection
            scene: {canvas: 16, minItems: 1, maxItems: 2, minScale: 8, maxScale: 12}
            trainSize: 64
            testSize: 16
            batchSize: 8
          segment:
            source: scenes
            task: segmentation
            scene: {canvas: 16, minItems: 1, maxItems: 2, minScale: 8, maxScale: 12}
            trainSize: 64
            testSize: 16
            batchSize: 8
        optimizer: {kind: adam-per-task, lr: 1.0e-3}
        training: {steps: 12, evalBatchSize: 16, miWeight: 5.0e-4}
        """

    /// The per-class summary rows of each table in `output`: class name → share of step time (%).
    static func classShares(_ output: String) -> [[String: Double]] {
        var tables: [[String: Double]] = []
        for line in output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.contains("ms/step (mean of") {
                tables.append([:])
                continue
            }
            guard !tables.isEmpty, line.hasPrefix("  "), !line.hasPrefix("   "), line.count > 50 else { continue }
            let name = line.prefix(50).trimmingCharacters(in: .whitespaces)
            let fields = line.dropFirst(50).split(separator: " ")
            guard fields.count >= 2, fields[1].hasSuffix("%"), let share = Double(fields[1].dropLast()) else {
                continue
            }
            tables[tables.count - 1][name] = share
        }
        return tables
    }

    /// bench-tiny's layout at toy size, so the test stays fast in debug builds (`moe bench
    /// --profile` runs the same `Benchmark.profileTrain`/`profileInfer` on bench-tiny).
    static var toyConfig: ModelConfig {
        var c = Benchmark.benchTiny
        c.imageSize = 8
        c.width = 16
        c.depth = 2
        c.heads = 2
        c.experts = 4
        c.topK = 2
        c.expertHiddenOverride = 16
        c.datasets = [DatasetSpec(name: "toy", classes: 10, height: 8, width: 8)]
        return c
    }

    @Test("the profile of a training step lists the kernel classes and their shares sum to 100 %")
    func profileTrainingStep() throws {
        _ = parallelPoolReady
        let train = try Benchmark.profileTrain(name: "toy", config: Self.toyConfig, batch: 4, steps: 3)
        let infer = try Benchmark.profileInfer(name: "toy", config: Self.toyConfig, batch: 4, steps: 3)
        let output = (train.lines() + infer.lines()).joined(separator: "\n")
        let tables = Self.classShares(output)
        try #require(tables.count == 2, "\(output)")
        for kind in [
            "GEMM", "attention products", "softmax", "LayerNorm", "MoE gather/scatter", "MoE routing", "optimiser",
            "loss", "other",
        ] {
            #expect(tables[0][kind] != nil, "\(kind) missing in \(output)")
        }
        // An MoE layer's GELU runs inside its experts' MLP rows (docs/performance.md §8).
        #expect(output.contains("MLP forward (2 GEMMs + GELU)") && output.contains("MLP backward (4 GEMMs + GELU)"))
        #expect(tables[1]["optimiser"] == nil, "inference has no optimiser")
        for shares in tables {
            let sum = shares.values.reduce(0, +)
            #expect(abs(sum - 100) < 1.5, "shares sum to \(sum): \(shares)")
        }
        #expect(output.contains("x·W") && output.contains("GFLOP/s"))
        #expect(train.flopsPerStep > 0 && train.rows.allSatisfy { $0.secondsPerStep >= 0 })
    }

    @Test("--recipe reports every dataset; with --profile each gets a breakdown")
    func recipeDatasets() throws {
        _ = parallelPoolReady
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("bench.yaml")
            try Self.recipe.write(to: path, atomically: true, encoding: .utf8)
            var bench = try MoECommand.parseAsRoot([
                "bench", "--recipe", path.path, "--profile", "--samples", "10",
            ])
            let output = try capturingStandardOutput(in: dir) { try bench.run() }
            let lines = output.split(separator: "\n").map(String.init)
            for (name, task) in [("digits", "classification"), ("detect", "detection"), ("segment", "segmentation")] {
                #expect(
                    lines.contains { $0.hasPrefix(name + " ") && $0.contains(task) && $0.hasSuffix("") },
                    "\(name) missing in \(output)")
            }
            #expect(output.contains("mean over 3 datasets"))
            let tables = Self.classShares(output)
            #expect(tables.count == 3, "\(output)")
            for shares in tables {
                #expect(shares["data/batch"] != nil && shares["loss"] != nil)
                #expect(abs(shares.values.reduce(0, +) - 100) < 1.5, "\(shares)")
            }
        }
    }
}
