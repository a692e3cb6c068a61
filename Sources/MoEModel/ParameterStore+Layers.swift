import MoETensor

extension ParameterStore {
    /// Adds a parameter drawn from a truncated normal (std 0.02, timm's ViT init).
    func addNormal(
        _ name: String, shape: [Int], std: Float = 0.02, decays: Bool = true,
        rng: inout SeededGenerator
    ) -> ParameterID {
        var t = Tensor(shape: shape)
        for i in 0..<t.count { t[i] = rng.truncatedNormal(std: std) }
        return add(name, t, decays: decays)
    }

    /// Calls `body` with the gradient pointer of `id`, or nil when the parameter is frozen,
    /// so kernels skip work for frozen weights.
    func withGradIfTrainable<R>(
        _ id: ParameterID, _ body: (UnsafeMutablePointer<Float>?) -> R
    ) -> R {
        if self[id].isTrainable { return withGrad(id) { body($0) } }
        return body(nil)
    }

    /// Calls `body` with the values of an MLP's four parameters (W1, b1, W2, b2).
    func withValues(
        _ w1: ParameterID, _ b1: ParameterID, _ w2: ParameterID, _ b2: ParameterID,
        _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>) -> Void
    ) {
        withValue(w1) { w1 in
            withValue(b1) { b1 in withValue(w2) { w2 in withValue(b2) { b2 in body(w1, b1, w2, b2) } } }
        }
    }

    /// Calls `body` with the gradients of an MLP's four parameters, nil for frozen ones.
    func withGradsIfTrainable(
        _ w1: ParameterID, _ b1: ParameterID, _ w2: ParameterID, _ b2: ParameterID,
        _ body: (
            UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?,
            UnsafeMutablePointer<Float>?
        ) -> Void
    ) {
        withGradIfTrainable(w1) { w1 in
            withGradIfTrainable(b1) { b1 in
                withGradIfTrainable(w2) { w2 in withGradIfTrainable(b2) { b2 in body(w1, b1, w2, b2) } }
            }
        }
    }
}

/// Which parameters skip weight decay: norms, biases and embeddings (timm's `no_weight_decay`).
public func isExcludedFromWeightDecay(_ name: String) -> Bool {
    let last = name.split(separator: ".").last.map(String.init) ?? name
    return last == "bias" || last == "b1" || last == "b2" || name.contains("norm")
        || name == ParameterName.classToken || name == ParameterName.positionEmbedding
}

/// A fully connected layer `y[M, O] = x[M, I] · W[I, O] + b[O]`.
struct LinearLayer {
    let weight: ParameterID
    let bias: ParameterID?
    let inDim: Int
    let outDim: Int

    init(
        _ store: ParameterStore, name: String, inDim: Int, outDim: Int, bias: Bool = true,
        std: Float = 0.02, rng: inout SeededGenerator
    ) {
        self.inDim = inDim
        self.outDim = outDim
        weight = store.addNormal("\(name).weight", shape: [inDim, outDim], std: std, rng: &rng)
        self.bias =
            bias ? store.add("\(name).bias", Tensor(shape: [outDim]), decays: false) : nil
    }

    /// out[rows, O] = inp[rows, I] · W + b
    func forward(
        _ store: ParameterStore, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
        rows: Int
    ) {
        store.withValue(weight) { w in
            if let bias {
                store.withValue(bias) { b in
                    linearForward(
                        out: out, inp: inp, weight: w, bias: b, rows: rows, inDim: inDim,
                        outDim: outDim)
                }
            } else {
                linearForward(
                    out: out, inp: inp, weight: w, bias: nil, rows: rows, inDim: inDim,
                    outDim: outDim)
            }
        }
    }

    /// Accumulates dW, db (trainable only) and, when `dinp` is given, dinp += dout · Wᵀ.
    func backward(
        _ store: ParameterStore, dinp: UnsafeMutablePointer<Float>?,
        dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, rows: Int
    ) {
        store.withValue(weight) { w in
            store.withGradIfTrainable(weight) { dw in
                let run = { (db: UnsafeMutablePointer<Float>?) in
                    linearBackward(
                        dinp: dinp, dweight: dw, dbias: db, dout: dout, inp: inp, weight: w,
                        rows: rows, inDim: inDim, outDim: outDim)
                }
                if let bias { store.withGradIfTrainable(bias, run) } else { run(nil) }
            }
        }
    }
}

/// LayerNorm over the last dimension with learned scale and shift; caches mean and rstd.
struct LayerNormLayer {
    let weight: ParameterID
    let bias: ParameterID
    let dim: Int
    let epsilon: Float

    init(_ store: ParameterStore, name: String, dim: Int, epsilon: Float) {
        self.dim = dim
        self.epsilon = epsilon
        weight = store.add("\(name).weight", Tensor(shape: [dim], repeating: 1), decays: false)
        bias = store.add("\(name).bias", Tensor(shape: [dim]), decays: false)
    }

    func forward(
        _ store: ParameterStore, out: UnsafeMutablePointer<Float>,
        mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        inp: UnsafePointer<Float>, rows: Int
    ) {
        store.withValue(weight) { w in
            store.withValue(bias) { b in
                layerNormForward(
                    out: out, mean: mean, rstd: rstd, inp: inp, weight: w, bias: b, rows: rows,
                    dim: dim, eps: epsilon)
            }
        }
    }

    func backward(
        _ store: ParameterStore, dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
        inp: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        rows: Int
    ) {
        store.withValue(weight) { w in
            store.withGradIfTrainable(weight) { dw in
                store.withGradIfTrainable(bias) { db in
                    layerNormBackward(
                        dinp: dinp, dweight: dw, dbias: db, dout: dout, inp: inp, weight: w,
                        mean: mean, rstd: rstd, rows: rows, dim: dim)
                }
            }
        }
    }
}
