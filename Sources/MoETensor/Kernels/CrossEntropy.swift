/// Softmax cross-entropy per row, with an ignore index.
///
///     forward:  p = softmax(z),  loss_r = −log p[r, t_r] = logsumexp(z_r) − z[r, t_r]
///     backward: dz[r, :] += scale · (p[r, :] − onehot(t_r))
///
/// Shapes: B = `rows` (samples, or pixels for segmentation), C = `classes`.
/// Rows whose target is negative are ignored: loss 0 and no gradient.

/// Writes per-row `losses` [B] and `probs` [B, C] (kept for backward).
public func crossEntropyForward(
    losses: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
    logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, classes: Int
) {
    precondition(rows >= 0 && classes > 0, "crossEntropy: bad shape")
    Parallel.forEachChunk(count: rows, minimumPerThread: max(1, 8192 / classes)) { range in
        for r in range {
            let z = logits + r * classes
            let (m, sum) = softmaxRow(out: probs + r * classes, inp: z, cols: classes)
            let logSumExp = m + logf(sum)
            let t = Int(targets[r])
            precondition(t < classes, "crossEntropy: target \(t) out of range 0..<\(classes)")
            // From the logits rather than −log p so a vanishing probability stays finite.
            losses[r] = t < 0 ? 0 : logSumExp - z[t]
        }
    }
}

/// Accumulates `dlogits += scale · (probs − onehot(target))` for rows with a target ≥ 0.
public func crossEntropyBackward(
    dlogits: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>,
    targets: UnsafePointer<Int32>, scale: Float, rows: Int, classes: Int
) {
    precondition(rows >= 0 && classes > 0, "crossEntropy: bad shape")
    Parallel.forEachChunk(count: rows, minimumPerThread: max(1, 16384 / classes)) { range in
        for r in range {
            let t = Int(targets[r])
            if t < 0 { continue }
            precondition(t < classes, "crossEntropy: target \(t) out of range 0..<\(classes)")
            let p = probs + r * classes
            let d = dlogits + r * classes
            for c in 0..<classes { d[c] += scale * p[c] }
            d[t] -= scale
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
