import MoEData
import MoETasks
import MoETensor

/// A task loss computed on one rank's rows of a batch, turned into the loss of the whole
/// batch (DESIGN §11).
///
/// Every task loss is a sum over units divided by their count n: images for
/// classification, non-ignored pixels for segmentation; for detection, cells for the class
/// term and max(1, positive cells) for the box term. With shard sums S_r and counts n_r,
///
///     L = Σ_r S_r / Σ_r n_r = Σ_r L_r · n_r / n,     ∂L/∂z_r = ∂L_r/∂z_r · n_r / n,
///
/// so after scaling each rank's output gradient by n_r / n the ranks' parameter gradients
/// sum to the gradient of L. One sum of a few doubles per task gives every rank L and n.
public enum ShardedLoss {
    /// Replaces `result` (the loss of `targets`, this rank's shard) by the global loss and
    /// the shard's share of its gradient. Collective: every rank calls it for the same task.
    /// - Throws: the collective's errors; `DetectionTask.assign`'s for invalid boxes.
    public static func globalize(
        _ result: inout TaskLossResult, targets: TaskTargets, geometry: TaskGeometry, collective: any Collective
    ) throws {
        let loss = Double(result.loss)
        switch targets {
        case .labels(let labels):
            try globalizeMean(&result, loss: loss, count: labels.count, collective: collective)
        case .masks(let masks):
            let counted = masks.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
            try globalizeMean(&result, loss: loss, count: counted, collective: collective)
        case .boxes(let boxes):
            let cells = Double(boxes.count * geometry.cells)
            let positives = try DetectionTask.assign(boxes: boxes, geometry: geometry).positives
            let boxNormaliser = Double(max(1, positives))
            let cls = Double(result.parts["cls"] ?? 0)
            // loss = cls + w·box: the weighted box term is what the box normaliser divides.
            var sums = [cls * cells, (loss - cls) * boxNormaliser, cells, Double(positives)]
            try collective.allreduceSum(&sums)
            let (allCells, allBoxNormaliser) = (max(sums[2], 1), max(sums[3], 1))
            result.loss = Float(sums[0] / allCells + sums[1] / allBoxNormaliser)
            let classes = geometry.classes + 1
            scale(
                &result.gradient, stride: classes + 4,
                channelScales: [
                    (0..<classes, Float(cells / allCells)),
                    (classes..<classes + 4, Float(boxNormaliser / allBoxNormaliser)),
                ])
        }
    }

    /// A plain mean over `count` units per shard.
    private static func globalizeMean(
        _ result: inout TaskLossResult, loss: Double, count: Int, collective: any Collective
    ) throws {
        var sums = [loss * Double(count), Double(count)]
        try collective.allreduceSum(&sums)
        result.loss = sums[1] > 0 ? Float(sums[0] / sums[1]) : 0
        let factor = sums[1] > 0 ? Float(Double(count) / sums[1]) : 0
        let n = result.gradient.count
        result.gradient.withUnsafeMutablePointer { g in for i in 0..<n { g[i] *= factor } }
    }

    /// Multiplies the channels of each range (within rows of `stride`) by its factor.
    private static func scale(_ gradient: inout Tensor, stride: Int, channelScales: [(Range<Int>, Float)]) {
        let rows = gradient.count / stride
        gradient.withUnsafeMutablePointer { g in
            for r in 0..<rows {
                for (range, factor) in channelScales {
                    for k in range { g[r * stride + k] *= factor }
                }
            }
        }
    }
}
