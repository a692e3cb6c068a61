import CKernels

/// Layer normalisation over the last dimension.
///
///     forward:  μ = mean(x),  σ⁻¹ = 1/√(var(x) + eps),  x̂ = (x − μ)·σ⁻¹,  y = x̂ ⊙ w + b
///     backward: g = dy ⊙ w
///               dx += σ⁻¹ · (g − mean(g) − x̂ · mean(g ⊙ x̂))
///               dw += Σ_rows dy ⊙ x̂,   db += Σ_rows dy
///
/// Shapes: R = `rows` (B·N tokens), D = `dim`. `mean`/`rstd` are [R], saved for backward.
/// `path: .automatic` runs the same operations in AVX2 on CPUs that have it (one register per
/// SIMD8, CKernels/layernorm_avx2.c), bit for bit.

/// Normalises each row of `inp[rows, dim]`; writes `out` and the per-row statistics.
public func layerNormForward(
    out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
    rstd: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    rows: Int, dim: Int, eps: Float = 1e-6, path: KernelPath = .automatic
) {
    precondition(rows >= 0 && dim > 0, "layerNorm: bad shape")
    let avx2 = path.usesAVX2
    Profiler.measure(.layerNorm, "forward") {
        Parallel.forEachChunk(count: rows, minimumPerThread: max(1, 16384 / dim)) { range in
            if avx2 {
                let r = range.lowerBound
                return moe_layernorm_forward_avx2(
                    out + r * dim, mean + r, rstd + r, inp + r * dim, weight, bias, range.count, dim, eps)
            }
            for r in range {
                let x = inp + r * dim
                let y = out + r * dim
                let m = vectorSum(x, count: dim) / Float(dim)
                // Two-pass variance: no cancellation for rows with a large mean.
                var acc = SIMD8<Float>()
                var i = 0
                while i + simdWidth <= dim {
                    let d = loadVector(x + i) - m
                    acc += d * d
                    i += simdWidth
                }
                var v = acc.sum()
                while i < dim {
                    let d = x[i] - m
                    v += d * d
                    i += 1
                }
                let s = 1 / (v / Float(dim) + eps).squareRoot()
                i = 0
                while i + simdWidth <= dim {
                    let n = (loadVector(x + i) - m) * s
                    storeVector(n * loadVector(weight + i) + loadVector(bias + i), y + i)
                    i += simdWidth
                }
                while i < dim {
                    y[i] = (x[i] - m) * s * weight[i] + bias[i]
                    i += 1
                }
                mean[r] = m
                rstd[r] = s
            }
        }
    }
}

/// Accumulates the input, weight and bias gradients of `layerNormForward`.
/// `dweight`/`dbias` may be nil (frozen norm).
public func layerNormBackward(
    dinp: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?,
    dbias: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
    inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, dim: Int,
    path: KernelPath = .automatic
) {
    precondition(rows >= 0 && dim > 0, "layerNorm: bad shape")
    if rows == 0 { return }
    let avx2 = path.usesAVX2
    Profiler.measure(.layerNorm, "backward") {
        // Rows are split into fixed chunks; each chunk sums its weight/bias gradient into its own
        // scratch row (no races), and the chunks are added in order (deterministic).
        let chunks = min(Parallel.threads, max(1, rows * dim / 16384))
        let rowsPerChunk = (rows + chunks - 1) / chunks
        let needsParameterGrads = dweight != nil || dbias != nil
        var scratch = [Float](repeating: 0, count: needsParameterGrads ? 2 * chunks * dim : 0)
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            // An empty array still has a (shared) base address on Linux: never write through it.
            let scratch = needsParameterGrads ? scratchBuffer.baseAddress : nil
            Parallel.forEach(count: chunks) { chunk in
                let dw = scratch.map { $0 + 2 * chunk * dim }
                let db = dw.map { $0 + dim }
                let lo = chunk * rowsPerChunk
                let hi = min(rows, lo + rowsPerChunk)
                if lo >= hi { return }
                if avx2 {
                    return moe_layernorm_backward_avx2(
                        dinp + lo * dim, dw, db, dout + lo * dim, inp + lo * dim, weight, mean + lo, rstd + lo, hi - lo,
                        dim)
                }
                for r in lo..<hi {
                    layerNormBackwardRow(
                        dinp: dinp + r * dim, dweight: dw, dbias: db, dout: dout + r * dim,
                        inp: inp + r * dim, weight: weight, mean: mean[r], rstd: rstd[r], dim: dim)
                }
            }
            guard let scratch else { return }
            for chunk in 0..<chunks {
                let dw = scratch + 2 * chunk * dim
                if let dweight { for i in 0..<dim { dweight[i] += dw[i] } }
                if let dbias { for i in 0..<dim { dbias[i] += dw[dim + i] } }
            }
        }
    }
}

@inline(__always)
private func layerNormBackwardRow(
    dinp: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?,
    dbias: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
    inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, mean m: Float, rstd s: Float,
    dim: Int
) {
    // Pass 1: mean(g) and mean(g ⊙ x̂), g = dy ⊙ w.
    var gSum = SIMD8<Float>()
    var gnSum = SIMD8<Float>()
    var i = 0
    while i + simdWidth <= dim {
        let g = loadVector(dout + i) * loadVector(weight + i)
        gSum += g
        gnSum += g * ((loadVector(inp + i) - m) * s)
        i += simdWidth
    }
    var gMean = gSum.sum()
    var gnMean = gnSum.sum()
    while i < dim {
        let g = dout[i] * weight[i]
        gMean += g
        gnMean += g * ((inp[i] - m) * s)
        i += 1
    }
    gMean /= Float(dim)
    gnMean /= Float(dim)
    // Pass 2: the gradients.
    i = 0
    while i + simdWidth <= dim {
        let dy = loadVector(dout + i)
        let n = (loadVector(inp + i) - m) * s
        let g = dy * loadVector(weight + i)
        storeVector(loadVector(dinp + i) + s * (g - gMean - n * gnMean), dinp + i)
        if let dweight { storeVector(loadVector(dweight + i) + dy * n, dweight + i) }
        if let dbias { storeVector(loadVector(dbias + i) + dy, dbias + i) }
        i += simdWidth
    }
    while i < dim {
        let dy = dout[i]
        let n = (inp[i] - m) * s
        dinp[i] += s * (dy * weight[i] - gMean - n * gnMean)
        dweight?[i] += dy * n
        dbias?[i] += dy
        i += 1
    }
}
