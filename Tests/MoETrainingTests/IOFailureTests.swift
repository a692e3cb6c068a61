import Foundation
import MoECheckpoint
import MoETestSupport
import Testing

@testable import MoEData
@testable import MoETraining

/// I/O that used to trap or block: a FIFO in place of a data file, a metrics log on a full
/// disk, temporary files that killed writers left behind, and an output path under a file.
@Suite(.serialized) struct IOFailureTests {
    @Test("a FIFO in place of a data file is an error at once, not a hang")
    func fifoDataFile() throws {
        try withTemporaryDirectory { dir in
            let fifo = dir.appendingPathComponent("digits.csv.gz").path
            #expect(mkfifo(fifo, 0o644) == 0)
            let error = #expect(throws: DataError.self) { _ = try Digits.load(path: fifo) }
            #expect("\(error!)".contains("not a regular file"))
            #expect(throws: (any Error).self) { _ = try IDXArray.read(path: fifo) }
            #expect(throws: CheckpointError.self) { _ = try Checkpoint.read(from: URL(fileURLWithPath: fifo)) }
        }
    }

    @Test("a metrics log on a full disk throws a named error instead of trapping")
    func fullDisk() throws {
        let log = try MetricsLog(path: "/dev/full", append: true)
        let error = #expect(throws: TrainingError.self) { try log.write(["event": "train", "step": 1]) }
        #expect("\(error!)".contains("/dev/full"))
    }

    @Test(
        "the metrics log lies beside the checkpoint, in the working folder for a bare file name (not in /)",
        arguments: [
            ("run.moe", "./metrics.jsonl"), ("out/run.moe", "out/metrics.jsonl"), ("/a/b/c.moe", "/a/b/metrics.jsonl"),
        ])
    func metricsLogBesideCheckpoint(checkpoint: String, expected: String) {
        #expect(MetricsLog.path(besideCheckpoint: checkpoint) == expected)
    }

    @Test("temporary files of dead writers are removed on the next write; live ones stay")
    func staleTemporaries() throws {
        try withTemporaryDirectory { dir in
            var deadPID: pid_t = 4_000_000
            while kill(deadPID, 0) == 0 || errno != ESRCH { deadPID -= 1 }
            let stale = dir.appendingPathComponent(".run.moe.tmp-\(deadPID)-1f2e")
            let live = dir.appendingPathComponent(".run.moe.tmp-\(getpid())-abc")
            let unrelated = dir.appendingPathComponent(".notes.tmp-x")
            for url in [stale, live, unrelated] {
                #expect(FileManager.default.createFile(atPath: url.path, contents: Data([1])))
            }
            let trainer = try tinyTrainer(try tinyRecipe())
            try trainer.checkpoint().write(to: dir.appendingPathComponent("run.moe"))
            #expect(!FileManager.default.fileExists(atPath: stale.path))
            #expect(FileManager.default.fileExists(atPath: live.path))
            #expect(FileManager.default.fileExists(atPath: unrelated.path))
        }
    }

    @Test("a folder path that runs through a file is an error naming that file")
    func folderUnderFile() throws {
        try withTemporaryDirectory { dir in
            let file = dir.appendingPathComponent("plain.txt")
            #expect(FileManager.default.createFile(atPath: file.path, contents: Data("x".utf8)))
            let error = #expect(throws: TrainingError.self) {
                _ = try MetricsLog(path: file.path + "/run/metrics.jsonl", append: false)
            }
            #expect("\(error!)".contains("plain.txt") && "\(error!)".contains("is a file"), "\(error!)")
        }
    }

    @Test("an empty test split is an error, not 0 %")
    func emptyTestSplit() throws {
        let recipe = try tinyRecipe()
        let full = tinyData(recipe)[0]
        let empty = RunDataset(
            recipe: full.recipe, train: full.train, test: ClassificationSplit(cachedDigits.subset([])))
        let model = try tinyTrainer(recipe).model
        let error = #expect(throws: TrainingError.self) {
            _ = try Evaluation.evaluate(model: model, dataset: empty, batchSize: 64)
        }
        #expect("\(error!)".contains("empty test split"))
    }
}
