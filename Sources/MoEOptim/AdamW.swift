import CKernels
import Foundation
import MoETensor

/// Adam with decoupled weight decay, exactly as `torch.optim.AdamW` (Loshchilov & Hutter 2019).
///
/// Per trainable parameter θ with gradient g, its own update count t (1 on its first
/// update), learning rate η, weight decay λ:
///
///     θ ← θ − η·λ·θ                    (only if decays)
///     m ← β₁·m + (1 − β₁)·g
///     v ← β₂·v + (1 − β₂)·g²
///     m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
///     θ ← θ − η·m̂ / (√v̂ + ε)
///
/// Computed as PyTorch does: θ ← θ·(1 − ηλ) − (η/(1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε).
/// State: `"optim.m.<param name>"`, `"optim.v.<param name>"`.
public struct AdamW: SingleStateOptimizer, Sendable {
    public static let kind = OptimizerKind.adamw
    public let settings: OptimizerSettings
    public var state = OptimizerState(slotNames: ["m", "v"])

    public init(settings: OptimizerSettings) {
        self.settings = settings
    }

    public mutating func step(_ store: ParameterStore, lr: Float) {
        state.stepCount += 1
        store.updateEachTrainable { p in
            let count = p.value.count
            let decay: Float = p.decays ? 1 - lr * settings.weightDecay : 1
            state.updateWithMoments(p) { theta, g, m, v, t in
                Self.update(
                    theta: theta, grad: g, m: m, v: v, t: t, count: count, decay: decay, lr: lr,
                    settings: settings)
            }
        }
    }

    /// One bias-corrected AdamW update of `count` values whose moments have seen `t` updates
    /// (this one included); shared with `AdamPerTask`.
    static func update(
        theta: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>,
        m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, t: Int, count: Int,
        decay: Float, lr: Float, settings: OptimizerSettings
    ) {
        let bc1 = 1 - pow(Double(settings.beta1), Double(t))
        let bc2 = 1 - pow(Double(settings.beta2), Double(t))
        kernel(
            theta: theta, grad: grad, m: m, v: v, count: count, decay: decay,
            beta1: settings.beta1, beta2: settings.beta2, stepSize: Float(Double(lr) / bc1),
            bc2Sqrt: Float(bc2.squareRoot()), eps: settings.epsilon)
    }

    /// `path: .automatic` runs `moe_adamw_avx512` on CPUs with AVX-512F, the same operations
    /// sixteen lanes wide (the package's Swift runs at the baseline SIMD width).
    @inline(__always)
    static func kernel(
        theta: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>,
        m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count: Int,
        decay: Float, beta1: Float, beta2: Float, stepSize: Float, bc2Sqrt: Float, eps: Float,
        path: KernelPath = .automatic
    ) {
        let avx512 = path.usesAVX512
        OptimKernels.forEachUpdateChunk(count: count) { r in
            if avx512 {
                let i = r.lowerBound
                return moe_adamw_avx512(
                    theta + i, grad + i, m + i, v + i, r.count, decay, beta1, beta2, stepSize, bc2Sqrt, eps)
            }
            // Explicit SIMD: LLVM does not vectorise the scalar loop because of the square root.
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let (mi, vi) = OptimKernels.updateMoments8(grad: grad, m: m, v: v, at: i, beta1: beta1, beta2: beta2)
                let denom = vi.squareRoot() / bc2Sqrt + eps
                let th = OptimKernels.load8(theta, i) * decay - stepSize * mi / denom
                OptimKernels.store8(th, theta, i)
                i += 8
            }
            while i < r.upperBound {
                let (mi, vi) = OptimKernels.updateMoments(grad: grad, m: m, v: v, at: i, beta1: beta1, beta2: beta2)
                let denom = vi.squareRoot() / bc2Sqrt + eps
                theta[i] = theta[i] * decay - stepSize * mi / denom
                i += 1
            }
        }
    }
}
