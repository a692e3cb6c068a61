import CKernels
import MoETensor
import MoETestSupport
import Testing

/// moe's AVX-512 GEMM (`moe_sgemm_avx512`) against its documented rounding, on CPUs that have
/// AVX-512F (elsewhere `GEMMKernel.current` is OpenBLAS and these are skipped).
@Suite(.enabled(if: moe_cpu_has_avx512f() != 0, "the CPU has no AVX-512F"))
struct GEMMKernelTests {
    /// One product, on padded storage: the result and the untouched padding.
    struct Product: CustomTestStringConvertible, Sendable {
        var m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float
        /// Whether a bias replaces beta·C.
        var biased = false
        /// Whether C is multiplied by a factor at the end.
        var scaled = false
        var testDescription: String {
            "\(m)×\(n)×\(k) tA \(transA) tB \(transB) α \(alpha) \(biased ? "+ bias" : "β \(beta)")"
                + (scaled ? " ⊙ factor" : "")
        }

        var lda: Int { (transA ? m : k) + 3 }
        var ldb: Int { (transB ? k : n) + 5 }
        var ldc: Int { n + 2 }
        var a: [Float] { randomTensorValues(count: (transA ? k : m) * lda, seed: 11) }
        var b: [Float] { randomTensorValues(count: (transB ? n : k) * ldb, seed: 12) }
        var c: [Float] { randomTensorValues(count: m * ldc, seed: 13) }
        var bias: [Float]? { biased ? randomTensorValues(count: n, seed: 14) : nil }
        /// C's shape and stride; every seventh element ±0, whose products must come out +0.
        var factor: [Float]? {
            guard scaled else { return nil }
            var factor = randomTensorValues(count: m * ldc, seed: 15)
            for i in stride(from: 0, to: factor.count, by: 7) { factor[i] = i % 2 == 0 ? 0 : -0.0 }
            return factor
        }

