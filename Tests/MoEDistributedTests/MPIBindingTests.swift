import Foundation
import Testing

/// The MPI binding under a real `mpirun` on loopback: every collective on 2 and 3 ranks, and
/// a rank killed mid-job ends the job quickly instead of hanging.
@Suite struct MPIBindingTests {
    /// `.build/<config>/moe-mpi-check`, beside this test bundle.
    static var checkBinary: String {
        let products = Bundle.main.bundleURL.deletingLastPathComponent()
        let beside = products.appendingPathComponent("moe-mpi-check").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return Bundle.main.bundleURL.appendingPathComponent("moe-mpi-check").path
    }

    /// Runs `mpirun -np ranks moe-mpi-check extra…`; exit status, output and seconds.
    static func mpirun(ranks: Int, _ extra: [String] = []) throws -> (status: Int32, output: String, seconds: Double) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)", checkBinary] + extra
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let start = Date()
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self), Date().timeIntervalSince(start))
    }

    @Test(arguments: [2, 3])
    func collectivesAgreeWithWhatEachRankComputesAlone(ranks: Int) throws {
        let run = try Self.mpirun(ranks: ranks)
        #expect(run.status == 0, "\(run.output)")
        for r in 0..<ranks { #expect(run.output.contains("rank \(r)/\(ranks): ok")) }
    }

    @Test func aKilledRankEndsTheJobWithinAMinute() throws {
        let run = try Self.mpirun(ranks: 2, ["--die-rank", "1"])
        #expect(run.status != 0)
        #expect(run.seconds < 60)
        #expect(!run.output.contains("survived"))
        #expect(run.output.contains("signal 9") || run.output.contains("Killed"), "\(run.output)")
    }
}
