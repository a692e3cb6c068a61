import CKernels

/// Row-wise softmax.
///
///     forward:  p[r,c] = e^{x[r,c] − max_r} / Σ_c e^{x[r,c] − max_r}
///     backward: dx += p ⊙ (dp − Σ_c dp ⊙ p)
///
/// Shapes: R = `rows`, C = `cols` (e.g. R = B·H·N attention rows over C = N keys, or
/// B·N router rows over C = E experts). Entries may be −∞ (masked; probability exactly 0)
/// as long as each row has at least one finite entry.

/// `out[r, :] = softmax(inp[r, :])`. `path: .automatic` runs `moe_softmax_rows_avx2` on CPUs
/// with AVX2: the same operations eight lanes wide, bit for bit.
public func softmaxForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, rows: Int, cols: Int,
    path: KernelPath = .automatic
) {
    precondition(rows >= 0 && cols > 0, "softmax: bad shape")
    let avx2 = path.usesAVX2
    Profiler.measure(.softmax, "rows \(rows)×\(cols) forward") {
        Parallel.forEachChunk(count: rows, minimumPerThread: max(1, 8192 / cols)) { range in
            let first = range.lowerBound
            if avx2 { return moe_softmax_rows_avx2(out + first * cols, inp + first * cols, range.count, cols) }
            for r in range { softmaxRow(out: out + r * cols, inp: inp + r * cols, cols: cols) }
        }
    }
}

/// `dinp += out ⊙ (dout − Σ_c dout ⊙ out)` per row.
public func softmaxBackward(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, out: UnsafePointer<Float>,
    rows: Int, cols: Int
) {
    precondition(rows >= 0 && cols > 0, "softmax: bad shape")
    Profiler.measure(.softmax, "rows \(rows)×\(cols) backward") {
        Parallel.forEachChunk(count: rows, minimumPerThread: max(1, 8192 / cols)) { range in
            for r in range {
                softmaxBackwardRow(
                    dinp: dinp + r * cols, dout: dout + r * cols, out: out + r * cols, cols: cols)
            }
        }
    }
}

/// Softmax of one row; `out` may equal `inp` (attention normalises its scores in place).
/// Returns the row's max and Σ e^{x − max}: its log-sum-exp is max + log(sum), which only the
/// cross-entropy takes (a `logf` per row the router and attention rows do not pay).
@inline(__always) @discardableResult
func softmaxRow(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, cols: Int
) -> (max: Float, sum: Float) {
    let m = vectorMax(inp, count: cols)
    guard m > -.infinity, m.isFinite else {
        // NaN/Inf scores (a diverged model) or a fully masked row: propagate NaN so the loss
        // turns NaN and the trainer stops cleanly, instead of trapping here.
        out.update(repeating: .nan, count: cols)
        return (.nan, .nan)
    }
    var acc = SIMD8<Float>()
    var i = 0
    while i + simdWidth <= cols {
        let e = fastExp(loadVector(inp + i) - m)
        storeVector(e, out + i)
        acc += e
        i += simdWidth
    }
    let tail = cols - i
    if tail > 0 {
        // Padding lanes are −∞ so they contribute exactly 0 to the sum.
        let e = fastExp(loadPartialVector(inp + i, count: tail, fill: -.infinity) - m)
        storePartialVector(e, out + i, count: tail)
        acc += e
    }
    let sum = acc.sum()
    let inverse = 1 / sum
    i = 0
    while i + simdWidth <= cols {
        storeVector(loadVector(out + i) * inverse, out + i)
        i += simdWidth
    }
    while i < cols {
        out[i] *= inverse
        i += 1
    }
    return (m, sum)
}

/// `dinp += out ⊙ (dout − Σ dout ⊙ out)` for one row; `dinp` must not alias `dout`
/// (`softmaxBackwardRowInPlace` is the in-place form).
@inline(__always)
func softmaxBackwardRow(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, out: UnsafePointer<Float>,
    cols: Int
) {
    let dot = vectorDot(dout, out, count: cols)
    var i = 0
    while i + simdWidth <= cols {
        let p = loadVector(out + i)
        storeVector(loadVector(dinp + i) + p * (loadVector(dout + i) - dot), dinp + i)
        i += simdWidth
    }
    while i < cols {
        dinp[i] += out[i] * (dout[i] - dot)
        i += 1
    }
}

/// Overwrites `grad` (holding dL/dp on entry) with dL/dx = p ⊙ (grad − Σ grad ⊙ p).
@inline(__always)
func softmaxBackwardRowInPlace(grad: UnsafeMutablePointer<Float>, out: UnsafePointer<Float>, cols: Int) {
    let dot = vectorDot(UnsafePointer(grad), out, count: cols)
    var i = 0
    while i + simdWidth <= cols {
        storeVector(loadVector(out + i) * (loadVector(UnsafePointer(grad + i)) - dot), grad + i)
        i += simdWidth
    }
    while i < cols {
        grad[i] = out[i] * (grad[i] - dot)
        i += 1
    }
}
