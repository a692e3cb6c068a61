import MoEData
import MoEModel
import MoETensor

/// The loss of one dataset's task on the model's head outputs, dispatched by task kind.
enum TaskObjective {
    /// Geometry of a dataset's dense outputs (cells of `patchSize` pixels).
    static func geometry(_ spec: DatasetSpec, patchSize: Int) -> TaskGeometry {
        TaskGeometry(
            classes: spec.classes, imageHeight: spec.height, imageWidth: spec.width,
            patchSize: patchSize)
    }

    /// Loss and ∂loss/∂outputs for `targets` (the unweighted task loss).
    static func loss(
        outputs: Tensor, targets: TaskTargets, spec: DatasetSpec, patchSize: Int
    ) throws -> TaskLossResult {
        switch (spec.task, targets) {
        case (.classification, .labels(let labels)):
            return try ClassificationTask.loss(logits: outputs, labels: labels)
        case (.segmentation, .masks(let masks)):
            return try SegmentationTask.loss(
                logits: outputs, masks: masks, geometry: geometry(spec, patchSize: patchSize))
        case (.detection, .boxes(let boxes)):
            return try DetectionTask.loss(
                outputs: outputs, boxes: boxes, geometry: geometry(spec, patchSize: patchSize))
        default:
            throw TrainingError.datasetMismatch(
                detail: "dataset '\(spec.name)' is a \(spec.task.rawValue) dataset but its data gave other targets")
        }
    }
}
