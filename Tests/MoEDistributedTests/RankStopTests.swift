import Foundation
import MoECheckpoint
import Testing

/// How a data-parallel run ends when it is stopped (DESIGN §11.1): Ctrl-C on `mpirun` saves
/// once and every rank exits; a rank killed outright ends the job with an error, without a
/// hang, and the last checkpoint stays loadable.
@Suite(.enabled(if: mpirunAvailable, "mpirun is not installed (apt install openmpi-bin)"), .serialized)
struct RankStopTests {
    /// `mpirun -np 2 moe pretrain` of a long run; output is collected in
    /// `<folder>/output.txt`. Python clears the signal mask and execs mpirun (so the process
    /// is mpirun itself): the test runner's threads block SIGINT, and a child inherits that
    /// mask, which a terminal's mpirun never has.
    static func launch(_ folder: URL, extra: [String] = []) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments =
            [
                "-c",
                "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); "
                    + "os.execvp(sys.argv[1], sys.argv[1:])",
                "mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2", DataParallelPretrainTests.moeBinary,
            ]
            + [
                "pretrain", "--recipe", folder.appendingPathComponent("recipe.yaml").path, "--steps", "1000000",
                "--out", folder.appendingPathComponent("run/dp.moe").path, "--threads", "1",
                "--set", "training.logEvery=50",
            ] + extra
        let log = folder.appendingPathComponent("output.txt")
        #expect(FileManager.default.createFile(atPath: log.path, contents: nil))
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// Waits until `condition` holds, up to `seconds`; whether it did.
    static func wait(seconds: Double, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// The `moe` processes (the ranks) whose command line names `folder`.
    static func ranks(of folder: URL) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry),
                let comm = try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8),
                comm.trimmingCharacters(in: .whitespacesAndNewlines) == "moe",
                let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                String(decoding: cmdline, as: UTF8.self).contains(folder.path)
            else { return nil }
            return pid
        }
    }

    /// Kills whatever of the job is left (a failed test must not leave ranks running).
    static func stop(_ job: Process, _ folder: URL) {
        if job.isRunning { kill(job.processIdentifier, SIGKILL) }
        for rank in ranks(of: folder) { kill(rank, SIGKILL) }
    }

    static func output(_ folder: URL) -> String {
        (try? String(contentsOf: folder.appendingPathComponent("output.txt"), encoding: .utf8)) ?? ""
    }

    @Test("Ctrl-C on mpirun: every rank stops after the same step, rank 0 saves once, the run resumes")
    func interruptSavesOnce() throws {
        let folder = try DataParallelPretrainTests.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let job = try Self.launch(folder)
        defer { Self.stop(job, folder) }
        let metrics = folder.appendingPathComponent("run/metrics.jsonl").path
        #expect(
            Self.wait(seconds: 60) {
                (try? String(contentsOfFile: metrics, encoding: .utf8))?.contains("train") == true
            })
        kill(job.processIdentifier, SIGINT)
        let start = Date()
        #expect(Self.wait(seconds: 60) { !job.isRunning }, "mpirun still runs 60 s after Ctrl-C")
        print("Ctrl-C to exit: \(Date().timeIntervalSince(start)) s")
        let text = Self.output(folder)
        #expect(text.components(separatedBy: "interrupted at step").count == 2, "\(text)")
        #expect(Self.ranks(of: folder).isEmpty)
        let checkpoint = try Checkpoint.read(from: folder.appendingPathComponent("run/dp.moe"))
        let state = try JSONSerialization.jsonObject(with: Data((checkpoint.metadata["training_state"] ?? "").utf8))
        let step = try #require((state as? [String: Any])?["step"] as? Int)
        #expect(step > 0)
        let resumed = try DataParallelPretrainTests.moe(
            ranks: 2,
            ["pretrain", "--resume", folder.appendingPathComponent("run/dp.moe").path, "--steps", "\(step + 3)"])
        #expect(resumed.status == 0, "\(resumed.output)")
    }

    @Test("a rank killed by SIGKILL ends the job within 60 s; the last checkpoint loads")
    func deadRankEndsTheJob() throws {
        let folder = try DataParallelPretrainTests.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let job = try Self.launch(folder, extra: ["--set", "training.checkpointEvery=20"])
        defer { Self.stop(job, folder) }
        let checkpoint = folder.appendingPathComponent("run/dp.moe")
        #expect(Self.wait(seconds: 60) { FileManager.default.fileExists(atPath: checkpoint.path) })
        let ranks = Self.ranks(of: folder)
        #expect(ranks.count == 2, "ranks: \(ranks)")
        try #require(!ranks.isEmpty)
        kill(ranks.max()!, SIGKILL)
        let start = Date()
        #expect(Self.wait(seconds: 60) { !job.isRunning }, "mpirun still runs 60 s after a rank died")
        let seconds = Date().timeIntervalSince(start)
        print("a killed rank ends the job in \(seconds) s")
        #expect(job.terminationStatus != 0)
        #expect(Self.wait(seconds: 10) { Self.ranks(of: folder).isEmpty }, "a rank outlived the job")
        #expect(throws: Never.self) { _ = try Checkpoint.read(from: checkpoint) }
    }
}
