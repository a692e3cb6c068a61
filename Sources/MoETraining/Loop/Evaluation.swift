import MoEData
import MoEModel
import MoETensor

/// Classification metrics on one split.
public struct ClassificationMetrics: Codable, Sendable, Equatable {
    /// Fraction of examples whose top-scoring class is the label.
    public var top1: Double
    /// Fraction whose label is among the five highest scores.
    public var top5: Double
    /// Mean cross-entropy.
    public var loss: Double
    public var count: Int
}

/// Evaluation of a model on labelled images.
public enum Evaluation {
    /// Runs `model` over every example of `data` in order, batches of `batchSize`.
    public static func classify(
        model: VisionMoE, dataset name: String, data: ImageDataset, batchSize: Int
    ) throws -> ClassificationMetrics {
        var correct1 = 0
        var correct5 = 0
        var lossSum = 0.0
        var images = Tensor(shape: [0])
        var labels: [Int32] = []
        for range in evaluationBatches(count: data.count, batchSize: batchSize) {
            data.makeBatch(indices: Array(range), into: &images, labels: &labels)
            let logits = try model.forward(images: images, dataset: name, training: false)
            let classes = logits.shape[1]
            var losses = [Float](repeating: 0, count: range.count)
            var probs = [Float](repeating: 0, count: range.count * classes)
            logits.withUnsafePointer { l in
                crossEntropyForward(
                    losses: &losses, probs: &probs, logits: l, targets: labels, rows: range.count,
                    classes: classes)
            }
            for b in 0..<range.count {
                lossSum += Double(losses[b])
                let label = Int(labels[b])
                let row = b * classes
                let target = logits[row + label]
                // Rank = number of classes scoring strictly higher (ties favour the label).
                var higher = 0
                for c in 0..<classes where logits[row + c] > target { higher += 1 }
                if higher == 0 { correct1 += 1 }
                if higher < 5 { correct5 += 1 }
            }
        }
        let n = Double(max(data.count, 1))
        return ClassificationMetrics(
            top1: Double(correct1) / n, top5: Double(correct5) / n, loss: lossSum / n,
            count: data.count)
    }
}
