import MoETensor
import MoETestSupport
import Testing

@Suite struct GEMMTests {
    /// C = alpha·op(A)·op(B) + beta·C on padded storage (lda/ldb/ldc larger than needed):
    /// the padding must stay untouched.
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func matchesNaiveProduct(transA: Bool, transB: Bool) {
        let m = 5
        let n = 7
        let k = 3
        let (aRows, aCols) = transA ? (k, m) : (m, k)
        let (bRows, bCols) = transB ? (n, k) : (k, n)
        let lda = aCols + 2
        let ldb = bCols + 3
        let ldc = n + 4
        let a = randomTensorValues(count: aRows * lda, seed: 1)
        let b = randomTensorValues(count: bRows * ldb, seed: 2)
        let c0 = randomTensorValues(count: m * ldc, seed: 3)
        let alpha: Float = 0.75
        let beta: Float = -1.5
        var c = c0
        gemm(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
            b: b, ldb: ldb, beta: beta, c: &c, ldc: ldc)
        var expected = c0
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += Double(av) * Double(bv)
                }
                expected[i * ldc + j] = Float(Double(alpha) * sum + Double(beta) * Double(c0[i * ldc + j]))
            }
        }
        expectClose(c, expected, tolerance: 1e-5)
        for i in 0..<m {
            for j in n..<ldc { #expect(c[i * ldc + j] == c0[i * ldc + j], "padding overwritten") }
        }
    }
}
