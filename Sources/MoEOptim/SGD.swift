import MoETensor

/// Stochastic gradient descent with momentum, as `torch.optim.SGD` (dampening 0).
///
/// Per trainable parameter θ with gradient g, weight decay λ, momentum μ, learning rate η:
///
///     g ← g + λ·θ                      (only if decays; PyTorch's `weight_decay`)
///     b ← μ·b + g                      (b starts at 0, so the first step gives b = g)
///     θ ← θ − η·(nesterov ? g + μ·b : b)
///
/// With μ = 0 there is no buffer and the update is θ ← θ − η·g.
/// State: `"optim.momentum.<param name>"` (only when μ ≠ 0).
public struct SGD: SingleStateOptimizer, Sendable {
    public static let kind = OptimizerKind.sgd
    public let settings: OptimizerSettings
    public var state = OptimizerState(slotNames: ["momentum"])

    public init(settings: OptimizerSettings) {
        self.settings = settings
    }

    public mutating func step(_ store: ParameterStore, lr: Float) {
        state.stepCount += 1
        let mu = settings.momentum
        let useMomentum = mu != 0
        let nesterov = settings.nesterov
        store.updateEachTrainable { p in
            let name = p.name
            let count = p.value.count
            let wd: Float = p.decays ? settings.weightDecay : 0
            let grad = p.grad
            if useMomentum {
                var buffer = state.take(0, name, shape: p.value.shape)
                _ = state.nextStep(name)
                grad.withUnsafePointer { g in
                    buffer.withUnsafeMutablePointer { b in
                        p.value.withUnsafeMutablePointer { theta in
                            Self.momentumKernel(
                                theta: theta, grad: g, buffer: b, count: count, lr: lr,
                                weightDecay: wd, momentum: mu, nesterov: nesterov)
                        }
                    }
                }
                state.put(0, name, buffer)
            } else {
                grad.withUnsafePointer { g in
                    p.value.withUnsafeMutablePointer { theta in
                        OptimKernels.forEachUpdateChunk(count: count) { r in
                            for i in r {
                                let gi = g[i] + wd * theta[i]
                                theta[i] -= lr * gi
                            }
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    static func momentumKernel(
        theta: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>,
        buffer: UnsafeMutablePointer<Float>, count: Int, lr: Float, weightDecay wd: Float,
        momentum mu: Float, nesterov: Bool
    ) {
        OptimKernels.forEachUpdateChunk(count: count) { r in
            if nesterov {
                for i in r {
                    let gi = grad[i] + wd * theta[i]
                    let bi = mu * buffer[i] + gi
                    buffer[i] = bi
                    theta[i] -= lr * (gi + mu * bi)
                }
            } else {
                for i in r {
                    let gi = grad[i] + wd * theta[i]
                    let bi = mu * buffer[i] + gi
                    buffer[i] = bi
                    theta[i] -= lr * bi
                }
            }
        }
    }
}
