import Foundation
import MoECheckpoint
import MoETensor
import Testing

/// Whether Open MPI's launcher is installed (Debian `openmpi-bin`).
let mpirunAvailable = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].contains {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// `moe pretrain` under a real `mpirun -np 2` (DESIGN §11): the data-parallel run equals
/// a one-process run of the same global batch, repeats bit for bit, resumes across rank
/// counts, and only rank 0 writes.
@Suite(.enabled(if: mpirunAvailable, "mpirun is not installed (apt install openmpi-bin)"))
struct DataParallelPretrainTests {
    /// `.build/<config>/moe`, beside this test bundle.
    static var moeBinary: String {
        let products = Bundle.main.bundleURL.deletingLastPathComponent()
        let beside = products.appendingPathComponent("moe").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return Bundle.main.bundleURL.appendingPathComponent("moe").path
    }

    /// A tiny two-dataset digits recipe (MI buffers exist), SGD with momentum (Adam would
    /// blow rounding-level gradient differences up to ±lr steps), a constant schedule so a
    /// run cut short at step 3 and resumed to 5 follows the same learning rates.
    static func recipe(batch: Int = 16) -> String {
        """
        name: dp
        seed: 7
        model:
          channels: 1
          imageSize: 8
          patchSize: 4
          width: 16
          depth: 2
          heads: 2
          mlpRatio: 2
          experts: 4
          topK: 2
        datasets:
          digits:
            source: digits
            batchSize: \(batch)
            samplingWeight: 3
          digits-b:
            source: digits
            batchSize: 8
            samplingWeight: 1
        optimizer:
          kind: sgd
          lr: 0.05
          momentum: 0.9
          weightDecay: 0.01
        schedule:
          kind: constant
          warmup: 2
        training:
          steps: 5
          logEvery: 1
          evalBatchSize: 512
          threads: 1

        """
    }

    /// A fresh folder holding `recipe.yaml`.
    static func folder(batch: Int = 16) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("moe-dp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try recipe(batch: batch).write(to: url.appendingPathComponent("recipe.yaml"), atomically: true, encoding: .utf8)
        return url
    }

    /// Runs `moe args…`, under `mpirun -np ranks` when `ranks > 1`; status and output.
    static func moe(ranks: Int, _ args: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let launcher = ranks > 1 ? ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)"] : []
        process.arguments = launcher + [moeBinary] + args + ["--threads", "1"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    /// `moe pretrain` of the folder's recipe into `<folder>/<run>/dp.moe`; its path.
    static func pretrain(_ folder: URL, run: String, ranks: Int, steps: Int = 5) throws -> URL {
        let out = folder.appendingPathComponent(run).appendingPathComponent("dp.moe")
        let result = try moe(
            ranks: ranks,
            [
                "pretrain", "--recipe", folder.appendingPathComponent("recipe.yaml").path, "--steps", "\(steps)",
                "--out", out.path,
            ])
        #expect(result.status == 0, "\(result.output)")
        return out
    }

    /// Continues the run in `checkpoint` to 5 steps on `ranks` ranks (in place).
    static func resume(_ checkpoint: URL, ranks: Int) throws {
        let result = try moe(ranks: ranks, ["pretrain", "--resume", checkpoint.path, "--steps", "5"])
        #expect(result.status == 0, "\(result.output)")
    }

    /// Every tensor of a checkpoint (weights and optimiser state), by name.
    static func tensors(_ url: URL) throws -> [String: Tensor] {
        let checkpoint = try Checkpoint.read(from: url)
        return Dictionary(uniqueKeysWithValues: checkpoint.tensors.map { ($0.name, $0.tensor) })
    }

    /// max over tensors of ‖a − b‖∞ / ‖b‖∞ (infinite when the names or shapes differ).
    static func maxRelativeDifference(_ a: [String: Tensor], _ b: [String: Tensor]) -> Double {
        guard Set(a.keys) == Set(b.keys) else { return .infinity }
        var worst = 0.0
        for (name, x) in a {
            let y = b[name]!
            guard x.shape == y.shape else { return .infinity }
            let diff = zip(x.storage, y.storage).map { abs($0 - $1) }.max() ?? 0
            let scale = y.storage.map(abs).max() ?? 0
            worst = max(worst, Double(diff) / Double(max(scale, 1e-30)))
        }
        return worst
    }

    @Test func twoRanksEqualOneProcessRepeatAndResumeAcrossRankCounts() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let reference = try Self.tensors(try Self.pretrain(folder, run: "one", ranks: 1))

        let first = try Self.pretrain(folder, run: "two-a", ranks: 2)
        let parallel = try Self.tensors(first)
        let relative = Self.maxRelativeDifference(parallel, reference)
        print("mpirun -np 2 vs one process, 5 steps: max relative difference \(relative)")
        #expect(relative <= 1e-5)
        let again = try Self.tensors(try Self.pretrain(folder, run: "two-b", ranks: 2))
        #expect(again.keys.sorted() == parallel.keys.sorted())
        for (name, t) in parallel {
            #expect(again[name]?.storage.map(\.bitPattern) == t.storage.map(\.bitPattern), "\(name)")
        }
        // Rank 0 alone logs: one train record per step, not one per rank.
        let log = try String(
            contentsOf: first.deletingLastPathComponent().appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(log.components(separatedBy: "\"event\":\"train\"").count - 1 == 5)

        let twoThenOne = try Self.pretrain(folder, run: "two-then-one", ranks: 2, steps: 3)
        try Self.resume(twoThenOne, ranks: 1)
        let resumedOnOne = Self.maxRelativeDifference(try Self.tensors(twoThenOne), reference)
        let oneThenTwo = try Self.pretrain(folder, run: "one-then-two", ranks: 1, steps: 3)
        try Self.resume(oneThenTwo, ranks: 2)
        let resumedOnTwo = Self.maxRelativeDifference(try Self.tensors(oneThenTwo), reference)
        print("resume 2→1: \(resumedOnOne), 1→2: \(resumedOnTwo) (max relative difference)")
        #expect(resumedOnOne <= 1e-5)
        #expect(resumedOnTwo <= 1e-5)
    }

    @Test func aBatchTwoRanksCannotSplitFailsNamingTheRankAndDataset() throws {
        let folder = try Self.folder(batch: 15)
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try Self.moe(
            ranks: 2,
            [
                "pretrain", "--recipe", folder.appendingPathComponent("recipe.yaml").path, "--out",
                folder.appendingPathComponent("x/dp.moe").path,
            ])
        #expect(result.status != 0)
        #expect(
            result.output.contains("of 2: data-parallel training: dataset 'digits' has batch size 15"),
            "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("x/dp.moe").path))
    }
}
