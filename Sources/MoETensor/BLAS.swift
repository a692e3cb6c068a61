import COpenBLAS

/// Single-precision GEMM on row-major matrices through OpenBLAS:
/// `C = alpha * op(A) * op(B) + beta * C`, where `op(A)` is `[m, k]` and `op(B)` is `[k, n]`.
///
/// `lda`, `ldb`, `ldc` are the row strides of the matrices *as stored* (so a transposed
/// `A` stored as `[k, m]` has `lda >= m`). Strides let callers multiply slices in place,
/// e.g. one attention head inside a packed QKV buffer.
@inlinable
public func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Threads OpenBLAS may use for one GEMM.
public enum BLASThreads {
    /// Sets the OpenBLAS thread count (1 makes every GEMM single-threaded).
    public static func set(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }
    /// The OpenBLAS thread count in force.
    public static var current: Int { Int(openblas_get_num_threads()) }
}
