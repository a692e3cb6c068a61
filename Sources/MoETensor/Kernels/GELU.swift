import CKernels

/// Exact (erf) GELU, element-wise.
///
///     forward:  y = 0.5·x·(1 + erf(x/√2))
///     backward: dx += dy · (0.5·(1 + erf(x/√2)) + x·φ(x)),  φ(x) = e^{−x²/2}/√(2π)
///
/// `count` is any flattened size (e.g. tokens·F for an expert hidden layer). erf uses the
/// vectorised approximation in VectorMath.swift (|error| ≤ 1.5e-7), not Glibc `erff`.
/// `path: .automatic` runs the same formulas as AVX2/FMA C kernels when the CPU has them
/// (CKernels/gelu_avx2.c: 8 lanes in one register and contracted multiply-adds, so results
/// differ from the portable kernel by rounding only); the forwards run sixteen lanes wide on
/// CPUs with AVX-512F (gelu_avx512.c), bit for bit as eight.

@usableFromInline let inverseSqrt2: Float = 0.707_106_781_186_547_5
@usableFromInline let inverseSqrt2Pi: Float = 0.398_942_280_401_432_7

/// `out[i] = gelu(inp[i])`; `out` is `inp` (in place) or does not overlap it.
public func geluForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int, path: KernelPath = .automatic
) {
    precondition(count >= 0, "gelu: negative count")
    precondition(inPlaceOrApart(out, inp, count), "gelu: out overlaps inp without being it")
    let (avx2, avx512) = (path.usesAVX2, path.usesAVX512)
    Profiler.measure(.gelu, "forward") {
        Parallel.forEachChunk(count: count, minimumPerThread: 32768) { range in
            let lo = range.lowerBound
            if avx512 { return moe_gelu_forward_avx512(out + lo, inp + lo, range.count) }
            if avx2 { return moe_gelu_forward_avx2(out + lo, inp + lo, range.count) }
            var i = range.lowerBound
            while i + simdWidth <= range.upperBound {
                storeVector(geluVector(loadVector(inp + i)), out + i)
                i += simdWidth
            }
            let tail = range.upperBound - i
            if tail > 0 {
                storePartialVector(geluVector(loadPartialVector(inp + i, count: tail)), out + i, count: tail)
            }
        }
    }
}

/// `dinp[i] += dout[i] · gelu'(inp[i])`.
public func geluBackward(
    dinp: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, dout: UnsafePointer<Float>,
    count: Int, path: KernelPath = .automatic
) {
    precondition(count >= 0, "gelu: negative count")
    let avx2 = path.usesAVX2
    Profiler.measure(.gelu, "backward") {
        Parallel.forEachChunk(count: count, minimumPerThread: 32768) { range in
            let lo = range.lowerBound
            if avx2 { return moe_gelu_backward_avx2(dinp + lo, inp + lo, dout + lo, range.count) }
            var i = range.lowerBound
            while i + simdWidth <= range.upperBound {
                let g = geluDerivativeVector(loadVector(inp + i))
                storeVector(loadVector(dinp + i) + loadVector(dout + i) * g, dinp + i)
                i += simdWidth
            }
            let tail = range.upperBound - i
            if tail > 0 {
                let g = geluDerivativeVector(loadPartialVector(inp + i, count: tail))
                let d =
                    loadPartialVector(UnsafePointer(dinp + i), count: tail)
                    + loadPartialVector(dout + i, count: tail) * g
                storePartialVector(d, dinp + i, count: tail)
            }
        }
    }
}

/// Each step loads a vector of `inp` before it stores that vector of `out`, so the two may
/// be the same memory; a partial overlap would read values already overwritten.
private func inPlaceOrApart(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ count: Int) -> Bool {
    let o = UnsafePointer(out)
    return o == inp || o + count <= inp || inp + count <= o
}

@inline(__always) @usableFromInline
func geluVector(_ x: SIMD8<Float>) -> SIMD8<Float> {
    0.5 * x * (1 + fastErf(x * inverseSqrt2))
}

@inline(__always) @usableFromInline
func geluDerivativeVector(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // erf's large-|x| branch already computes e^{−(x/√2)²} = e^{−x²/2}, φ up to 1/√(2π).
    let (erf, gaussian) = fastErfAndGaussian(x * inverseSqrt2)
    return 0.5 * (1 + erf) + x * gaussian * inverseSqrt2Pi
}

/// Training-time forward: `out[i] = gelu(inp[i])` and `derivative[i] = gelu'(inp[i])` in one
/// pass (erf and the Gaussian are computed once), so the backward pass is one multiply-add.
/// `out` is `inp` (in place) or does not overlap it; `derivative` overlaps neither.
public func geluForward(
    out: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>,
    inp: UnsafePointer<Float>, count: Int, path: KernelPath = .automatic
) {
    precondition(count >= 0, "gelu: negative count")
    precondition(inPlaceOrApart(out, inp, count), "gelu: out overlaps inp without being it")
    let (avx2, avx512) = (path.usesAVX2, path.usesAVX512)
    Profiler.measure(.gelu, "forward + derivative") {
        Parallel.forEachChunk(count: count, minimumPerThread: 32768) { range in
            let lo = range.lowerBound
            if avx512 { return moe_gelu_forward_derivative_avx512(out + lo, derivative + lo, inp + lo, range.count) }
            if avx2 { return moe_gelu_forward_derivative_avx2(out + lo, derivative + lo, inp + lo, range.count) }
            var i = range.lowerBound
            while i + simdWidth <= range.upperBound {
                let (y, g) = geluAndDerivativeVector(loadVector(inp + i))
                storeVector(y, out + i)
                storeVector(g, derivative + i)
                i += simdWidth
            }
            let tail = range.upperBound - i
            if tail > 0 {
                let (y, g) = geluAndDerivativeVector(loadPartialVector(inp + i, count: tail))
                storePartialVector(y, out + i, count: tail)
                storePartialVector(g, derivative + i, count: tail)
            }
        }
    }
}

/// `dinp[i] += dout[i] · derivative[i]`, with `derivative` saved by the training forward.
public func geluBackward(
    dinp: UnsafeMutablePointer<Float>, derivative: UnsafePointer<Float>,
    dout: UnsafePointer<Float>, count: Int
) {
    precondition(count >= 0, "gelu: negative count")
    Profiler.measure(.gelu, "backward (saved derivative)") {
        Parallel.forEachChunk(count: count, minimumPerThread: 65536) { range in
            var i = range.lowerBound
            while i + simdWidth <= range.upperBound {
                storeVector(loadVector(dinp + i) + loadVector(dout + i) * loadVector(derivative + i), dinp + i)
                i += simdWidth
            }
            while i < range.upperBound {
                dinp[i] += dout[i] * derivative[i]
                i += 1
            }
        }
    }
}

@inline(__always) @usableFromInline
func geluAndDerivativeVector(_ x: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
    let (erf, gaussian) = fastErfAndGaussian(x * inverseSqrt2)
    let cdf = 0.5 * (1 + erf)
    return (x * cdf, cdf + x * gaussian * inverseSqrt2Pi)
}
