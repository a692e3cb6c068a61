/// Fully connected layer.
///
///     forward:  y[M,O] = x[M,I] · W[I,O] + b[O]
///     backward: dx += dy · Wᵀ,  dW += xᵀ · dy,  db += Σ_rows dy
///
/// Shapes: M = `rows` (tokens, B·N or an expert's share of them), I = `inDim`, O = `outDim`.
/// The weight is stored `[in, out]` so both passes are plain row-major GEMMs.

/// `out[rows, outDim] = inp[rows, inDim] · weight[inDim, outDim] + bias[outDim]`.
public func linearForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, rows: Int, inDim: Int, outDim: Int
) {
    precondition(rows >= 0 && inDim > 0 && outDim > 0, "linear: bad shape")
    if rows == 0 { return }
    guard let bias else {
        Profiler.measure(.gemm, gemmLabel(rows, outDim, inDim, "x·W"), flops: gemmFLOPs(rows, outDim, inDim)) {
            gemm(
                transA: false, transB: false, m: rows, n: outDim, k: inDim, a: inp, lda: inDim, b: weight,
                ldb: outDim, c: out, ldc: outDim)
        }
        return
    }
    Profiler.measure(.gemm, gemmLabel(rows, outDim, inDim, "x·W + b"), flops: gemmFLOPs(rows, outDim, inDim)) {
        gemmByRowBlocks(
            transB: false, m: rows, n: outDim, k: inDim, a: inp, lda: inDim, b: weight, ldb: outDim, bias: bias,
            c: out, ldc: outDim)
    }
}

/// Accumulates `dinp += dout · weightᵀ`, `dweight += inpᵀ · dout`, `dbias += Σ_rows dout`;
/// pass nil for any gradient that is not needed (frozen weights, first layer input).
public func linearBackward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?,
    dbias: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
    inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows: Int, inDim: Int, outDim: Int
) {
    precondition(rows >= 0 && inDim > 0 && outDim > 0, "linear: bad shape")
    if rows == 0 { return }
    if let dinp {
        Profiler.measure(.gemm, gemmLabel(rows, inDim, outDim, "dy·Wᵀ"), flops: gemmFLOPs(rows, inDim, outDim)) {
            gemm(
                transA: false, transB: true, m: rows, n: inDim, k: outDim,
                alpha: 1, a: dout, lda: outDim, b: weight, ldb: outDim,
                beta: 1, c: dinp, ldc: inDim)
        }
    }
    if let dweight {
        Profiler.measure(.gemm, gemmLabel(inDim, outDim, rows, "xᵀ·dy"), flops: gemmFLOPs(inDim, outDim, rows)) {
            gemm(
                transA: true, transB: false, m: inDim, n: outDim, k: rows,
                alpha: 1, a: inp, lda: inDim, b: dout, ldb: outDim,
                beta: 1, c: dweight, ldc: outDim)
        }
    }
    if let dbias {
        Profiler.measure(.bias, "Σ rows") { biasBackward(dbias: dbias, dout: dout, rows: rows, cols: outDim) }
    }
}

/// The profiler's row for a GEMM: `M×N×K role` (C is M×N, the inner dimension K).
func gemmLabel(_ m: Int, _ n: Int, _ k: Int, _ role: String) -> String { "\(m)×\(n)×\(k) \(role)" }

/// Matrix FLOPs of an M×N×K product: 2·M·N·K.
func gemmFLOPs(_ m: Int, _ n: Int, _ k: Int) -> Double { 2 * Double(m) * Double(n) * Double(k) }
