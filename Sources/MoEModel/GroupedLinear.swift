import MoETensor

/// One linear per expert over rows grouped by expert, as `MoELayer` runs its experts: expert
/// `j` owns rows `offsets[j]..<offsets[j + 1]` and slice `j` of the stacked weights
/// `[E, inDim, outDim]` and biases `[E, outDim]`. Experts without rows are skipped.
enum GroupedLinear {
    static func forward(
        out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, inDim: Int, outDim: Int, offsets: [Int]
    ) {
        let rows = offsets.last ?? 0
        Profiler.measure(
            .gemm, "experts Σ\(rows)×\(outDim)×\(inDim) x·W+b", flops: 2 * Double(rows * inDim * outDim), opaque: true
        ) {
            forEachGroup(offsets) { j, start, n in
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
        // dX for every row, dW for the rows of learning experts: 2·rows·I·O FLOPs each.
        var learningRows = 0
        forEachGroup(offsets) { j, _, n in if trainable?[j] ?? true { learningRows += n } }
        let rows = offsets.last ?? 0
        let flops = 2 * Double((rows + (dweight == nil ? 0 : learningRows)) * inDim * outDim)
        Profiler.measure(
            .gemm, "experts Σ\(rows)×\(outDim)×\(inDim) backward", flops: flops, opaque: true
        ) {
            forEachGroup(offsets) { j, start, n in
                let learns = trainable?[j] ?? true
                linearBackward(
                    dinp: dinp + start * inDim, dweight: learns ? dweight.map { $0 + j * inDim * outDim } : nil,
                    dbias: learns ? dbias.map { $0 + j * outDim } : nil, dout: dout + start * outDim,
                    inp: inp + start * inDim, weight: weight + j * inDim * outDim, rows: n, inDim: inDim,
                    outDim: outDim)
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
