import MoETensor
import Synchronization

/// The experts' two-layer MLPs, `h = x·W1 + b1`, `a = GELU(h)`, `y = a·W2 + b2`, over rows
/// grouped by expert as `MoELayer` runs them: expert `j` owns rows `offsets[j]..<offsets[j + 1]`
/// and slice `j` of the stacked weights `[E, in, out]` and biases `[E, out]`. Experts without
/// rows are skipped.
///
/// Experts run concurrently, one per worker thread, each whole: its GEMMs single-threaded
/// (an expert's GEMM, K = 128 here, is too small for a split over threads to pay: every
/// thread packs the same weights and waits for the slowest) and its steps back to back, so
/// its hidden rows (0.5–2 MB) are still in L2/L3 when GELU and the next GEMM read them, with
/// one barrier per direction. Each expert writes only its own rows and weight slices, so
/// results do not depend on which thread ran it, and they are bit for bit those of running
/// the layers one after the other (`ExpertMLPTests`): a GEMM still covers its expert's rows
/// in one call (OpenBLAS's rounding depends on how C's rows are split, so they are not
/// blocked further) and GELU is element-wise.
enum GroupedLinear {
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
        var learningRows = 0
        forEachGroup(offsets) { j, _, n in if trainable?[j] ?? true { learningRows += n } }
        let rows = offsets.last ?? 0
        // Per layer: dX for every row, dW for the rows of learning experts, 2·rows·D·F each.
        let flops = 4 * Double((rows + (dw1 == nil ? 0 : learningRows)) * dim * f)
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

    /// Calls `body(j, start, rows)` for every expert `j` with rows on the worker threads, which
    /// claim experts largest first (rows are uneven: early in training most tokens pick the
    /// same few experts). Calls inside `body` run on the calling thread.
    private static func forEachGroupConcurrently(
        _ offsets: [Int], _ body: (_ j: Int, _ start: Int, _ rows: Int) -> Void
    ) {
        var groups: [Int] = []
        forEachGroup(offsets) { j, _, _ in groups.append(j) }
        let size = { (j: Int) in offsets[j + 1] - offsets[j] }
        groups.sort { size($0) != size($1) ? size($0) > size($1) : $0 < $1 }
        let next = Atomic<Int>(0)
        Parallel.forEach(count: min(Parallel.threads, groups.count)) { _ in
            while true {
                let g = next.add(1, ordering: .relaxed).oldValue
                guard g < groups.count else { return }
                let j = groups[g]
                body(j, offsets[j], size(j))
            }
        }
    }

    /// Calls `body(j, start, rows)` for every expert `j` with rows, in expert order.
    @inline(__always)
    private static func forEachGroup(_ offsets: [Int], _ body: (_ j: Int, _ start: Int, _ rows: Int) -> Void) {
        for j in 0..<(offsets.count - 1) where offsets[j + 1] > offsets[j] {
            body(j, offsets[j], offsets[j + 1] - offsets[j])
        }
    }
}
