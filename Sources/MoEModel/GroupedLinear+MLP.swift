import MoETensor

/// The experts' two-layer MLPs, `h = x·W1 + b1`, `a = GELU(h)`, `y = a·W2 + b2`, over rows
/// grouped by expert (`GroupedLinear`'s layout), each expert whole on one worker thread.
///
/// Layer by layer (a GEMM for every expert, GELU over all T·K·F values, a GEMM again) each
/// step is a pass over T·K·F floats (26 MB at bench-tiny's inference batch) ending in a
/// barrier. Here an expert runs its steps back to back, so its hidden rows (0.5–2 MB) are
/// still in L2/L3 when GELU and the next GEMM read them, and a layer has one barrier per
/// direction. Results are bit for bit the layer-by-layer ones: each GEMM still covers its
/// expert's rows in one call on one thread (OpenBLAS's rounding depends on how C's rows are
/// split, so they are not blocked further) and GELU is element-wise.
extension GroupedLinear {
    /// Writes `hidden` (h), `activation` (a), `derivative` (GELU′(h), when given: training)
    /// and `out` (y) for every grouped row. x [T·K, D], h, a [T·K, F], y [T·K, D].
    static func forwardMLP(
        out: UnsafeMutablePointer<Float>, hidden: UnsafeMutablePointer<Float>,
        activation: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>?,
        inp: UnsafePointer<Float>, w1: UnsafePointer<Float>, b1: UnsafePointer<Float>,
        w2: UnsafePointer<Float>, b2: UnsafePointer<Float>, dim: Int, hiddenDim f: Int, offsets: [Int]
    ) {
        let rows = offsets.last ?? 0
        Profiler.measure(
            .gemm, "experts Σ\(rows)×\(f)×\(dim) MLP forward (2 GEMMs + GELU)",
            flops: 4 * Double(rows * dim * f), opaque: true
        ) {
            forEachGroupConcurrently(offsets) { j, start, n in
                let (h, a) = (hidden + start * f, activation + start * f)
                linearForward(
                    out: h, inp: inp + start * dim, weight: w1 + j * dim * f, bias: b1 + j * f, rows: n, inDim: dim,
                    outDim: f)
                if let derivative {
                    geluForward(out: a, derivative: derivative + start * f, inp: h, count: n * f)
                } else {
                    geluForward(out: a, inp: h, count: n * f)
                }
                linearForward(
                    out: out + start * dim, inp: a, weight: w2 + j * f * dim, bias: b2 + j * dim, rows: n, inDim: f,
                    outDim: dim)
            }
        }
    }

    /// Given `dout` = ∂L/∂y, accumulates `dActivation` (∂L/∂a), `dHidden` (∂L/∂h) and `dinp`
    /// (∂L/∂x) of every grouped row (the caller zeroes them), and the weight and bias
    /// gradients of the experts whose `trainable` entry is true (all when nil). `derivative`
    /// is the forward's GELU′(h).
    static func backwardMLP(
        dinp: UnsafeMutablePointer<Float>, dHidden: UnsafeMutablePointer<Float>,
        dActivation: UnsafeMutablePointer<Float>, dw1: UnsafeMutablePointer<Float>?,
        db1: UnsafeMutablePointer<Float>?, dw2: UnsafeMutablePointer<Float>?, db2: UnsafeMutablePointer<Float>?,
        dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, activation: UnsafePointer<Float>,
        derivative: UnsafePointer<Float>, w1: UnsafePointer<Float>, w2: UnsafePointer<Float>, dim: Int,
        hiddenDim f: Int, offsets: [Int], trainable: [Bool]?
    ) {
        let rows = offsets.last ?? 0
        let flops = 2 * backwardFLOPs(offsets, trainable: trainable, weightGradients: dw1 != nil, dim * f)
        Profiler.measure(
            .gemm, "experts Σ\(rows)×\(f)×\(dim) MLP backward (4 GEMMs + GELU)", flops: flops, opaque: true
        ) {
            forEachGroupConcurrently(offsets) { j, start, n in
                let learns = trainable?[j] ?? true
                let (da, dh) = (dActivation + start * f, dHidden + start * f)
                linearBackward(
                    dinp: da, dweight: learns ? dw2.map { $0 + j * f * dim } : nil,
                    dbias: learns ? db2.map { $0 + j * dim } : nil, dout: dout + start * dim,
                    inp: activation + start * f, weight: w2 + j * f * dim, rows: n, inDim: f, outDim: dim)
                geluBackward(dinp: dh, derivative: derivative + start * f, dout: da, count: n * f)
                linearBackward(
                    dinp: dinp + start * dim, dweight: learns ? dw1.map { $0 + j * dim * f } : nil,
                    dbias: learns ? db1.map { $0 + j * f } : nil, dout: dh, inp: inp + start * dim,
                    weight: w1 + j * dim * f, rows: n, inDim: dim, outDim: f)
            }
        }
    }
}
