import Foundation
import MoECheckpoint
import MoETensor
import Testing

/// `moe eval`, `moe adapt` and `moe expand` under a real `mpirun -np 2` (DESIGN §11.3):
/// sharded evaluation prints the metrics of one process, and adaptation trains
/// data-parallel like one process on the whole batch, with rank 0 alone writing.
@Suite(.enabled(if: mpirunAvailable, "mpirun is not installed (apt install openmpi-bin)"))
struct DistributedEvalAdaptTests {
    typealias DP = DataParallelPretrainTests

    /// A tiny three-task recipe (classification, detection, segmentation) whose test splits
    /// (359, 37 and 21 examples) no rank count divides evenly.
    static let recipe = """
        name: dp
        seed: 7
        model: {channels: 1, imageSize: 8, patchSize: 4, width: 16, depth: 2, heads: 2, mlpRatio: 2, experts: 4, topK: 2}
        datasets:
          digits: {source: digits, batchSize: 16, samplingWeight: 3}
          detect:
            source: scenes
            task: detection
            scene: {canvas: 16, minItems: 1, maxItems: 2, minScale: 8, maxScale: 12}
            trainSize: 64
            testSize: 37
            batchSize: 8
            samplingWeight: 2
          segment:
            source: scenes
            task: segmentation
            scene: {canvas: 16, minItems: 1, maxItems: 2, minScale: 8, maxScale: 12}
            trainSize: 64
            testSize: 21
            batchSize: 8
        optimizer: {kind: adamw, lr: 3.0e-3}
        schedule: {kind: constant}
        training: {steps: 30, logEvery: 10, evalBatchSize: 16, threads: 1}

        """

    /// The adaptation recipe: a new digits dataset, SGD (see `DP.recipe` on Adam).
    static let adaptation = """
        name: adapt
        seed: 7
        model: {channels: 1, imageSize: 8, patchSize: 4, width: 16, depth: 2, heads: 2, mlpRatio: 2, experts: 4, topK: 2}
        datasets:
          digits-new: {source: digits, batchSize: 16}
        optimizer: {kind: sgd, lr: 0.05, momentum: 0.9}
        schedule: {kind: constant}
        training: {steps: 5, logEvery: 1, evalBatchSize: 64, threads: 1}

        """

    /// A folder with both recipes and a checkpoint trained by one process; its path.
    static func trained() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("moe-dpe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try recipe.write(to: folder.appendingPathComponent("recipe.yaml"), atomically: true, encoding: .utf8)
        try adaptation.write(to: folder.appendingPathComponent("adapt.yaml"), atomically: true, encoding: .utf8)
        let result = try DP.moe(
            ranks: 1,
            [
                "pretrain", "--recipe", folder.appendingPathComponent("recipe.yaml").path, "--out",
                folder.appendingPathComponent("c/c.moe").path,
            ])
        #expect(result.status == 0, "\(result.output)")
        return folder
    }

    /// `moe eval --json` on `ranks` ranks: metrics by dataset and name.
    static func eval(_ folder: URL, ranks: Int) throws -> [String: [String: Double]] {
        let result = try DP.moe(
            ranks: ranks, ["eval", "--json", "--checkpoint", folder.appendingPathComponent("c/c.moe").path])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(lines.count == 1, "rank 0 alone prints: \(result.output)")
        let object = try JSONSerialization.jsonObject(with: Data(lines.first.map(String.init)?.utf8 ?? "".utf8))
        var metrics: [String: [String: Double]] = [:]
        for (name, value) in object as? [String: [String: Any]] ?? [:] {
            metrics[name] = value.compactMapValues { $0 as? Double }
        }
        return metrics
    }

    @Test func shardedEvalEqualsOneProcess() throws {
        let folder = try Self.trained()
        defer { try? FileManager.default.removeItem(at: folder) }
        let one = try Self.eval(folder, ranks: 1)
        #expect(Set(one.keys) == ["digits", "detect", "segment"])
        #expect((one["detect"]?["mAP50"] ?? 0) > 0, "the checkpoint finds some boxes: \(one)")
        for ranks in [2, 3] {
            let many = try Self.eval(folder, ranks: ranks)
            print("eval on \(ranks) ranks: \(many)\none process: \(one)")
            // Counts and gathered detections: exact. The loss is a Double sum in another order.
            for (dataset, name) in [
                ("detect", "mAP50"), ("segment", "mIoU"), ("segment", "pixelAccuracy"), ("digits", "top1"),
                ("digits", "top5"), ("digits", "count"), ("detect", "count"),
            ] {
                #expect(many[dataset]?[name] == one[dataset]?[name], "\(dataset) \(name) on \(ranks) ranks")
            }
            let loss = one["digits"]?["loss"] ?? 0
            #expect(abs((many["digits"]?["loss"] ?? .infinity) - loss) <= 1e-6 * loss)
        }
    }

    /// `moe <command> … --recipe adapt.yaml --out <run>/a.moe` on `ranks` ranks; the tensors written.
    static func adapt(_ folder: URL, _ command: [String], run: String, ranks: Int) throws -> [String: Tensor] {
        let out = folder.appendingPathComponent(run).appendingPathComponent("a.moe")
        let result = try DP.moe(
            ranks: ranks,
            command + [
                "--checkpoint", folder.appendingPathComponent("c/c.moe").path, "--recipe",
                folder.appendingPathComponent("adapt.yaml").path, "--out", out.path,
            ])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.components(separatedBy: "checkpoint: ").count - 1 == 1, "rank 0 alone prints")
        let log = try String(
            contentsOf: out.deletingLastPathComponent().appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(log.components(separatedBy: "\"event\":\"train\"").count - 1 == 5, "rank 0 alone logs")
        return try DP.tensors(out)
    }

    @Test(arguments: [
        ["adapt", "--router-only"], ["adapt", "--router-only", "--experts", "1"], ["expand", "--experts", "2"],
    ])
    func adaptationOnTwoRanksEqualsOneProcess(command: [String]) throws {
        let folder = try Self.trained()
        defer { try? FileManager.default.removeItem(at: folder) }
        let one = try Self.adapt(folder, command, run: "one", ranks: 1)
        let two = try Self.adapt(folder, command, run: "two", ranks: 2)
        let relative = DP.maxRelativeDifference(two, one)
        print("mpirun -np 2 \(command.joined(separator: " ")) vs one process: max relative difference \(relative)")
        #expect(relative <= 1e-5)
    }

    @Test func distributedBenchReportsTheSplitAndTheBaseline() throws {
        let folder = try Self.trained()
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try DP.moe(
            ranks: 2,
            ["bench", "--distributed", "--json", "--recipe", folder.appendingPathComponent("recipe.yaml").path])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(lines.count == 1, "rank 0 alone prints: \(result.output)")
        let object = try JSONSerialization.jsonObject(with: Data((lines.first.map(String.init) ?? "").utf8))
        let r = try #require(object as? [String: Any])
        #expect(r["ranks"] as? Int == 2)
        #expect(r["single_source"] as? String == "measured")
        let payload = r["payload_bytes_per_step"] as? Double ?? 0
        // A step reaches the shared backbone and one dataset's router and head.
        #expect(payload > 0.5 * (r["gradient_bytes"] as? Double ?? .infinity), "\(r)")
        #expect(r["ring_bytes_per_step"] as? Double == payload)
        #expect((r["allreduce_ms"] as? Double ?? 0) > 0 && (r["scaling_efficiency"] as? Double ?? 0) > 0)
    }
}
