import MoEModel
import MoETasks
import MoETensor

/// moe's own outputs for images, named and shaped like an exported graph's outputs
/// (`ONNXExporter.outputs`), so ONNX Runtime's results can be compared with them.
public enum ExportReference {
    /// Runs `model`'s forward (inference mode) on `images` [B, C, H, W] of `dataset` and
    /// returns the graph outputs in order: classification `logits`; segmentation `logits`
    /// upsampled to [B, C+1, H, W]; detection raw `logits`, `scores` and `boxes`.
    public static func outputs(model: VisionMoE, dataset: String, images: Tensor) throws -> [(
        name: String, tensor: Tensor
    )] {
        let spec = try model.config.dataset(named: dataset)
        let expected = [images.shape.first ?? 0, model.config.channels, spec.height, spec.width]
        guard images.shape == expected, expected[0] > 0 else {
            throw ExportError.referenceImages(dataset: dataset, expected: expected, got: images.shape)
        }
        let raw = try model.forward(images: images, dataset: dataset, training: false)
        let geometry = TaskGeometry(
            classes: spec.classes, imageHeight: spec.height, imageWidth: spec.width, patchSize: model.config.patchSize)
        switch spec.task {
        case .classification:
            return [("logits", raw)]
        case .segmentation:
            return [("logits", try SegmentationTask.upsampledLogits(raw, geometry: geometry))]
        case .detection:
            let (scores, boxes) = try DetectionTask.scoresAndBoxes(outputs: raw, geometry: geometry)
            return [("logits", raw), ("scores", scores), ("boxes", boxes)]
        }
    }
}
