import Foundation
import MoECheckpoint
import MoETensor
import MoETraining
import Testing

/// Softmax of random logits (scaled so that rows are far from uniform), as Float.
private func randomProbabilities(_ experts: Int, _ rng: inout SeededGenerator, sharpness: Float = 2)
    -> [Float]
{
    let logits = (0..<experts).map { _ in sharpness * rng.normal() }
    let top = logits.max()!
    let exps = logits.map { Foundation.exp(Double($0 - top)) }
    let total = exps.reduce(0, +)
    return exps.map { Float($0 / total) }
}

/// `MI(B) = Σ B log(B / (P(t) B_E))`, P(t) = 1/T, written independently of the library.
private func referenceMI(_ b: [[Double]]) -> Double {
    let T = b.count
    let E = b[0].count
    var sum = 0.0
    for t in 0..<T {
        for e in 0..<E where b[t][e] > 0 {
            let be = (0..<T).reduce(0.0) { $0 + b[$1][e] }
            sum += b[t][e] * Foundation.log(b[t][e] / (be / Double(T)))
        }
    }
    return sum
}

private func rows(_ buffer: MutualInformationBuffer) -> [[Double]] {
    (0..<buffer.datasets).map { buffer.row($0) }
}

/// A T × E buffer with every dataset past warm-up, fed seeded random batches.
private func warmBuffer(datasets: Int, experts: Int, epsilon: Double, seed: UInt64)
    -> MutualInformationBuffer
{
    var buffer = MutualInformationBuffer(datasets: datasets, experts: experts, epsilon: epsilon)
    var rng = SeededGenerator(seed: seed)
    // Each dataset gets its own preferred experts so the buffer is far from independent.
    let bias = (0..<datasets).map { _ in (0..<experts).map { _ in 1.5 * rng.normal() } }
    for _ in 0..<130 {
        for t in 0..<datasets {
            let noise = randomProbabilities(experts, &rng, sharpness: 0.5)
            let logits = (0..<experts).map { bias[t][$0] + Float(Foundation.log(Double(noise[$0]))) }
            let top = logits.max()!
            let exps = logits.map { Foundation.exp(Double($0 - top)) }
            let s = exps.reduce(0, +)
            _ = buffer.step(dataset: t, batchMeanProbabilities: exps.map { Float($0 / s) })
        }
    }
    return buffer
}

@Suite struct MutualInformationBufferTests {
    // MARK: The key test: surrogate gradient vs finite differences of −MI(B'(q)).

