import Foundation
import MoETensor
import MoETestSupport
import Testing

@testable import MoECheckpoint

@Suite struct AtomicWriteTests {
    func contents(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    @Test func noTemporaryFilesRemain() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("run.moe")
            try sampleCheckpoint().write(to: url)
            #expect(try contents(dir) == ["run.moe"])
        }
    }

    @Test func overwriteReplacesTheFile() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("run.moe")
            try sampleCheckpoint().write(to: url)
            let second = Checkpoint(
                tensors: [NamedTensor("only", Tensor(shape: [2], storage: [1, 2]))],
                metadata: ["step": "2"])
            try second.write(to: url)
            let loaded = try Checkpoint.read(from: url)
            #expect(loaded.tensors == second.tensors)
            #expect(loaded.metadata["step"] == "2")
            #expect(try contents(dir) == ["run.moe"])
        }
    }

    @Test func createsMissingParentDirectories() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("a/b/c/run.moe")
            try sampleCheckpoint().write(to: url)
            #expect(try Checkpoint.read(from: url).tensors.count == 4)
        }
    }

    @Test func longFileNamesWork() throws {
        try withTemporaryDirectory { dir in
            let name = String(repeating: "n", count: 251) + ".moe"  // 255 bytes, NAME_MAX
            let url = dir.appendingPathComponent(name)
            try sampleCheckpoint().write(to: url)
            #expect(try contents(dir) == [name])
        }
    }

    /// Checks that `attempt` throws `.writeFailed` for `url` and leaves the previous checkpoint
    /// at `url` byte-for-byte intact, with no stray files in `dir`.
    func expectFailedWriteLeavesPrevious(
        dir: URL, url: URL, sourceLocation: SourceLocation = #_sourceLocation,
        _ attempt: () throws -> Void
    ) throws {
        let before = try readBytes(url)
        let names = try contents(dir)
        let error = checkpointError(sourceLocation: sourceLocation, attempt)
        guard case .writeFailed(let path, _)? = error else {
            Issue.record("expected .writeFailed, got \(String(describing: error))", sourceLocation: sourceLocation)
            return
        }
        #expect(path == url.path, sourceLocation: sourceLocation)
        #expect(try readBytes(url) == before, sourceLocation: sourceLocation)
        #expect(try contents(dir) == names, sourceLocation: sourceLocation)
        #expect(throws: Never.self, sourceLocation: sourceLocation) { try Checkpoint.read(from: url) }
    }

    @Test(
        "a non-writable directory fails with .writeFailed and keeps the old file",
        .enabled(if: geteuid() != 0, "root ignores directory permissions"))
    func nonWritableDirectory() throws {
        try withTemporaryDirectory { dir in
            let sub = dir.appendingPathComponent("locked")
            let url = sub.appendingPathComponent("run.moe")
            try sampleCheckpoint().write(to: url)
            try #require(chmod(sub.path, 0o555) == 0)
            defer { chmod(sub.path, 0o755) }
            try expectFailedWriteLeavesPrevious(dir: sub, url: url) {
                try Checkpoint(metadata: ["new": "1"]).write(to: url)
            }
        }
    }

    #if os(Linux)
    @Test func unwritableLocationFails() throws {
        // Nobody, not even root, can create files or directories under /proc.
        let url = URL(fileURLWithPath: "/proc/moe-checkpoint-test/run.moe")
        let error = checkpointError { try sampleCheckpoint().write(to: url) }
        guard case .writeFailed(let path, let detail)? = error else {
            Issue.record("expected .writeFailed, got \(String(describing: error))")
            return
        }
        #expect(path == url.path)
        #expect(!detail.isEmpty)
        let procFile = URL(fileURLWithPath: "/proc/run.moe")
        #expect(checkpointError { try sampleCheckpoint().write(to: procFile) }?.caseName == "writeFailed")
    }
    #endif

    @Test func failureJustBeforeRenameKeepsTheOldFile() throws {
        struct Injected: Error {}
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("run.moe")
            try sampleCheckpoint().write(to: url)
            var sawTemporary: String?
            try expectFailedWriteLeavesPrevious(dir: dir, url: url) {
                try Checkpoint(metadata: ["new": "1"]).write(
                    to: url, compressionLevel: 3, formatVersion: "1",
                    beforeRename: { temp in
                        sawTemporary = temp
                        #expect(FileManager.default.fileExists(atPath: temp))
                        throw Injected()
                    })
            }
            let temp = try #require(sawTemporary)
            #expect(
                URL(fileURLWithPath: temp).deletingLastPathComponent().standardizedFileURL
                    == dir.standardizedFileURL)
            #expect(URL(fileURLWithPath: temp).lastPathComponent.hasPrefix(".run.moe.tmp-"))
        }
    }

    @Test func destinationIsADirectory() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("run.moe")
            try FileManager.default.createDirectory(
                at: url.appendingPathComponent("inside"), withIntermediateDirectories: true)
            let error = checkpointError { try sampleCheckpoint().write(to: url) }
            #expect(error?.caseName == "writeFailed")
            #expect(try contents(dir) == ["run.moe"])
        }
    }

    @Test(
        "invalid checkpoints are refused before touching the disk",
        arguments: [
            Checkpoint(tensors: [NamedTensor("t", Tensor(shape: [1])), NamedTensor("t", Tensor(shape: [2]))]),
            Checkpoint(tensors: [NamedTensor("__metadata__", Tensor(shape: [1]))]),
            {
                var bad = Tensor(shape: [2, 2])
                bad.shape = [3]
                return Checkpoint(tensors: [NamedTensor("inconsistent", bad)])
            }(),
        ])
    func invalidCheckpointIsRefused(checkpoint: Checkpoint) throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("run.moe")
            try sampleCheckpoint().write(to: url)
            try expectFailedWriteLeavesPrevious(dir: dir, url: url) { try checkpoint.write(to: url) }
        }
    }

    @Test("compression levels outside zstd's range are refused", arguments: [Int32(1000), Int32.min])
    func badCompressionLevel(level: Int32) throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("run.moe")
            try sampleCheckpoint().write(to: url)
            try expectFailedWriteLeavesPrevious(dir: dir, url: url) {
                try sampleCheckpoint().write(to: url, compressionLevel: level)
            }
        }
    }

    @Test func concurrentWritersNeverExposeAPartialFile() async throws {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("moe-checkpoint-tests-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("shared.moe")
        try sampleCheckpoint().write(to: url)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<4 {
                group.addTask {
                    let checkpoint = Checkpoint(
                        tensors: [NamedTensor("w", randomTensor([20_000], seed: UInt64(i)))],
                        metadata: ["writer": "\(i)"])
                    for _ in 0..<5 { try checkpoint.write(to: url) }
                }
                group.addTask {
                    for _ in 0..<10 { _ = try Checkpoint.read(from: url) }
                }
            }
            try await group.waitForAll()
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["shared.moe"])
    }
}
