import MoETensor

/// Global gradient-norm clipping (`torch.nn.utils.clip_grad_norm_`):
/// ‖g‖ = √(Σ_p Σ_i g_{p,i}²) over trainable parameters p; if ‖g‖ > c then g ← g · c/(‖g‖ + 10⁻⁶).
public enum GradientClipping {
    /// Global L2 norm over the gradients of trainable parameters (Double accumulation,
    /// independent of the thread count).
    public static func globalNorm(_ store: ParameterStore) -> Float {
        Float(squaredNorm(store) { _ in true }.squareRoot())
    }

    /// Σ_p Σ_i g_{p,i}² over the trainable parameters with a gradient that `included` accepts
    /// (Double accumulation, in store order).
    public static func squaredNorm(_ store: ParameterStore, where included: (Parameter) -> Bool) -> Double {
        var sum: Double = 0
        for parameter in store.parameters where parameter.isTrainable && parameter.hasGradient && included(parameter) {
            sum += parameter.grad.withUnsafePointer { g in
                OptimKernels.sumOfSquares(g, count: parameter.grad.count)
            }
        }
        return sum
    }

    /// If maxNorm > 0 and norm > maxNorm, scales all trainable grads by maxNorm/(norm+1e-6).
    /// Returns the pre-clip norm. Frozen parameters' gradients are neither counted nor scaled.
    @discardableResult
    public static func clip(_ store: ParameterStore, maxNorm: Float) -> Float {
        let norm = globalNorm(store)
        clip(store, maxNorm: maxNorm, norm: norm)
        return norm
    }

    /// Scales all trainable grads by maxNorm/(norm+1e-6) when maxNorm > 0 and `norm` (the
    /// global norm, computed by the caller, e.g. over sharded stores) exceeds it.
    public static func clip(_ store: ParameterStore, maxNorm: Float, norm: Float) {
        guard maxNorm > 0, norm > maxNorm else { return }
        let scale = maxNorm / (norm + 1e-6)
        store.updateEachTrainable { parameter in
            let n = parameter.grad.count
            parameter.grad.withUnsafeMutablePointer { g in
                OptimKernels.forEachUpdateChunk(count: n) { range in
                    for i in range { g[i] *= scale }
                }
            }
        }
    }
}
