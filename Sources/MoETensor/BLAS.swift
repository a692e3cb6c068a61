import CKernels
import COpenBLAS

/// Single-precision GEMM on row-major matrices, on moe's AVX-512 kernel or OpenBLAS
/// (`GEMMKernel`): `C = alpha * op(A) * op(B) + beta * C`, where `op(A)` is `[m, k]` and
/// `op(B)` is `[k, n]`; with a `bias` (`[n]`), `C = alpha * op(A) * op(B) + bias` on every
/// row (beta unused), bit for bit C filled with the bias and beta 1. With a `factor` (`[m, n]`,
/// rows `ldc` apart), C is then multiplied by it element-wise, bit for bit a second pass
/// `C[i, j] = 0 + C[i, j] * factor[i, j]` (a gradient through an element-wise derivative).
///
/// `lda`, `ldb`, `ldc` are the row strides of the matrices *as stored* (so a transposed
/// `A` stored as `[k, m]` has `lda >= m`). Strides let callers multiply slices in place,
/// e.g. one attention head inside a packed QKV buffer.
///
/// Large products are split into `Parallel.threads` blocks of rows of C (or columns, when C
/// has few rows), each multiplied by one single-threaded call on its own worker. OpenBLAS's
/// own thread pool stays off: its workers spin in `sched_yield` between calls and steal the
/// cores the element-wise kernels need (measured: ~20 % of a bench-tiny step).
@inlinable
public func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, bias: UnsafePointer<Float>? = nil, factor: UnsafePointer<Float>? = nil,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    func multiply(_ part: GEMMPart) {
        let (rows, cols) = (part.rows, part.columns)
        // Row i of op(A) starts at a + i·lda (no trans) or a + i; column j of op(B) at b + j
        // (no trans) or b + j·ldb.
        serialGEMM(
            transA: transA, transB: transB, m: rows.count, n: cols.count, k: k, alpha: alpha,
            a: transA ? a + rows.lowerBound : a + rows.lowerBound * lda, lda: lda,
            b: transB ? b + cols.lowerBound * ldb : b + cols.lowerBound, ldb: ldb, beta: beta,
            bias: bias.map { $0 + cols.lowerBound },
            factor: factor.map { $0 + rows.lowerBound * ldc + cols.lowerBound },
            c: c + rows.lowerBound * ldc + cols.lowerBound, ldc: ldc)
    }
    let parts = gemmParts(m: m, n: n, k: k)
    guard parts.count > 1 else { return multiply(parts[0]) }
    Parallel.forEach(count: parts.count) { multiply(parts[$0]) }
}

/// Rows and columns of C that `gemm` multiplies with one single-threaded call.
@usableFromInline typealias GEMMPart = (rows: Range<Int>, columns: Range<Int>)

/// How `gemm` cuts an `m×n×k` product: C whole, its rows in `Parallel.chunks`, or its columns.
@usableFromInline func gemmParts(m: Int, n: Int, k: Int) -> [GEMMPart] {
    switch gemmSplit(m: m, n: n, k: k) {
    case .serial: return [(0..<m, 0..<n)]
    case .rows: return Parallel.chunks(count: m, minimumPerThread: 1).map { ($0, 0..<n) }
    case .columns: return Parallel.chunks(count: n, minimumPerThread: 1).map { (0..<m, $0) }
    }
}

/// `gemm` as one call on the calling thread, for callers that split the work themselves
/// (into `gemmRowBlocks`, say). Every product of `moe` passes through here: to moe's
/// AVX-512 kernel, which adds a bias and multiplies by a factor as it stores C, or to
/// `cblas_sgemm` (`GEMMKernel.current`) after C is filled with the bias, then a pass with the
/// factor. The first call turns OpenBLAS's own threads off (`BLASThreads`).
public func serialGEMM(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float = 0, bias: UnsafePointer<Float>? = nil,
    factor: UnsafePointer<Float>? = nil, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    // -1 only when its packing workspace cannot be allocated: OpenBLAS then multiplies (and
    // rounds) this product, rather than a trap.
    if GEMMKernel.current == .avx512,
        moe_sgemm_avx512(
            transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, bias, factor, c, ldc) == 0
    {
        return
    }
    _ = openBLASOnOneThread
    if let bias { for r in 0..<m { (c + r * ldc).update(from: bias, count: n) } }
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n),
        Int32(k), alpha, a, Int32(lda), b, Int32(ldb), bias == nil ? beta : 1, c, Int32(ldc))
    if let factor {
        for r in 0..<m { multiplyRow(c + r * ldc, by: factor + r * ldc, count: n) }
    }
}

/// `row[j] = 0 + row[j] · factor[j]`: the kernel's factor, as a pass.
private func multiplyRow(_ row: UnsafeMutablePointer<Float>, by factor: UnsafePointer<Float>, count: Int) {
    var j = 0
    while j + simdWidth <= count {
        storeVector(0 + loadVector(row + j) * loadVector(factor + j), row + j)
        j += simdWidth
    }
    while j < count {
        row[j] = 0 + row[j] * factor[j]
        j += 1
    }
}

/// How `gemm` spreads a product over the worker threads.
@usableFromInline enum GEMMSplit { case serial, rows, columns }

