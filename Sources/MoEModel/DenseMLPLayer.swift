import MoETensor

/// The dense MLP `y = GELU(x·W1 + b1)·W2 + b2` (hidden `mlpRatio·D`), used by the dense
/// baseline (MTHL.D) and by non-MoE blocks when `moeEvery` is 2.  x, y: [T, D].
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

    /// Runs as one group of `GroupedLinear.forwardMLP`: blocks of ~192 rows whose hidden rows
    /// stay in L2 from fc1 through GELU to fc2, bit for bit as the layers one after the other.
    func forward(
        _ store: ParameterStore, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
        rows: Int, training: Bool, cache: Cache
    ) {
        let n = rows * fc1.outDim
        cache.activation.resize(n)
        // The pre-activation is not kept: the backward needs only GELU′ and the activation.
        if training { cache.derivative.resize(n) }
        guard let b1 = fc1.bias, let b2 = fc2.bias else {
            preconditionFailure("DenseMLPLayer: fc1 and fc2 have biases")
        }
        store.withValue(fc1.weight) { w1 in
            store.withValue(b1) { b1 in
                store.withValue(fc2.weight) { w2 in
                    store.withValue(b2) { b2 in
                        GroupedLinear.forwardMLP(
                            out: out, activation: cache.activation.pointer,
                            derivative: training ? cache.derivative.pointer : nil, inp: inp, w1: w1, b1: b1, w2: w2,
                            b2: b2, dim: fc1.inDim, hiddenDim: fc1.outDim, offsets: [0, rows], owner: "dense")
                    }
                }
            }
        }
    }

    func backward(
        _ store: ParameterStore, dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
        inp: UnsafePointer<Float>, rows: Int, cache: Cache, scratch: BackwardScratch
    ) {
        let n = rows * fc1.outDim
        let dact = scratch.buffer(.mlpActivation, count: n)
        fc2.backward(store, dinp: dact, dout: dout, inp: cache.activation.readPointer, rows: rows)
        let dhidden = scratch.buffer(.mlpHidden, count: n)
        geluBackward(dinp: dhidden, derivative: cache.derivative.readPointer, dout: dact, count: n)
        fc1.backward(store, dinp: dinp, dout: dhidden, inp: inp, rows: rows)
    }
}