    /// For T = 3, E = 4 past warm-up (m = 0.99), with `B'[t] = m·B[t] + (1−m)·q/T`:
    ///     ∂(−MI(B'(q)))/∂q_e = (1 − m)·g_e − (1 − m)·log(T)/T       (eps = 0, exact)
    /// where g is what `step` returns. Centred, the two agree up to the factor (1 − m) alone.
    @Test(arguments: [0, 1, 2])
    func surrogateGradientIsMinusMIGradientAtTheUpdatedBuffer(dataset t: Int) throws {
        let T = 3
        let E = 4
        var buffer = warmBuffer(datasets: T, experts: E, epsilon: 0, seed: 7 + UInt64(t))
        #expect((0..<T).allSatisfy { buffer.isWarm(dataset: $0) })
        let before = rows(buffer)
        var rng = SeededGenerator(seed: 99 + UInt64(t))
        let q = randomProbabilities(E, &rng)
        let m = buffer.momentum
        let stepped = buffer.step(dataset: t, batchMeanProbabilities: q)
        let g = try #require(stepped)
        #expect(g.count == E)

        // −MI of the buffer as a function of this batch's q (perturbed freely, in Double).
        func minusMI(_ q: [Double]) -> Double {
            var b = before
            for e in 0..<E { b[t][e] = m * before[t][e] + (1 - m) * q[e] / Double(T) }
            return -referenceMI(b)
        }
        let q0 = q.map(Double.init)
        let h = 1e-6
        let fd = (0..<E).map { e -> Double in
            var plus = q0
            var minus = q0
            plus[e] += h
            minus[e] -= h
            return (minusMI(plus) - minusMI(minus)) / (2 * h)
        }
        // The updated buffer equals B'(q0): the gradient is evaluated where the FD is taken.
        for e in 0..<E {
            #expect(abs(buffer[t, e] - (m * before[t][e] + (1 - m) * q0[e] / Double(T))) < 1e-15)
        }
        let shift = (1 - m) * Foundation.log(Double(T)) / Double(T)
        for e in 0..<E {
            let predicted = (1 - m) * Double(g[e]) - shift
            // g is Float (relative 6e-8); FD error ~1e-10 on values of order 1e-2.
            #expect(abs(fd[e] - predicted) < 1e-8, "e=\(e): fd \(fd[e]) vs \(predicted)")
        }
        // Centred (tangent to the simplex): exactly the factor (1 − m).
        let gMean = g.reduce(0) { $0 + Double($1) } / Double(E)
        let fdMean = fd.reduce(0, +) / Double(E)
        for e in 0..<E {
            #expect(abs((fd[e] - fdMean) - (1 - m) * (Double(g[e]) - gMean)) < 1e-8)
        }
        // And the Double-precision gradient matches to FD accuracy.
        let gd = buffer.gradient(dataset: t)
        for e in 0..<E { #expect(abs(fd[e] - ((1 - m) * gd[e] - shift)) < 1e-9) }
    }

    /// With the default eps = 1e-4 the surrogate gradient moves by at most
    /// (eps/B[t,e] + eps/B_E[e])/T from the eps = 0 one.
    @Test func defaultEpsilonStaysWithinItsBound() throws {
        let T = 3
        let E = 4
        let exact = warmBuffer(datasets: T, experts: E, epsilon: 0, seed: 11)
        let smoothed = warmBuffer(datasets: T, experts: E, epsilon: 1e-4, seed: 11)
        #expect(exact.values == smoothed.values)
        let marginal = exact.expertMarginal
        for t in 0..<T {
            let a = exact.gradient(dataset: t)
            let b = smoothed.gradient(dataset: t)
            for e in 0..<E {
                let bound = (1e-4 / exact[t, e] + 1e-4 / marginal[e]) / Double(T)
                #expect(abs(a[e] - b[e]) <= bound * 1.0001)
            }
        }
    }

    @Test func surrogateLossIsLinearInQ() throws {
        var buffer = warmBuffer(datasets: 3, experts: 4, epsilon: 1e-4, seed: 5)
        var rng = SeededGenerator(seed: 1)
        let q = randomProbabilities(4, &rng)
        let stepped = buffer.step(dataset: 2, batchMeanProbabilities: q)
        let g = try #require(stepped)
        let loss = buffer.surrogateLoss(dataset: 2, q: q)
        let dot = zip(q, g).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(Double(loss) - dot) < 1e-6)
        // Formula check: −(1/T) Σ q (log(B+eps) − log(B_E+eps)).
        let be = buffer.expertMarginal
        var direct = 0.0
        for e in 0..<4 {
            direct -= Double(q[e]) * (log(buffer[2, e] + 1e-4) - log(be[e] + 1e-4)) / 3
        }
        #expect(abs(Double(loss) - direct) < 1e-6)
    }

    // MARK: Warm-up and running mean

    @Test func warmUpReturnsNilForExactlyTheFirstHundredUpdatesPerDataset() throws {
        var buffer = MutualInformationBuffer(datasets: 3, experts: 4)
        var rng = SeededGenerator(seed: 3)
        for i in 1...150 {
            let g = buffer.step(dataset: 0, batchMeanProbabilities: randomProbabilities(4, &rng))
            #expect((g == nil) == (i <= 100), "update \(i) of dataset 0")
            #expect(buffer.isWarm(dataset: 0) == (i > 100))
        }
        // Dataset 1 starts late: its own counter, its own warm-up.
        for i in 1...101 {
            let g = buffer.step(dataset: 1, batchMeanProbabilities: randomProbabilities(4, &rng))
            #expect((g == nil) == (i <= 100), "update \(i) of dataset 1")
        }
        #expect(buffer.counts == [150, 101, 0])
        #expect(!buffer.isWarm(dataset: 2))
        let first = buffer.step(dataset: 2, batchMeanProbabilities: [0.25, 0.25, 0.25, 0.25])
        #expect(first == nil)
    }

