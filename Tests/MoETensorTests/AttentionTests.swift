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

    /// hd = 8 and 32 (the last three) run fused on `.automatic` with AVX2 (FusedAttentionTests).
    @Test(
        arguments: [(1, 1, 2, 1), (2, 3, 4, 2), (3, 5, 12, 3), (2, 9, 8, 1), (2, 7, 64, 2), (2, 50, 64, 2)],
        [KernelPath.automatic, .portable])
    func forwardMatchesNaivePerHead(shape: (batch: Int, tokens: Int, dim: Int, heads: Int), path: KernelPath) {
        let (batch, tokens, dim, heads) = shape
        let qkv = randomTensorValues(count: batch * tokens * 3 * dim, seed: 70, scale: 1.5)
        var out = [Float](repeating: .nan, count: batch * tokens * dim)
        var att = [Float](repeating: .nan, count: batch * heads * tokens * tokens)
        attentionForward(
            out: &out, att: &att, qkv: qkv, batch: batch, tokens: tokens, dim: dim, heads: heads, path: path)
        let expected = Self.reference(qkv: qkv, batch: batch, tokens: tokens, dim: dim, heads: heads)
        expectClose(att, expected.att, tolerance: 1e-5, floor: 1e-4)
        // A·V sums N terms that partly cancel: at N = 50 OpenBLAS's rounding reaches 1.0e-5.
        expectClose(out, expected.out, tolerance: 2e-5, floor: 1e-2)
    }

    /// hd = 8 and 16 (the last two) run fused on `.automatic` with AVX2.
    @Test(arguments: [(1, 3, 4, 2), (2, 4, 6, 3), (1, 9, 16, 2), (2, 5, 16, 1)], [KernelPath.automatic, .portable])
    func gradientMatchesFiniteDifferencesAndAccumulates(
        shape: (batch: Int, tokens: Int, dim: Int, heads: Int), path: KernelPath
    ) {
        let (batch, tokens, dim, heads) = shape
        expectGradientMatchesAndAccumulates(
            input: randomTensorValues(count: batch * tokens * 3 * dim, seed: 71), seed: 72,
            forward: { qkv in
                var out = [Float](repeating: 0, count: batch * tokens * dim)
                var att = [Float](repeating: 0, count: batch * heads * tokens * tokens)
                attentionForward(
                    out: &out, att: &att, qkv: qkv, batch: batch, tokens: tokens, dim: dim, heads: heads, path: path)
                return out
            },
            backward: { dout, qkv, grad in
                var out = [Float](repeating: 0, count: batch * tokens * dim)
                var att = [Float](repeating: 0, count: batch * heads * tokens * tokens)
                attentionForward(
                    out: &out, att: &att, qkv: qkv, batch: batch, tokens: tokens, dim: dim, heads: heads, path: path)
                // Garbage in the scratch must not matter: it is overwritten.
                var scratch = [Float](repeating: .nan, count: att.count)
                attentionBackward(
                    dqkv: &grad, datt: &scratch, dout: dout, qkv: qkv, att: att,
                    batch: batch, tokens: tokens, dim: dim, heads: heads, path: path)
            })
    }
}
