import Foundation
import MoETensor
import MoETestSupport
import Testing

@Suite struct AttentionTests {
    /// Plain per-head loops in Double: S = QKᵀ/√hd, A = softmax(S), O = AV.
    static func reference(qkv: [Float], batch: Int, tokens n: Int, dim: Int, heads: Int) -> (out: [Float], att: [Float])
    {
        let hd = dim / heads
        var out = [Float](repeating: 0, count: batch * n * dim)
        var att = [Float](repeating: 0, count: batch * heads * n * n)
        func at(_ b: Int, _ t: Int, _ part: Int, _ h: Int, _ i: Int) -> Double {
            Double(qkv[(b * n + t) * 3 * dim + part * dim + h * hd + i])
        }
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<n {
                    var scores = [Double](repeating: 0, count: n)
                    for j in 0..<n {
                        for d in 0..<hd { scores[j] += at(b, i, 0, h, d) * at(b, j, 1, h, d) }
                        scores[j] /= Double(hd).squareRoot()
                    }
                    let m = scores.max()!
                    let e = scores.map { exp($0 - m) }
                    let s = e.reduce(0, +)
                    for j in 0..<n { att[((b * heads + h) * n + i) * n + j] = Float(e[j] / s) }
                    for d in 0..<hd {
                        var sum = 0.0
                        for j in 0..<n { sum += e[j] / s * at(b, j, 2, h, d) }
                        out[(b * n + i) * dim + h * hd + d] = Float(sum)
                    }
                }
            }
        }
        return (out, att)
    }

    @Test(arguments: [(1, 1, 2, 1), (2, 3, 4, 2), (3, 5, 12, 3), (2, 9, 8, 1)])
    func forwardMatchesNaivePerHead(batch: Int, tokens: Int, dim: Int, heads: Int) {
        let qkv = randomTensorValues(count: batch * tokens * 3 * dim, seed: 70, scale: 1.5)
        var out = [Float](repeating: .nan, count: batch * tokens * dim)
        var att = [Float](repeating: .nan, count: batch * heads * tokens * tokens)
        attentionForward(out: &out, att: &att, qkv: qkv, batch: batch, tokens: tokens, dim: dim, heads: heads)
        let expected = Self.reference(qkv: qkv, batch: batch, tokens: tokens, dim: dim, heads: heads)
        expectClose(att, expected.att, tolerance: 1e-5, floor: 1e-4)
        expectClose(out, expected.out, tolerance: 1e-5, floor: 1e-2)
    }

    @Test(arguments: [(1, 3, 4, 2), (2, 4, 6, 3)])
    func gradientMatchesFiniteDifferencesAndAccumulates(batch: Int, tokens: Int, dim: Int, heads: Int) {
        expectGradientMatchesAndAccumulates(
            input: randomTensorValues(count: batch * tokens * 3 * dim, seed: 71), seed: 72,
            forward: { qkv in
                var out = [Float](repeating: 0, count: batch * tokens * dim)
                var att = [Float](repeating: 0, count: batch * heads * tokens * tokens)
                attentionForward(out: &out, att: &att, qkv: qkv, batch: batch, tokens: tokens, dim: dim, heads: heads)
                return out
            },
            backward: { dout, qkv, grad in
                var out = [Float](repeating: 0, count: batch * tokens * dim)
                var att = [Float](repeating: 0, count: batch * heads * tokens * tokens)
                attentionForward(out: &out, att: &att, qkv: qkv, batch: batch, tokens: tokens, dim: dim, heads: heads)
                // Garbage in the scratch must not matter: it is overwritten.
                var scratch = [Float](repeating: .nan, count: att.count)
                attentionBackward(
                    dqkv: &grad, datt: &scratch, dout: dout, qkv: qkv, att: att,
                    batch: batch, tokens: tokens, dim: dim, heads: heads)
            })
    }
}
