import Foundation
import MoETensor
import MoETestSupport
import Testing

/// The fused AVX2/FMA attention heads (`path: .automatic` on a CPU with AVX2 and FMA, hd a
/// multiple of 8, N ≤ `fusedAttentionMaxTokens`) against the OpenBLAS path (`.portable`).
/// AttentionTests checks both paths against the naive Double reference and finite
/// differences. On a CPU without AVX2 both paths are the portable one.
@Suite struct FusedAttentionTests {
    struct Run {
        var out: [Float]
        var att: [Float]
        var dqkv: [Float]
    }

    /// Forward, then backward of `dout` accumulated onto a non-zero `dqkv`.
    static func run(
        _ path: KernelPath, qkv: [Float], dout: [Float], batch: Int, tokens: Int, dim: Int, heads: Int
    ) -> Run {
        var out = [Float](repeating: .nan, count: batch * tokens * dim)
        var att = [Float](repeating: .nan, count: batch * heads * tokens * tokens)
        attentionForward(
            out: &out, att: &att, qkv: qkv, batch: batch, tokens: tokens, dim: dim, heads: heads, path: path)
        var dqkv = randomTensorValues(count: qkv.count, seed: 83)
        var scratch = [Float](repeating: .nan, count: att.count)
        attentionBackward(
            dqkv: &dqkv, datt: &scratch, dout: dout, qkv: qkv, att: att,
            batch: batch, tokens: tokens, dim: dim, heads: heads, path: path)
        return Run(out: out, att: att, dqkv: dqkv)
    }

    /// hd = 32 as in every recipe; N = 50 is bench-tiny's, 145 the 48×48 scenes', 197 a
    /// 224×224 ViT's; odd N exercise the key tails and the unpaired last query row.
    /// Measured on Zen 3 over these cases: probabilities within 9.6e-7 relative; outputs and
    /// dQKV within 2.4e-7 absolute (1.2e-5 relative at floor 1e-2).
    @Test(arguments: [5, 50, 145, 197], [1, 4])
    func matchesTheOpenBLASPath(tokens: Int, heads: Int) {
        let (batch, dim) = (2, 32 * heads)
        let qkv = randomTensorValues(count: batch * tokens * 3 * dim, seed: 80, scale: 1.5)
        let dout = randomTensorValues(count: batch * tokens * dim, seed: 81)
        let fused = Self.run(.automatic, qkv: qkv, dout: dout, batch: batch, tokens: tokens, dim: dim, heads: heads)
        let blas = Self.run(.portable, qkv: qkv, dout: dout, batch: batch, tokens: tokens, dim: dim, heads: heads)
        // Outputs and gradients are sums of terms of order 0.1–1 that partly cancel, so their
        // rounding is absolute: floor 1e-2, i.e. |Δ| ≤ 3e-7 near zero.
        expectClose(fused.att, blas.att, tolerance: 1e-5, floor: 1e-3)
        expectClose(fused.out, blas.out, tolerance: 3e-5, floor: 1e-2)
        expectClose(fused.dqkv, blas.dqkv, tolerance: 3e-5, floor: 1e-2)
    }

    /// On a CPU with AVX-512F the heads' products run sixteen lanes wide; every output and
    /// gradient equals the eight-lane kernel's bit for bit: hd 32 (two zmm), 8 and 24 (masked
    /// tails), N from 5 to 197 (key tails of 5 to 31 lanes, six-row blocks and their rest).
    @Test(
        .enabled(if: KernelPath.hasAVX512, "the CPU has no AVX-512F"),
        arguments: [(5, 32), (50, 32), (145, 32), (197, 32), (17, 8), (40, 24), (33, 16)])
    func avx512MatchesAVX2BitForBit(tokens: Int, headDim: Int) {
        let (batch, heads) = (2, 3)
        let dim = heads * headDim
        let qkv = randomTensorValues(count: batch * tokens * 3 * dim, seed: 91, scale: 1.5)
        let dout = randomTensorValues(count: batch * tokens * dim, seed: 92)
        let wide = Self.run(.automatic, qkv: qkv, dout: dout, batch: batch, tokens: tokens, dim: dim, heads: heads)
        let narrow = Self.run(.avx2, qkv: qkv, dout: dout, batch: batch, tokens: tokens, dim: dim, heads: heads)
        for (a, b) in [(wide.out, narrow.out), (wide.att, narrow.att), (wide.dqkv, narrow.dqkv)] {
            #expect(a.indices.allSatisfy { a[$0].bitPattern == b[$0].bitPattern })
        }
    }

