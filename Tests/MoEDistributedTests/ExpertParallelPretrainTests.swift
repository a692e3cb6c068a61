import Foundation
import MoETensor
import Testing

/// `moe pretrain --set training.expertParallel=2` under a real `mpirun -np 2`
/// (DESIGN §11.2): the two ranks split the 4 experts and exchange tokens through MPI's
/// all-to-all; the run equals one process on the same global batch, repeats bit for bit,
/// and its checkpoints resume in one process and back.
@Suite(.enabled(if: mpirunAvailable, "mpirun is not installed (apt install openmpi-bin)"))
struct ExpertParallelPretrainTests {
    typealias DP = DataParallelPretrainTests

    /// The data-parallel tests' recipe with top-3 routing: zero routers send every token to
    /// experts 0, 1 and 2, so from the first step each rank runs experts on both ranks' tokens.
    static func folder() throws -> URL {
        let url = try DP.folder()
        let path = url.appendingPathComponent("recipe.yaml")
        let text = try String(contentsOf: path, encoding: .utf8).replacingOccurrences(of: "topK: 2", with: "topK: 3")
        try text.write(to: path, atomically: true, encoding: .utf8)
        return url
    }

    /// `moe pretrain` with `--set training.expertParallel=2` (and `extra` arguments) into
    /// `<folder>/<run>/dp.moe`.
    static func pretrain(
        _ folder: URL, run: String, ranks: Int, steps: Int = 5, extra: [String] = []
    ) throws -> (URL, String) {
        let out = folder.appendingPathComponent(run).appendingPathComponent("dp.moe")
        let result = try DP.moe(
            ranks: ranks,
            [
                "pretrain", "--recipe", folder.appendingPathComponent("recipe.yaml").path, "--steps", "\(steps)",
                "--out", out.path, "--set", "training.expertParallel=2",
            ] + extra)
        #expect(result.status == 0, "\(result.output)")
        return (out, result.output)
    }

    @Test func expertParallelRanksEqualOneProcessRepeatAndResume() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (one, oneOutput) = try Self.pretrain(folder, run: "one", ranks: 1)
        #expect(!oneOutput.contains("expert-parallel"))
        let reference = try DP.tensors(one)

        let (first, output) = try Self.pretrain(folder, run: "ep-a", ranks: 2)
        #expect(output.contains("expert-parallel: 1 groups of 2 ranks, 2 of 4 experts per rank"), "\(output)")
        let parallel = try DP.tensors(first)
        let relative = DP.maxRelativeDifference(parallel, reference)
        print("mpirun -np 2 expert-parallel vs one process, 5 steps: max relative difference \(relative)")
        #expect(relative <= 1e-5)
        let again = try DP.tensors(try Self.pretrain(folder, run: "ep-b", ranks: 2).0)
        #expect(again.keys.sorted() == parallel.keys.sorted())
        for (name, t) in parallel {
            #expect(again[name]?.storage.map(\.bitPattern) == t.storage.map(\.bitPattern), "\(name)")
        }

        // 3 expert-parallel steps on 2 ranks, resumed to 5 in one process.
        let epThenOne = try Self.pretrain(folder, run: "ep-then-one", ranks: 2, steps: 3).0
        try DP.resume(epThenOne, ranks: 1)
        let resumedOne = DP.maxRelativeDifference(try DP.tensors(epThenOne), reference)
        print("expert-parallel 3 steps on 2 ranks + 2 on one process: max relative difference \(resumedOne)")
        #expect(resumedOne <= 1e-5)

        // 3 steps in one process (the recipe asks for P = 2), resumed expert-parallel to 5.
        let oneThenEP = try Self.pretrain(folder, run: "one-then-ep", ranks: 1, steps: 3).0
        try DP.resume(oneThenEP, ranks: 2)
        let resumedEP = DP.maxRelativeDifference(try DP.tensors(oneThenEP), reference)
        print("one process 3 steps + 2 expert-parallel steps on 2 ranks: max relative difference \(resumedEP)")
        #expect(resumedEP <= 1e-5)
    }

    /// Floats rank 0 holds, all and in expert banks, from `moe pretrain`'s
    /// "floats held by rank 0: … = T (expert banks X)" line.
    static func footprint(_ output: String) -> (total: Int, experts: Int)? {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("floats held by rank 0:") }),
            let tail = line.split(separator: "=").last
        else { return nil }
        let numbers = tail.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        return numbers.count == 2 ? (numbers[0], numbers[1]) : nil
    }

    /// The sharded expert store (DESIGN §11.2): each of the 2 ranks holds 2 of the 4
    /// experts' weights, gradients and AdamW moments, half of one process's expert floats,
    /// and everything else whole; clipped by the global norm, the steps still equal one
    /// process's.
    @Test func eachRankHoldsHalfTheExpertFloats() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let adam = ["--set", "optimizer.kind=adamw", "--set", "optimizer.eps=1e-3", "--set", "optimizer.clip=0.05"]
        let (one, oneOutput) = try Self.pretrain(folder, run: "one", ranks: 1, steps: 3, extra: adam)
        let (two, twoOutput) = try Self.pretrain(folder, run: "two", ranks: 2, steps: 3, extra: adam)
        let whole = try #require(Self.footprint(oneOutput), "\(oneOutput)")
        let split = try #require(Self.footprint(twoOutput), "\(twoOutput)")
        print("floats per rank, one process: \(whole); expert-parallel on 2 ranks: \(split)")
        #expect(split.experts * 2 == whole.experts)
        #expect(split.total - split.experts == whole.total - whole.experts)
        let relative = DP.maxRelativeDifference(try DP.tensors(two), try DP.tensors(one))
        print("mpirun -np 2 sharded experts, AdamW clipped, vs one process: max relative difference \(relative)")
        #expect(relative <= 1e-5)
    }

    /// P must divide the rank count: 2 ranks cannot form groups of 4 (4 experts, so the
    /// recipe itself is valid), and every rank reports it before any step.
    @Test func aGroupSizeThatDoesNotDivideTheRanksFailsNamingBoth() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try DP.moe(
            ranks: 2,
            [
                "pretrain", "--recipe", folder.appendingPathComponent("recipe.yaml").path, "--steps", "1",
                "--out", folder.appendingPathComponent("x/dp.moe").path, "--set", "training.expertParallel=4",
            ])
        #expect(result.status != 0)
        #expect(
            result.output.contains("training.expertParallel is 4, which does not divide the 2 ranks"),
            "\(result.output)")
    }
}
