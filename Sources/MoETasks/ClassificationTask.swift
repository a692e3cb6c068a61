import MoETensor

/// Image classification: softmax cross-entropy on the class-token logits.
public enum ClassificationTask {
    /// Mean softmax cross-entropy over the batch:
    ///
    ///     L = (1/B) Σ_b [ logsumexp(z_b) − z_b[y_b] ]
    ///     ∂L/∂z_b = (softmax(z_b) − onehot(y_b)) / B
    ///
    /// - Parameters:
    ///   - logits: `[B, C]`.
    ///   - labels: `[B]`, each in `0..<C`.
    /// - Returns: the loss, its gradient `[B, C]` and `parts["cls"]` (= the loss). An empty
    ///   batch has loss 0.
    /// - Throws: `TaskError.shapeMismatch` when `logits` is not rank 2 with `B = labels.count`
    ///   rows and at least one class; `TaskError.labelOutOfRange` for a label outside
    ///   `0...C−1` (negative labels included).
    public static func loss(logits: Tensor, labels: [Int32]) throws -> TaskLossResult {
        let classes = logits.rank == 2 ? logits.shape[1] : 0
        guard logits.rank == 2, logits.shape[0] == labels.count, classes >= 1 else {
            throw TaskError.shapeMismatch(
                what: "classification logits", expected: [labels.count, max(classes, 1)], found: logits.shape)
        }
        for (i, label) in labels.enumerated() where label < 0 || Int(label) >= classes {
            throw TaskError.labelOutOfRange(
                what: "classification labels", index: i, label: Int(label), valid: 0...(classes - 1))
        }
        let rows = labels.count
        var gradient = Tensor(shape: logits.shape)
        guard rows > 0 else { return TaskLossResult(loss: 0, gradient: gradient, parts: ["cls": 0]) }

        var losses = [Float](repeating: 0, count: rows)
        var probs = [Float](repeating: 0, count: logits.count)
        logits.withUnsafePointer { z in
            labels.withUnsafeBufferPointer { t in
                losses.withUnsafeMutableBufferPointer { l in
                    probs.withUnsafeMutableBufferPointer { p in
                        crossEntropyForward(
                            losses: l.baseAddress!, probs: p.baseAddress!, logits: z,
                            targets: t.baseAddress!, rows: rows, classes: classes)
                    }
                }
            }
        }
        gradient.withUnsafeMutablePointer { dz in
            labels.withUnsafeBufferPointer { t in
                probs.withUnsafeBufferPointer { p in
                    crossEntropyBackward(
                        dlogits: dz, probs: p.baseAddress!, targets: t.baseAddress!,
                        scale: 1 / Float(rows), rows: rows, classes: classes)
                }
            }
        }
        var sum = 0.0
        for l in losses { sum += Double(l) }
        let loss = Float(sum / Double(rows))
        return TaskLossResult(loss: loss, gradient: gradient, parts: ["cls": loss])
    }
}
