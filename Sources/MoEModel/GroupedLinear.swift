import MoETensor
import Synchronization

/// One linear per expert over rows grouped by expert, as `MoELayer` runs its experts: expert
/// `j` owns rows `offsets[j]..<offsets[j + 1]` and slice `j` of the stacked weights
/// `[E, inDim, outDim]` and biases `[E, outDim]`. Experts without rows are skipped.
///
/// Experts run concurrently, one per worker thread, each GEMM on a single thread: an
/// expert's GEMM (K = 128 here) is too small for a split over threads to pay (every thread
/// packs the same weights and waits for the slowest). Each expert writes only its own rows
/// and its own weight slices, so results do not depend on which thread ran it.
enum GroupedLinear {
    static func forward(
        out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, inDim: Int, outDim: Int, offsets: [Int]
    ) {
        let rows = offsets.last ?? 0
        Profiler.measure(
            .gemm, "experts Σ\(rows)×\(outDim)×\(inDim) x·W+b", flops: 2 * Double(rows * inDim * outDim), opaque: true
        ) {
            forEachGroupConcurrently(offsets) { j, start, n in
                linearForward(
                    out: out + start * outDim, inp: inp + start * inDim, weight: weight + j * inDim * outDim,
                    bias: bias + j * outDim, rows: n, inDim: inDim, outDim: outDim)
            }
        }
    }

    /// Writes `dinp` of every grouped row; accumulates the weight and bias gradients of the
    /// experts whose `trainable` entry is true (all when `trainable` is nil).
    static func backward(
        dinp: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?,
        dbias: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, inDim: Int, outDim: Int, offsets: [Int], trainable: [Bool]?
    ) {
        let rows = offsets.last ?? 0
        let flops = backwardFLOPs(offsets, trainable: trainable, weightGradients: dweight != nil, inDim * outDim)
        Profiler.measure(
            .gemm, "experts Σ\(rows)×\(outDim)×\(inDim) backward", flops: flops, opaque: true
        ) {
            forEachGroupConcurrently(offsets) { j, start, n in
                let learns = trainable?[j] ?? true
                linearBackward(
                    dinp: dinp + start * inDim, dweight: learns ? dweight.map { $0 + j * inDim * outDim } : nil,
                    dbias: learns ? dbias.map { $0 + j * outDim } : nil, dout: dout + start * outDim,
                    inp: inp + start * inDim, weight: weight + j * inDim * outDim, rows: n, inDim: inDim,
                    outDim: outDim)
            }
        }
    }

    /// Calls `body(j, start, rows)` for every expert `j` with rows on the worker threads, which
    /// claim experts largest first (rows are uneven: early in training most tokens pick the
    /// same few experts). Calls inside `body` run on the calling thread.
    static func forEachGroupConcurrently(
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

    /// FLOPs of one grouped layer's backward: dX for every row, dW (when `weightGradients`) for
    /// the rows of learning experts, 2·rows·`weightSize` each.
    static func backwardFLOPs(_ offsets: [Int], trainable: [Bool]?, weightGradients: Bool, _ weightSize: Int) -> Double
    {
        var learningRows = 0
        forEachGroup(offsets) { j, _, n in if trainable?[j] ?? true { learningRows += n } }
        return 2 * Double(((offsets.last ?? 0) + (weightGradients ? learningRows : 0)) * weightSize)
    }

    /// Calls `body(j, start, rows)` for every expert `j` with rows, in expert order.
    @inline(__always)
    static func forEachGroup(_ offsets: [Int], _ body: (_ j: Int, _ start: Int, _ rows: Int) -> Void) {
        for j in 0..<(offsets.count - 1) where offsets[j + 1] > offsets[j] {
            body(j, offsets[j], offsets[j + 1] - offsets[j])
        }
    }
}
