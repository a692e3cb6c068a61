import MoEData
import MoETensor

/// The ground truth of one batch, by task.
public enum TaskTargets: Sendable, Equatable {
    /// Classification: one label in `0..<C` per image, `[B]`.
    case labels([Int32])
    /// Segmentation: row-major label maps `[B · H · W]` (`p = (b · H + y) · W + x`);
    /// 0 background, `c + 1` class `c`, −1 ignored.
    case masks([Int32])
    /// Detection: the ground-truth boxes of every image (pixel coordinates, exclusive max).
    case boxes([[Box]])

    /// The task's loss on `outputs`: `ClassificationTask.loss`, `SegmentationTask.loss` or
    /// `DetectionTask.loss` (with `boxWeight`), whichever these targets belong to.
    public func loss(outputs: Tensor, geometry: TaskGeometry, boxWeight: Float = 1) throws -> TaskLossResult {
        switch self {
        case .labels(let labels):
            try ClassificationTask.loss(logits: outputs, labels: labels)
        case .masks(let masks):
            try SegmentationTask.loss(logits: outputs, masks: masks, geometry: geometry)
        case .boxes(let boxes):
            try DetectionTask.loss(outputs: outputs, boxes: boxes, geometry: geometry, boxWeight: boxWeight)
        }
    }
}
