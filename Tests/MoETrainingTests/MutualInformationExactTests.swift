import Foundation
import MoETensor
import MoETraining
import Testing

@Suite struct MutualInformationExactTests {
    private static func randomQ(_ T: Int, _ E: Int, seed: UInt64) -> [[Double]] {
        var rng = SeededGenerator(seed: seed)
        return (0..<T).map { _ in
            let logits = (0..<E).map { _ in Double(2 * rng.normal()) }
            let exps = logits.map { exp($0) }
            let s = exps.reduce(0, +)
            return exps.map { $0 / s }
        }
    }

    @Test(arguments: [(2, 3), (3, 4), (4, 6)])
    func gradientMatchesFiniteDifferences(shape: (Int, Int)) throws {
        let (T, E) = shape
        let q = Self.randomQ(T, E, seed: UInt64(10 * T + E))
        let (loss, gradient) = ExactMutualInformation.lossAndGradient(q: q)
        #expect(abs(loss + ExactMutualInformation.mutualInformation(q: q)) < 1e-15)
        let h = 1e-6
        for t in 0..<T {
            for e in 0..<E {
                var plus = q
                var minus = q
                plus[t][e] += h
                minus[t][e] -= h
                let fd =
                    (ExactMutualInformation.lossAndGradient(q: plus).loss
                        - ExactMutualInformation.lossAndGradient(q: minus).loss) / (2 * h)
                #expect(abs(fd - gradient[t][e]) < 1e-7 * max(1, abs(fd)), "t=\(t) e=\(e): \(fd) vs \(gradient[t][e])")
            }
        }
        // Float API agrees.
        let (lossF, gradientF) = ExactMutualInformation.lossAndGradient(
            q: q.map { $0.map { Float($0) } })
        #expect(abs(Double(lossF) - loss) < 1e-6)
        for t in 0..<T { for e in 0..<E { #expect(abs(Double(gradientF[t][e]) - gradient[t][e]) < 1e-5) } }
    }

    @Test func formulaByHand() throws {
        // T = 2, E = 2: q = [[1, 0], [0.5, 0.5]] → P = [[1/2, 0], [1/4, 1/4]], P(e) = [3/4, 1/4]
        // MI = 1/2 log(1/2 / (1/2·3/4)) + 1/4 log(1/4 / (1/2·3/4)) + 1/4 log(1/4 / (1/2·1/4))
        let q: [[Float]] = [[1, 0], [0.5, 0.5]]
        let mi = 0.5 * log(4.0 / 3) + 0.25 * log(2.0 / 3) + 0.25 * log(2.0)
        #expect(abs(ExactMutualInformation.mutualInformation(q: q.map { $0.map(Double.init) }) - mi) < 1e-15)
        #expect(abs(Double(ExactMutualInformation.loss(q: q)) + mi) < 1e-7)
        let g = ExactMutualInformation.gradient(q: q)
        #expect(g[1][0] == Float(-log(2.0 * 0.25 / 0.75) / 2))
        #expect(g.allSatisfy { $0.allSatisfy { $0.isFinite } })  // zero entry clamped
    }

    @Test func boundsAndAgreementWithTheBufferMetric() throws {
        // Disjoint experts → log T; identical rows → 0.
        let disjoint: [[Double]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        #expect(abs(ExactMutualInformation.mutualInformation(q: disjoint) - log(3.0)) < 1e-15)
        let same: [[Double]] = [[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]]
        #expect(abs(ExactMutualInformation.mutualInformation(q: same)) < 1e-15)
        // The buffer after one update per dataset holds q/T: the same MI.
        let q = Self.randomQ(3, 5, seed: 1)
        var buffer = MutualInformationBuffer(datasets: 3, experts: 5)
        for t in 0..<3 { _ = buffer.step(dataset: t, batchMeanProbabilities: q[t].map { Float($0) }) }
        let qf = q.map { $0.map { Double(Float($0)) } }
        #expect(abs(buffer.mutualInformation - ExactMutualInformation.mutualInformation(q: qf)) < 1e-12)
    }
}
