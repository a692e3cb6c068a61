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

    /// `gemmByRowBlocks` with a bias equals filling C with it and calling `gemm` with beta 1,
    /// bit for bit, when the product runs on one thread, splits C's rows (1,067, 400 and 3,203
    /// rows) or its columns (100 rows); `gemmRowBlocks` cover every row once, at most
    /// `gemmRowBlock` rows and a short remainder (400 rows leave 8 or 16), and none is a small
    /// product (`smallGEMMMultiplyAdds`) unless it is the only one.
    @Test(arguments: [
        (40, 128, 128, false), (1067, 128, 128, false), (100, 128, 128, true), (400, 128, 128, false),
        (400, 128, 128, true), (3203, 384, 128, false),
    ])
    func rowBlocksMatchOneProduct(m: Int, n: Int, k: Int, transB: Bool) {
        let a = randomTensorValues(count: m * k, seed: 4)
        let b = randomTensorValues(count: k * n, seed: 5)
        let bias = randomTensorValues(count: n, seed: 6)
        var expected = (0..<m).flatMap { _ in bias }
        gemm(
            transA: false, transB: transB, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: transB ? k : n, beta: 1,
            c: &expected, ldc: n)
        var c = [Float](repeating: .nan, count: m * n)
        gemmByRowBlocks(
            transB: transB, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: transB ? k : n, bias: bias, c: &c, ldc: n)
        #expect(c.indices.allSatisfy { c[$0].bitPattern == expected[$0].bitPattern })
        var withBias = [Float](repeating: .nan, count: m * n)
        gemm(
            transA: false, transB: transB, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: transB ? k : n, bias: bias,
            c: &withBias, ldc: n)
        #expect(withBias.indices.allSatisfy { withBias[$0].bitPattern == expected[$0].bitPattern })
        guard let blocks = gemmRowBlocks(m: m, n: n, k: k) else { return }
        let sorted = blocks
        #expect(sorted.first?.lowerBound == 0 && sorted.last?.upperBound == m)
        #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(sorted.allSatisfy { $0.count < 2 * gemmRowBlock })
        #expect(sorted.count == 1 || sorted.allSatisfy { $0.count * n * k > smallGEMMMultiplyAdds })
    }

    /// A `factor` multiplies C as a second pass would, `0 + C·factor`, on the kernel in use
    /// (the AVX-512 kernel as it stores C, OpenBLAS after the product), threaded or not.
    @Test(arguments: [(40, 128, 128), (1067, 128, 128), (300, 384, 700)])
    func factorMatchesASecondPass(m: Int, n: Int, k: Int) {
        let a = randomTensorValues(count: m * k, seed: 4)
        let b = randomTensorValues(count: n * k, seed: 5)
        var factor = randomTensorValues(count: m * n, seed: 6)
        for i in stride(from: 0, to: factor.count, by: 5) { factor[i] = i % 2 == 0 ? 0 : -0.0 }
        // OpenBLAS rounds by the cut of C into calls, so each way is checked against itself.
        for threaded in [true, false] {
            let product = threaded ? gemm : serialGEMM
            var expected = [Float](repeating: 0, count: m * n)
            product(false, true, m, n, k, 1, a, k, b, k, 0, nil, nil, &expected, n)
            for i in expected.indices { expected[i] = 0 + expected[i] * factor[i] }
            var c = [Float](repeating: .nan, count: m * n)
            product(false, true, m, n, k, 1, a, k, b, k, 0, nil, factor, &c, n)
            #expect(c.indices.allSatisfy { c[$0].bitPattern == expected[$0].bitPattern }, "threaded \(threaded)")
        }
    }

    /// A weight gradient C += Aᵀ·B accumulated with `gemmTransposedAChunk` over
    /// `gemmInnerChunks(m:n:k:)`, in order, equals one `gemm` over all k rows bit for bit:
    /// fewer rows than one chunk, exactly one, a remainder between one and two chunks, many; C
    /// split by rows (128 × 128), by columns (12 × 128) and not at all (16 × 16). The last two
    /// are too narrow to chunk (their chunks would be small products, `smallGEMMMultiplyAdds`).
    @Test(arguments: [(128, 128), (12, 128), (16, 16)], [100, 320, 321, 700, 1067, 1547, 3203])
    func innerChunksMatchOneProduct(shape: (m: Int, n: Int), k: Int) {
        let (m, n) = shape
        let a = randomTensorValues(count: k * m, seed: 7)
        let b = randomTensorValues(count: k * n, seed: 8)
        let c0 = randomTensorValues(count: m * n, seed: 9)
        var expected = c0
        gemm(transA: true, transB: false, m: m, n: n, k: k, a: a, lda: m, b: b, ldb: n, beta: 1, c: &expected, ldc: n)
        let chunks = gemmInnerChunks(m: m, n: n, k: k)
        #expect(chunks.first?.lowerBound == 0 && chunks.last?.upperBound == k)
        if m == 128 {
            #expect(k < 640 || chunks.count > 1, "OpenBLAS's K blocking was not identified on this machine")
        } else {
            #expect(chunks == [0..<k])
        }
        #expect(zip(chunks, chunks.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound && !$0.isEmpty })
        var c = c0
        for rows in chunks {
            gemmTransposedAChunk(m: m, n: n, k: k, rows: rows, a: a, lda: m, b: b, ldb: n, c: &c, ldc: n)
        }
        #expect(c.indices.allSatisfy { c[$0].bitPattern == expected[$0].bitPattern })
    }
}

@Suite struct GEMMKernelChoiceTests {
    /// `MOE_GEMM` is unset, `auto` or `openblas`; anything else is an error naming it.
    @Test(arguments: [nil, "auto", "openblas", "OpenBLAS", "mkl"])
    func environmentValues(value: String?) {
        let environment = value.map { [GEMMKernel.environmentVariable: $0] } ?? [:]
        if value == nil || value == "auto" || value == "openblas" {
            #expect(throws: Never.self) { try GEMMKernel.validateEnvironment(environment) }
        } else {
            let error = #expect(throws: GEMMKernelError.self) { try GEMMKernel.validateEnvironment(environment) }
            #expect(error?.message.contains("MOE_GEMM=\(value!)") == true)
        }
    }
}
