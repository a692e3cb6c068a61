import MoETensor

/// The dense MLP `y = GELU(x·W1 + b1)·W2 + b2` (hidden `mlpRatio·D`), used by the dense
/// baseline (MTHL.D) and by non-MoE blocks when `moeEvery` is 2.  x, y: [T, D].
///
/// Both passes run as one group of `GroupedLinear`'s expert MLPs: blocks of `gemmRowBlock`
/// rows whose hidden rows stay in L2 from one product to the next, bit for bit as the layers
/// one after the other (`ExpertMLPTests`).
struct DenseMLPLayer {
    let fc1: LinearLayer
    let fc2: LinearLayer

    init(_ store: ParameterStore, name: String, dim: Int, hidden: Int, rng: inout SeededGenerator) {
        fc1 = LinearLayer(store, name: "\(name).fc1", inDim: dim, outDim: hidden, rng: &rng)
        fc2 = LinearLayer(store, name: "\(name).fc2", inDim: hidden, outDim: dim, rng: &rng)
    }

    final class Cache {
        let activation = ScratchBuffer()  // [T, hidden]: x·W1 + b1, then GELU of it in place
        let derivative = ScratchBuffer()  // [T, hidden] GELU' (training only)
    }

    func forward(
        _ store: ParameterStore, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
        rows: Int, training: Bool, cache: Cache
    ) {
        let n = rows * fc1.outDim
        cache.activation.resize(n)
        // The pre-activation is not kept: the backward needs only GELU′ and the activation.
        if training { cache.derivative.resize(n) }
        let (w1, b1, w2, b2) = parameters
        store.withValues(w1, b1, w2, b2) { w1, b1, w2, b2 in
            GroupedLinear.forwardMLP(
                out: out, activation: cache.activation.pointer, derivative: training ? cache.derivative.pointer : nil,
                inp: inp, w1: w1, b1: b1, w2: w2, b2: b2, dim: fc1.inDim, hiddenDim: fc1.outDim,
                offsets: [0, rows], owner: "dense")
        }
    }

    /// Writes `dinp = ∂L/∂x` and accumulates the trainable parameters' gradients.
    func backward(
        _ store: ParameterStore, dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
        inp: UnsafePointer<Float>, rows: Int, cache: Cache, scratch: BackwardScratch
    ) {
        let n = rows * fc1.outDim
        let dHidden = scratch.uninitialized(.mlpHidden, count: n)  // backwardMLP overwrites it
        let ids = parameters
        store.withValues(ids.w1, ids.b1, ids.w2, ids.b2) { w1, _, w2, _ in
            store.withGradsIfTrainable(ids.w1, ids.b1, ids.w2, ids.b2) { dw1, db1, dw2, db2 in
                GroupedLinear.backwardMLP(
                    dinp: dinp, dHidden: dHidden, dw1: dw1, db1: db1, dw2: dw2, db2: db2,
                    dout: dout, inp: inp, activation: cache.activation.readPointer,
                    derivative: cache.derivative.readPointer, w1: w1, w2: w2, dim: fc1.inDim,
                    hiddenDim: fc1.outDim, offsets: [0, rows], trainable: nil, owner: "dense")
            }
        }
    }

    /// fc1's and fc2's weights and biases (both layers are made with biases).
    private var parameters: (w1: ParameterID, b1: ParameterID, w2: ParameterID, b2: ParameterID) {
        guard let b1 = fc1.bias, let b2 = fc2.bias else {
            preconditionFailure("DenseMLPLayer: fc1 and fc2 are made with biases")
        }
        return (fc1.weight, b1, fc2.weight, b2)
    }
}
