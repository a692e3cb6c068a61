import Foundation
import MoETensor

/// Layer-wise adaptive moments (LAMB, You et al. 2019, "Large Batch Optimization for Deep
/// Learning"), with Adam bias correction and decoupled weight decay inside the trust ratio.
///
/// Per trainable parameter θ (one tensor = one "layer") with gradient g, its own update
/// count t, learning rate η, weight decay λ:
///
///     m ← β₁·m + (1 − β₁)·g,   v ← β₂·v + (1 − β₂)·g²
///     m̂ = m / (1 − β₁ᵗ),       v̂ = v / (1 − β₂ᵗ)
///     r = m̂ / (√v̂ + ε) + λ·θ                     (λ·θ only if decays)
///     trust = ‖θ‖ / ‖r‖ if ‖θ‖ > 0 and ‖r‖ > 0, else 1
///     θ ← θ − η·trust·r
///
/// The trust ratio applies to every trainable tensor (norm scales and biases included); the
/// norms are accumulated in Double. State: `"optim.m.<param name>"`, `"optim.v.<param name>"`.
public struct LAMB: SingleStateOptimizer, Sendable {
    public static let kind = OptimizerKind.lamb
    public let settings: OptimizerSettings
    public var state = OptimizerState(slotNames: ["m", "v"])

    public init(settings: OptimizerSettings) {
        self.settings = settings
    }

    public mutating func step(_ store: ParameterStore, lr: Float) {
        state.stepCount += 1
        let beta1 = settings.beta1
        let beta2 = settings.beta2
        let eps = settings.epsilon
        store.updateEachTrainable { p in
            let count = p.value.count
            let wd: Float = p.decays ? settings.weightDecay : 0
            state.updateWithMoments(p) { theta, g, m, v, t in
                Self.kernel(
                    theta: theta, grad: g, m: m, v: v, count: count, lr: lr, weightDecay: wd,
                    beta1: beta1, beta2: beta2, bc1: Float(1 - pow(Double(beta1), Double(t))),
                    bc2: Float(1 - pow(Double(beta2), Double(t))), eps: eps)
            }
        }
    }

    /// The trust ratio ‖θ‖/‖r‖, or 1 if either norm is zero.
    public static func trustRatio(weightNorm: Double, updateNorm: Double) -> Float {
        weightNorm > 0 && updateNorm > 0 ? Float(weightNorm / updateNorm) : 1
    }

    @inline(__always)
    static func kernel(
        theta: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>,
        m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count: Int, lr: Float,
        weightDecay wd: Float, beta1: Float, beta2: Float, bc1: Float, bc2: Float, eps: Float
    ) {
        // Pass 1: moments, ‖θ‖² and ‖r‖² (SIMD, Double sums in a thread-independent order).
        let (weightSq, updateSq) = OptimKernels.blockedSums(count: count) { range in
            var accW = SIMD8<Double>()
            var accR = SIMD8<Double>()
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                let (mi, vi) = OptimKernels.updateMoments8(grad: grad, m: m, v: v, at: i, beta1: beta1, beta2: beta2)
                let th = OptimKernels.load8(theta, i)
                let ri = (mi / bc1) / ((vi / bc2).squareRoot() + eps) + wd * th
                let thd = SIMD8<Double>(th)
                let rid = SIMD8<Double>(ri)
                accW += thd * thd
                accR += rid * rid
                i += 8
            }
            var sumW = OptimKernels.lanesInOrder(accW)
            var sumR = OptimKernels.lanesInOrder(accR)
            while i < range.upperBound {
                let (mi, vi) = OptimKernels.updateMoments(grad: grad, m: m, v: v, at: i, beta1: beta1, beta2: beta2)
                let th = theta[i]
                let ri = (mi / bc1) / ((vi / bc2).squareRoot() + eps) + wd * th
                sumW += Double(th) * Double(th)
                sumR += Double(ri) * Double(ri)
                i += 1
            }
            return (sumW, sumR)
        }
        let scale = lr * trustRatio(weightNorm: weightSq.squareRoot(), updateNorm: updateSq.squareRoot())
        // Pass 2: recompute r (same expression, same values) and apply it.
        OptimKernels.forEachUpdateChunk(count: count) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let th = OptimKernels.load8(theta, i)
                let mi = OptimKernels.load8(m, i)
                let vi = OptimKernels.load8(v, i)
                let ri = (mi / bc1) / ((vi / bc2).squareRoot() + eps) + wd * th
                OptimKernels.store8(th - scale * ri, theta, i)
                i += 8
            }
            while i < r.upperBound {
                let th = theta[i]
                let ri = (m[i] / bc1) / ((v[i] / bc2).squareRoot() + eps) + wd * th
                theta[i] = th - scale * ri
                i += 1
            }
        }
    }
}
