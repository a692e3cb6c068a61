import COpenBLAS

/// Single-precision GEMM on row-major matrices through OpenBLAS:
/// `C = alpha * op(A) * op(B) + beta * C`, where `op(A)` is `[m, k]` and `op(B)` is `[k, n]`.
///
/// `lda`, `ldb`, `ldc` are the row strides of the matrices *as stored* (so a transposed
/// `A` stored as `[k, m]` has `lda >= m`). Strides let callers multiply slices in place,
/// e.g. one attention head inside a packed QKV buffer.
///
/// Large products are split into `Parallel.threads` blocks of rows of C (or columns, when C
/// has few rows), each multiplied by single-threaded OpenBLAS on its own worker. OpenBLAS's
/// own thread pool stays off: its workers spin in `sched_yield` between calls and steal the
/// cores the element-wise kernels need (measured: ~20 % of a bench-tiny step).
@inlinable
public func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    /// One `cblas_sgemm` call on the calling thread: rows × cols of C from the given A, B and C.
    func serial(rows: Int, cols: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>)
    {
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(rows), Int32(cols), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    let workers = Parallel.threads
    if workers <= 1 || m * n * k < gemmSplitThreshold {
        serial(rows: m, cols: n, a: a, b: b, c: c)
        return
    }
    if m >= n || m >= 64 * workers {
        // Split rows of C: row i of op(A) starts at a + i*lda (no trans) or a + i (trans).
        Parallel.forEachChunk(count: m, minimumPerThread: 1) { rows in
            let aStart = transA ? a + rows.lowerBound : a + rows.lowerBound * lda
            serial(rows: rows.count, cols: n, a: aStart, b: b, c: c + rows.lowerBound * ldc)
        }
    } else {
        // Split columns of C: column j of op(B) starts at b + j (no trans) or b + j*ldb (trans).
        Parallel.forEachChunk(count: n, minimumPerThread: 1) { cols in
            let bStart = transB ? b + cols.lowerBound * ldb : b + cols.lowerBound
            serial(rows: m, cols: cols.count, a: a, b: bStart, c: c + cols.lowerBound)
        }
    }
}

/// Products smaller than this many multiply-adds run on the calling thread.
@usableFromInline let gemmSplitThreshold = 1 << 20

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