        /// The kernel on C's rows `rows` and columns `columns` (as a separate call).
        func kernel(into c: inout [Float], rows: Range<Int>, columns: Range<Int>) {
            let (a, b, lda, ldb, ldc) = (a, b, lda, ldb, ldc)
            let (bias, factor) = (bias ?? [], factor ?? [])
            let cStart = rows.lowerBound * ldc + columns.lowerBound
            let aStart = transA ? rows.lowerBound : rows.lowerBound * lda
            let bStart = transB ? columns.lowerBound * ldb : columns.lowerBound
            let status = a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    bias.withUnsafeBufferPointer { bias in
                        factor.withUnsafeBufferPointer { factor in
                            c.withUnsafeMutableBufferPointer { c in
                                moe_sgemm_avx512(
                                    transA ? 1 : 0, transB ? 1 : 0, rows.count, columns.count, k, alpha,
                                    a.baseAddress! + aStart, lda, b.baseAddress! + bStart, ldb, beta,
                                    biased ? bias.baseAddress! + columns.lowerBound : nil,
                                    scaled ? factor.baseAddress! + cStart : nil, c.baseAddress! + cStart, ldc)
                            }
                        }
                    }
                }
            }
            #expect(status == 0)
        }

        /// The documented order: C ← beta·C (or the bias), then per block of inner rows an FMA
        /// chain from 0 added with fma(acc, alpha, C); then C·factor + 0.
        func reference() -> [Float] {
            let (a, b, bias, factor) = (a, b, bias, factor)
            var c = c
            for i in 0..<m {
                for j in 0..<n {
                    var value = beta == 0 ? 0 : beta == 1 ? c[i * ldc + j] : beta * c[i * ldc + j]
                    if let bias { value = bias[j] }
                    var start = 0
                    repeat {
                        let length = moe_sgemm_avx512_block_length(k - start)
                        var acc: Float = 0
                        for p in start..<start + length {
                            let av = transA ? a[p * lda + i] : a[i * lda + p]
                            let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                            acc.addProduct(av, bv)
                        }
                        value = value.addingProduct(acc, alpha)
                        start += length
                    } while start < k
                    if let factor { value = 0 + value * factor[i * ldc + j] }
                    c[i * ldc + j] = value
                }
            }
            return c
        }
    }

    static let products: [Product] = [
        .init(m: 37, n: 45, k: 77, transA: false, transB: false, alpha: 1, beta: 0),
        .init(m: 37, n: 45, k: 77, transA: false, transB: true, alpha: 0.75, beta: -1.5),
        .init(m: 12, n: 128, k: 600, transA: true, transB: false, alpha: 1, beta: 1),
        .init(m: 50, n: 16, k: 33, transA: false, transB: false, alpha: 1, beta: 1),
        .init(m: 13, n: 10, k: 128, transA: false, transB: true, alpha: 0.5, beta: 0),
        .init(m: 25, n: 33, k: 513, transA: true, transB: true, alpha: 1, beta: 0.25),
        .init(m: 200, n: 128, k: 128, transA: false, transB: false, alpha: 1, beta: 1),
        .init(m: 7, n: 5, k: 0, transA: false, transB: false, alpha: 1, beta: 0.5),
        .init(m: 30, n: 1_100, k: 40, transA: false, transB: true, alpha: 1, beta: 1),
        .init(m: 37, n: 45, k: 300, transA: false, transB: false, alpha: 1, beta: 0, biased: true),
        .init(m: 30, n: 1_100, k: 40, transA: false, transB: true, alpha: 0.5, beta: 1, biased: true),
        .init(m: 7, n: 5, k: 0, transA: false, transB: false, alpha: 1, beta: 0.5, biased: true),
        .init(m: 200, n: 128, k: 128, transA: false, transB: true, alpha: 1, beta: 0, scaled: true),
        .init(m: 37, n: 45, k: 600, transA: true, transB: false, alpha: 0.5, beta: 1, scaled: true),
        .init(m: 30, n: 1_100, k: 40, transA: false, transB: false, alpha: 1, beta: 0, biased: true, scaled: true),
    ]

    /// Every element follows the documented order bit for bit, and the padding of C is kept
    /// (1,100 columns: three blocks of columns, the last 76 wide).
    @Test(arguments: products)
    func matchesDocumentedRounding(product: Product) {
        var c = product.c
        product.kernel(into: &c, rows: 0..<product.m, columns: 0..<product.n)
        let expected = product.reference()
        #expect(c.indices.allSatisfy { c[$0].bitPattern == expected[$0].bitPattern })
    }

    /// Any cut of C into separate calls (rows, columns or both, at odd places) gives the same
    /// bits as one call: what lets `gemm` thread products without a rule on block sizes.
    @Test(arguments: products.filter { $0.m > 12 && $0.n > 8 })
    func cutsOfCKeepTheBits(product: Product) {
        var whole = product.c
        product.kernel(into: &whole, rows: 0..<product.m, columns: 0..<product.n)
        var cut = product.c
        let (rowCut, columnCut) = (product.m / 3 + 1, product.n / 2 + 3)
        for rows in [0..<rowCut, rowCut..<product.m] {
            for columns in [0..<columnCut, columnCut..<product.n] {
                product.kernel(into: &cut, rows: rows, columns: columns)
            }
        }
        #expect(cut.indices.allSatisfy { cut[$0].bitPattern == whole[$0].bitPattern })
    }

    /// `gemm`, threads and all, multiplies on this kernel unless `MOE_GEMM=openblas`.
    @Test(.enabled(if: GEMMKernel.current == .avx512, "MOE_GEMM=openblas chose OpenBLAS"))
    func gemmRunsOnTheChosenKernel() {
        let product = Product(m: 400, n: 384, k: 300, transA: false, transB: true, alpha: 1, beta: 1)
        var c = product.c
        gemm(
            transA: product.transA, transB: product.transB, m: product.m, n: product.n, k: product.k,
            alpha: product.alpha, a: product.a, lda: product.lda, b: product.b, ldb: product.ldb,
            beta: product.beta, c: &c, ldc: product.ldc)
        let expected = product.reference()
        #expect(c.indices.allSatisfy { c[$0].bitPattern == expected[$0].bitPattern })
    }

    /// With beta 0 or a bias, C is written without being read: NaNs already in C do not leak.
    @Test(arguments: [false, true])
    func betaZeroIgnoresC(biased: Bool) {
        let product = Product(
            m: 13, n: 40, k: 9, transA: false, transB: false, alpha: 1, beta: biased ? 1 : 0, biased: biased)
        var c = [Float](repeating: .nan, count: product.m * product.ldc)
        product.kernel(into: &c, rows: 0..<product.m, columns: 0..<product.n)
        #expect((0..<product.m).allSatisfy { i in (0..<product.n).allSatisfy { !c[i * product.ldc + $0].isNaN } })
    }
}
