import MoEData
import MoEModel
import MoETensor

extension TaskTargets {
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

    /// The task these targets are ground truth for.
    public var task: TaskKind {
        switch self {
        case .labels: .classification
        case .masks: .segmentation
        case .boxes: .detection
        }
    }
}

/// The loss of one dataset's task on the model's head outputs, dispatched by task kind.
public enum TaskObjective {
    /// Geometry of a dataset's dense outputs (cells of `patchSize` pixels).
    public static func geometry(_ spec: DatasetSpec, patchSize: Int) -> TaskGeometry {
        TaskGeometry(
            classes: spec.classes, imageHeight: spec.height, imageWidth: spec.width,
            patchSize: patchSize)
    }

    /// Loss and ∂loss/∂outputs for `targets` (the unweighted task loss).
    public static func loss(
        outputs: Tensor, targets: TaskTargets, spec: DatasetSpec, patchSize: Int
    ) throws -> TaskLossResult {
        guard targets.task == spec.task else {
            throw TaskError.targetsMismatch(dataset: spec.name, task: spec.task.rawValue)
        }
        return try targets.loss(outputs: outputs, geometry: geometry(spec, patchSize: patchSize))
    }
}