    /// A diverged score row (an infinite query value) turns NaN the same way on both widths,
    /// and the other rows keep their bits.
    @Test(.enabled(if: KernelPath.hasAVX512, "the CPU has no AVX-512F"), arguments: [50, 145])
    func nonFiniteScoresMatchAVX2BitForBit(tokens: Int) {
        let (batch, dim, heads) = (1, 64, 2)
        var qkv = randomTensorValues(count: batch * tokens * 3 * dim, seed: 93, scale: 1.5)
        qkv[7 * 3 * dim + 3] = .infinity
        let dout = randomTensorValues(count: batch * tokens * dim, seed: 94)
        let wide = Self.run(.automatic, qkv: qkv, dout: dout, batch: batch, tokens: tokens, dim: dim, heads: heads)
        let narrow = Self.run(.avx2, qkv: qkv, dout: dout, batch: batch, tokens: tokens, dim: dim, heads: heads)
        #expect(wide.att.contains { $0.isNaN })
        #expect(wide.att.indices.allSatisfy { wide.att[$0].bitPattern == narrow.att[$0].bitPattern })
        #expect(wide.out.indices.allSatisfy { wide.out[$0].bitPattern == narrow.out[$0].bitPattern })
    }

    /// Inference (`att` nil: each head's probabilities stay in its workspace, or in a
    /// temporary on the OpenBLAS path) writes the training forward's outputs bit for bit.
    @Test(arguments: [KernelPath.automatic, .portable], [5, 50, 145])
    func inferenceWithoutProbabilitiesMatchesTraining(path: KernelPath, tokens: Int) {
        let (batch, dim, heads) = (3, 128, 4)
        let qkv = randomTensorValues(count: batch * tokens * 3 * dim, seed: 89, scale: 1.5)
        let dout = randomTensorValues(count: batch * tokens * dim, seed: 90)
        let training = Self.run(path, qkv: qkv, dout: dout, batch: batch, tokens: tokens, dim: dim, heads: heads)
        var out = [Float](repeating: .nan, count: batch * tokens * dim)
        attentionForward(
            out: &out, att: nil, qkv: qkv, batch: batch, tokens: tokens, dim: dim, heads: heads, path: path)
        #expect(out.indices.allSatisfy { out[$0].bitPattern == training.out[$0].bitPattern })
    }

    /// With `accumulate` false the backward overwrites ∂L/∂qkv without reading it (NaN there
    /// must not show) and stores what accumulating onto zeros stores, bit for bit.
    @Test(arguments: [KernelPath.automatic, .avx2, .portable], [5, 50])
    func overwritingMatchesAccumulatingOntoZeros(path: KernelPath, tokens: Int) {
        let (batch, dim, heads) = (2, 64, 2)
        let qkv = randomTensorValues(count: batch * tokens * 3 * dim, seed: 95, scale: 1.5)
        let dout = randomTensorValues(count: batch * tokens * dim, seed: 96)
        var out = [Float](repeating: 0, count: batch * tokens * dim)
        var att = [Float](repeating: 0, count: batch * heads * tokens * tokens)
        attentionForward(
            out: &out, att: &att, qkv: qkv, batch: batch, tokens: tokens, dim: dim, heads: heads, path: path)
        var scratch = [Float](repeating: .nan, count: att.count)
        var accumulated = [Float](repeating: 0, count: qkv.count)
        attentionBackward(
            dqkv: &accumulated, datt: &scratch, dout: dout, qkv: qkv, att: att,
            batch: batch, tokens: tokens, dim: dim, heads: heads, path: path)
        var overwritten = [Float](repeating: .nan, count: qkv.count)
        attentionBackward(
            dqkv: &overwritten, datt: &scratch, dout: dout, qkv: qkv, att: att,
            batch: batch, tokens: tokens, dim: dim, heads: heads, accumulate: false, path: path)
        #expect(overwritten.indices.allSatisfy { overwritten[$0].bitPattern == accumulated[$0].bitPattern })
    }

    /// Heads are spread over the workers but each is one serial kernel: repeated runs agree
    /// bit for bit.
    @Test func isDeterministic() {
        let (batch, tokens, dim, heads) = (4, 50, 128, 4)
        let qkv = randomTensorValues(count: batch * tokens * 3 * dim, seed: 87)
        let dout = randomTensorValues(count: batch * tokens * dim, seed: 88)
        let first = Self.run(.automatic, qkv: qkv, dout: dout, batch: batch, tokens: tokens, dim: dim, heads: heads)
        let second = Self.run(.automatic, qkv: qkv, dout: dout, batch: batch, tokens: tokens, dim: dim, heads: heads)
        #expect(first.out == second.out && first.att == second.att && first.dqkv == second.dqkv)
    }

    /// A non-finite score row turns into NaN probabilities (as on the OpenBLAS path) rather
    /// than trapping, so a diverged model stops with a NaN loss.
    @Test func nonFiniteScoresGiveNaNRows() {
        var qkv = randomTensorValues(count: 3 * 3 * 16, seed: 89)
        qkv[0] = .infinity
        var out = [Float](repeating: 0, count: 3 * 16)
        var att = [Float](repeating: 0, count: 9)
        attentionForward(out: &out, att: &att, qkv: qkv, batch: 1, tokens: 3, dim: 16, heads: 1)
        #expect(att[0..<3].allSatisfy { $0.isNaN })
    }
}
