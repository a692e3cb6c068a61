/// Weight gradients `C += Aᵀ·B` summed over a few hundred rows at a time, bit for bit as one
/// product over all the rows.
///
/// Both GEMM kernels (`GEMMKernel`) already sum such a product in chunks of the inner
/// dimension k: they multiply `Q` rows of A and B at a time (OpenBLAS's `GEMM_Q`) and add each
/// partial product into C, except that a remainder between `Q` and `2Q` is cut into two
/// near-halves rounded up to an unroll `U`:
///
///     chunk = rest ≥ 2Q ? Q : rest > Q ? ⌈(rest / 2) / U⌉·U : rest       (rest: rows left)
///
/// Calling it once per chunk, in order, with beta 1, therefore performs the same additions.
/// The experts' backward does this while each chunk's rows are still in cache instead of
/// reading all of an expert's rows back from memory (`GroupedLinear.backwardMLP`). The
/// AVX-512 kernel's `Q` and `U` are constants; OpenBLAS's depend on the CPU it picked its
/// kernels for, so they are found once per process by comparing chunked products against
/// single calls (`GEMMTests` checks the result).

/// The consecutive row ranges of an `m×n`, `k`-row product `C += Aᵀ·B` that
/// `gemmTransposedAChunk` can add one after the other, bit for bit as `gemm(transA: true, …)`
/// over all `k` rows: the GEMM kernel's own chunks, or all `k` rows at once where OpenBLAS's
/// could not be identified or where a chunk's calls would fall under `smallGEMMMultiplyAdds`.
public func gemmInnerChunks(m: Int, n: Int, k: Int) -> [Range<Int>] {
    guard k > 0 else { return [] }
    guard let (q, unroll) = innerBlocking else { return [0..<k] }
    let ranges = chunks(k: k, q: q, unroll: unroll)
    let smallestPart = gemmParts(m: m, n: n, k: k).map { $0.rows.count * $0.columns.count }.min() ?? 0
    let shortest = ranges.map(\.count).min() ?? 0
    return ranges.count > 1 && smallestPart * shortest <= smallGEMMMultiplyAdds ? [0..<k] : ranges
}

/// `C += A[rows]ᵀ·B[rows]` on the calling thread, for A `[k, m]` and B `[k, n]` (row strides
/// `lda`, `ldb`): C's rows or columns are cut as `gemm` cuts the whole `k`-row product, so
/// over `gemmInnerChunks(m:n:k:)` in order C ends as that product leaves it.
public func gemmTransposedAChunk(
    m: Int, n: Int, k: Int, rows: Range<Int>, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
    ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    let (a, b) = (a + rows.lowerBound * lda, b + rows.lowerBound * ldb)
    for part in gemmParts(m: m, n: n, k: k) {
        serialGEMM(
            transA: true, transB: false, m: part.rows.count, n: part.columns.count, k: rows.count,
            a: a + part.rows.lowerBound, lda: lda, b: b + part.columns.lowerBound, ldb: ldb, beta: 1,
            c: c + part.rows.lowerBound * ldc + part.columns.lowerBound, ldc: ldc)
    }
}

private func chunks(k: Int, q: Int, unroll: Int) -> [Range<Int>] {
    var (ranges, start) = ([Range<Int>](), 0)
    while start < k {
        let rest = k - start
        let length = rest >= 2 * q ? q : rest > q ? (rest / 2 + unroll - 1) / unroll * unroll : rest
        ranges.append(start..<start + length)
        start += length
    }
    return ranges
}

/// The AVX-512 kernel's `Q` and unroll, or OpenBLAS's on this machine, or nil.
private let innerBlocking: (q: Int, unroll: Int)? =
    GEMMKernel.current == .avx512 ? GEMMKernel.innerBlock : probeInnerBlocking()

/// A chunk length q is OpenBLAS's first one for k ≥ 2Q rows when q rows, then the other
/// k − q in one call, give the single call's C (the rest is chunked as the tail of the whole
/// would be); the smallest such q is Q. The unroll is the one whose chunks reproduce single
/// calls over row counts of every kind, remainders between Q and 2Q among them.
private func probeInnerBlocking() -> (q: Int, unroll: Int)? {
    // 128 columns keep every chunk's product above `smallGEMMMultiplyAdds` for Q ≥ 128.
    let (width, k) = (128, 2304)
    var state: UInt32 = 12345
    let values = (0..<2 * k * width).map { _ in
        state = state &* 1_664_525 &+ 1_013_904_223
        return Float(state >> 8) / Float(1 << 24) - 0.5
    }
    func product(_ ranges: [Range<Int>]) -> [Float] {
        var c = [Float](repeating: 0, count: width * width)
        values.withUnsafeBufferPointer { values in
            let (a, b) = (values.baseAddress!, values.baseAddress! + k * width)
            for rows in ranges {
                serialGEMM(
                    transA: true, transB: false, m: width, n: width, k: rows.count, a: a + rows.lowerBound * width,
                    lda: width, b: b + rows.lowerBound * width, ldb: width, beta: 1, c: &c, ldc: width)
            }
        }
        return c
    }
    let whole = product([0..<k])
    guard let q = stride(from: 8, through: k / 2, by: 8).first(where: { product([0..<$0, $0..<k]) == whole })
    else { return nil }
    // Remainders between Q and 2Q; 128·t + 2 halves to 64·t + 1, which each unroll up to 64
    // rounds differently.
    let distinct = 128 * (q / 128 + 1) + 2
    let checks = [q / 2, q, q + 1, q + q / 2 + 3, 2 * q - 1, 2 * q, 2 * q + 5, 3 * q + q / 3, k, distinct]
        .filter { $0 <= k && ($0 != distinct || distinct < 2 * q) }
    let exact = checks.map { product([0..<$0]) }
    guard
        let unroll = [1, 2, 4, 8, 16, 32, 64].first(where: { unroll in
            zip(checks, exact).allSatisfy { product(chunks(k: $0, q: q, unroll: unroll)) == $1 }
        })
    else { return nil }
    return (q, unroll)
}