    @Test func warmUpIsTheRunningMeanOverT() throws {
        let T = 3
        let E = 5
        var buffer = MutualInformationBuffer(datasets: T, experts: E)
        var rng = SeededGenerator(seed: 4)
        var sums = [[Double]](repeating: [Double](repeating: 0, count: E), count: T)
        for k in 1...100 {
            for t in [0, 2] where t == 0 || k <= 37 {
                let q = randomProbabilities(E, &rng)
                _ = buffer.step(dataset: t, batchMeanProbabilities: q)
                for e in 0..<E { sums[t][e] += Double(q[e]) }
                let n = Double(buffer.counts[t])
                for e in 0..<E {
                    #expect(abs(buffer[t, e] - sums[t][e] / n / Double(T)) < 1e-15)
                }
            }
        }
        // The first update sets the row to q/T exactly.
        var fresh = MutualInformationBuffer(datasets: T, experts: E)
        let q: [Float] = [0.5, 0.25, 0.125, 0.0625, 0.0625]
        _ = fresh.step(dataset: 1, batchMeanProbabilities: q)
        #expect(fresh.row(1) == q.map { Double($0) / 3 })
        #expect(buffer.row(1) == [Double](repeating: 0, count: E))
        // Each row with data sums to 1/T.
        #expect(abs(buffer.row(0).reduce(0, +) - 1.0 / 3) < 1e-7)
    }

    @Test func afterWarmUpTheMomentumIsPointNineNine() throws {
        var buffer = MutualInformationBuffer(datasets: 2, experts: 2)
        for _ in 0..<100 { _ = buffer.step(dataset: 0, batchMeanProbabilities: [1, 0]) }
        #expect(buffer.row(0) == [0.5, 0])
        _ = buffer.step(dataset: 0, batchMeanProbabilities: [0, 1])
        #expect(abs(buffer[0, 0] - 0.99 * 0.5) < 1e-15)
        #expect(abs(buffer[0, 1] - 0.01 * 0.5) < 1e-15)
    }

    // MARK: The MI metric

    @Test(arguments: [2, 3, 5])
    func disjointExpertsGiveLogT(datasets T: Int) throws {
        let E = 2 * T
        var buffer = MutualInformationBuffer(datasets: T, experts: E)
        for t in 0..<T {
            // dataset t uses experts 2t and 2t+1 only (unequally)
            var q = [Float](repeating: 0, count: E)
            q[2 * t] = 0.7
            q[2 * t + 1] = 0.3
            _ = buffer.step(dataset: t, batchMeanProbabilities: q)
        }
        #expect(abs(buffer.values.reduce(0, +) - 1) < 1e-12)
        #expect(abs(buffer.mutualInformation - log(Double(T))) < 1e-12)
        #expect(abs(buffer.mutualInformation - referenceMI(rows(buffer))) < 1e-12)
    }