/// Products smaller than 2²⁰ multiply-adds run on the calling thread; others split the rows
/// of C, or its columns when C has few rows. Every thread packs all the B its part reads, so
/// the AVX-512 kernel, whose bits do not depend on the cut, splits the columns of any C no
/// taller than wide: weight gradients (128 × 384 over 3,200 rows) then pack half of B each.
@usableFromInline func gemmSplit(m: Int, n: Int, k: Int) -> GEMMSplit {
    let workers = Parallel.threads
    if workers <= 1 || m * n * k < 1 << 20 { return .serial }
    if GEMMKernel.current == .avx512 { return m > n ? .rows : .columns }
    return m >= n || m >= 64 * workers ? .rows : .columns
}

/// Rows of C per block of `gemmRowBlocks`. OpenBLAS rounds a row of C by its place in the
/// kernel's register tiles, counted from the call's first row (12 rows on Zen 3), so
/// single-threaded products over blocks starting at multiples of the tile height give C bit
/// for bit; 192 = 3 · 64 is a multiple of 12 and of every power-of-two height up to 64, and
/// `GEMMTests` checks it on the machine at hand. The AVX-512 kernel rounds every row alike
/// and packs B once per call, so it takes 384 (2–3 % off a default-recipe step; CPUs with
/// AVX-512 have ≥ 1 MB of L2 for the larger blocks' rows).
public let gemmRowBlock = GEMMKernel.current == .avx512 ? 384 : 192

/// Products of at most this many multiply-adds may run on other kernels than larger ones, which
/// round differently: OpenBLAS's AVX-512 kernel sets (SkylakeX, Cooperlake) send them to their
/// small-matrix kernels (`GEMM_SMALL_MATRIX_PERMIT`, 100³ in 0.3.21). A product cut into
/// smaller calls keeps the whole call's bits only if no part falls under this size when the
/// whole does not.
public let smallGEMMMultiplyAdds = 1_000_000

/// Blocks of an `m×n×k` product's C such that multiplying them one at a time, in any order
/// and on any thread, gives C bit for bit as `gemm` does: each of `gemm`'s row chunks cut at
/// multiples of `gemmRowBlock` from its start (of a multiple, for products so narrow that
/// 192 rows would fall under `smallGEMMMultiplyAdds`), a short last block joined to the one
/// before. Nil when `gemm` splits C's columns instead.
public func gemmRowBlocks(m: Int, n: Int, k: Int) -> [Range<Int>]? {
    let fewest = smallGEMMMultiplyAdds / max(1, n * k) + 1
    let size = (fewest + gemmRowBlock - 1) / gemmRowBlock * gemmRowBlock
    func blocks(_ rows: Range<Int>) -> [Range<Int>] {
        var starts = Array(stride(from: rows.lowerBound, to: rows.upperBound, by: size))
        if starts.count > 1, rows.upperBound - starts[starts.count - 1] < fewest { starts.removeLast() }
        return zip(starts, starts.dropFirst() + [rows.upperBound]).map { $0..<$1 }
    }
    switch gemmSplit(m: m, n: n, k: k) {
    case .serial: return blocks(0..<m)
    case .rows: return Parallel.chunks(count: m, minimumPerThread: 1).flatMap(blocks)
    case .columns: return nil
    }
}

/// `C = op(A)·op(B) + bias` on every row (A not transposed), multiplied in the blocks of
/// `gemmRowBlocks`, so that where OpenBLAS needs C filled with the bias first, each block is
/// filled just before it is multiplied, on the same thread, and is still in L2 when the
/// product reads it. C is bit for bit `gemm`'s.
public func gemmByRowBlocks(
    transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    guard let blocks = gemmRowBlocks(m: m, n: n, k: k) else {
        return gemm(
            transA: false, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, bias: bias, c: c,
            ldc: ldc)
    }
    func multiply(_ block: Range<Int>) {
        serialGEMM(
            transA: false, transB: transB, m: block.count, n: n, k: k, a: a + block.lowerBound * lda, lda: lda, b: b,
            ldb: ldb, bias: bias, c: c + block.lowerBound * ldc, ldc: ldc)
    }
    if gemmSplit(m: m, n: n, k: k) == .serial {
        blocks.forEach(multiply)
    } else {
        Parallel.forEachChunk(count: blocks.count, minimumPerThread: 1) { range in blocks[range].forEach(multiply) }
    }
}

/// OpenBLAS threads off, once per process: `gemm` threads products itself, and its row blocks
/// round as one call only when every `cblas_sgemm` runs on one thread.
private let openBLASOnOneThread: Void = BLASThreads.set(1)

/// Threads OpenBLAS may use for one GEMM. `moe` keeps this at 1 and parallelises GEMMs
/// itself (see `gemm`).
public enum BLASThreads {
    /// Sets the OpenBLAS thread count (1 makes every `cblas_sgemm` single-threaded, and
    /// stops OpenBLAS's idle workers, which would otherwise spin on a core for a while).
    public static func set(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
        if count <= 1 { _ = blas_thread_shutdown_() }
    }
    /// The OpenBLAS thread count in force.
    public static var current: Int { Int(openblas_get_num_threads()) }
}