    @Test func identicalRowsGiveZero() throws {
        var buffer = MutualInformationBuffer(datasets: 3, experts: 4)
        let q: [Float] = [0.1, 0.2, 0.3, 0.4]
        for t in 0..<3 { _ = buffer.step(dataset: t, batchMeanProbabilities: q) }
        #expect(abs(buffer.mutualInformation) < 1e-12)
        // And the surrogate gradient there is the constant −(1/T)·log(1/T) = log(T)/T,
        // i.e. (1 − m)·g − (1 − m)·log(T)/T = 0, no push anywhere on the simplex.
        for e in 0..<4 { #expect(abs(buffer.gradient(dataset: 1)[e] - log(3.0) / 3) < 1e-3) }
    }

    @Test func randomBufferMatchesReferenceMI() throws {
        let buffer = warmBuffer(datasets: 3, experts: 4, epsilon: 1e-4, seed: 21)
        #expect(abs(buffer.mutualInformation - referenceMI(rows(buffer))) < 1e-12)
        #expect(buffer.mutualInformation > 0 && buffer.mutualInformation < log(3.0))
    }

    // MARK: Surgery and adaptation

    @Test func removeExpertsKeepsTheRemainingColumns() throws {
        let before = warmBuffer(datasets: 3, experts: 6, epsilon: 1e-4, seed: 8)
        var after = before
        after.removeExperts(keeping: [4, 0, 2])
        #expect(after.experts == 3 && after.datasets == 3)
        #expect(after.counts == before.counts)
        for t in 0..<3 {
            #expect(after.row(t) == [before[t, 4], before[t, 0], before[t, 2]])
        }
        var rng = SeededGenerator(seed: 2)
        let stepped = after.step(dataset: 0, batchMeanProbabilities: randomProbabilities(3, &rng))
        #expect(stepped != nil)
    }

    @Test func appendExpertsAddsZeroColumns() throws {
        let before = warmBuffer(datasets: 2, experts: 3, epsilon: 1e-4, seed: 9)
        var after = before
        after.appendExperts(count: 2)
        #expect(after.experts == 5)
        for t in 0..<2 { #expect(after.row(t) == before.row(t) + [0, 0]) }
        #expect(after.mutualInformation == before.mutualInformation)
        let stepped = after.step(dataset: 1, batchMeanProbabilities: [0.2, 0.2, 0.2, 0.2, 0.2])
        let g = try #require(stepped)
        #expect(g.allSatisfy { $0.isFinite })
    }

    @Test func addDatasetRemembersOldRows() throws {
        let before = warmBuffer(datasets: 2, experts: 4, epsilon: 1e-4, seed: 10)
        var after = before
        let t = after.addDataset()
        #expect(t == 2 && after.datasets == 3 && after.counts == before.counts + [0])
        #expect(after.row(2) == [0, 0, 0, 0])
        for old in 0..<2 {
            for e in 0..<4 { #expect(abs(after[old, e] - before[old, e] * 2 / 3) < 1e-16) }
        }
        // The new dataset warms up on its own; afterwards all rows sum to 1/3.
        var rng = SeededGenerator(seed: 6)
        for i in 1...101 {
            let g = after.step(dataset: 2, batchMeanProbabilities: randomProbabilities(4, &rng))
            #expect((g == nil) == (i <= 100))
        }
        for row in 0..<3 { #expect(abs(after.row(row).reduce(0, +) - 1.0 / 3) < 1e-6) }
    }

    // MARK: Checkpoint state

    @Test func codableRoundTripIsBitForBit() throws {
        var buffer = warmBuffer(datasets: 3, experts: 4, epsilon: 1e-4, seed: 12)
        buffer.addDataset()
        _ = buffer.step(dataset: 3, batchMeanProbabilities: [0.1, 0.2, 0.3, 0.4])
        let json = try Checkpoint.encodeMetadata(buffer)
        let checkpoint = Checkpoint(metadata: ["mi.blocks.1": json])
        let decoded = try checkpoint.decodeMetadata(MutualInformationBuffer.self, key: "mi.blocks.1")
        #expect(decoded == buffer)
        #expect(decoded.values.map(\.bitPattern) == buffer.values.map(\.bitPattern))
        // Awkward doubles survive too.
        var odd = MutualInformationBuffer(datasets: 1, experts: 3, warmUp: 0)
        _ = odd.step(dataset: 0, batchMeanProbabilities: [1e-38, Float.leastNonzeroMagnitude, 0.1])
        let oddJSON = try Checkpoint.encodeMetadata(odd)
        let back = try JSONDecoder().decode(MutualInformationBuffer.self, from: Data(oddJSON.utf8))
        #expect(back.values.map(\.bitPattern) == odd.values.map(\.bitPattern))
        // A resumed buffer continues exactly like the original.
        var a = buffer
        var b = decoded
        let ga = a.step(dataset: 1, batchMeanProbabilities: [0.4, 0.3, 0.2, 0.1])
        let gb = b.step(dataset: 1, batchMeanProbabilities: [0.4, 0.3, 0.2, 0.1])
        #expect(ga == gb)
        #expect(a == b)
    }

    @Test func decodingRejectsInconsistentShapes() throws {
        let bad =
            #"{"counts":[0],"datasets":2,"epsilon":0.0001,"experts":2,"momentum":0.99,"values":[0,0,0,0],"warmUp":100}"#
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(MutualInformationBuffer.self, from: Data(bad.utf8))
        }
    }
}
