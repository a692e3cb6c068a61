import Foundation
import MoEData
import MoEDataSources
import MoEImage
import MoEModel
import MoETasks
import MoETensor

/// Predictions of one dataset head for images of any size, prepared exactly as in training
/// (`ImagePreprocessing` from the stored spec, normalised with the stored statistics) and
/// mapped back to each image's own pixel grid (DESIGN §9, `moe predict`).
public struct Predictor {
    /// What the head says about one image.
    public enum Output: Sendable {
        /// Classes by descending probability (at most `top`).
        case classes([(label: Int, name: String, probability: Float)])
        /// Detections in source pixel coordinates (exclusive max), highest score first.
        case boxes([Detection])
        /// Row-major label map at the source size: 0 background, c + 1 class c.
        case mask(DecodedImage)
    }

    public let model: VisionMoE
    public let spec: DatasetSpec
    public let preprocessing: ImagePreprocessing
    public let mean: [Float]
    public let std: [Float]

    /// A predictor for dataset `spec.name` of `model`, normalising with `mean`/`std` (one per
    /// model channel; use the spec's `inputMean`/`inputStd`).
    public init(model: VisionMoE, spec: DatasetSpec, mean: [Float], std: [Float]) {
        self.model = model
        self.spec = spec
        self.mean = mean
        self.std = std
        preprocessing = ImagePreprocessing(
            channels: model.config.channels, height: spec.height, width: spec.width,
            mode: spec.task == .classification ? .centerCrop : .letterbox)
    }

    /// Class names of the head: the stored ones, else "0", "1", ….
    public var classNames: [String] { spec.classNames ?? (0..<spec.classes).map(String.init) }

    /// The prediction for `image` (any size, 1 or 3 channels).
    public func predict(_ image: DecodedImage, top: Int = 5) throws -> Output {
        let (prepared, transform) = preprocessing.prepare(image)
        var planar: [UInt8] = []
        ImagePreprocessing.appendPlanar(prepared, to: &planar)
        let plane = spec.height * spec.width
        var input = Tensor(shape: [1, preprocessing.channels, spec.height, spec.width])
        input.withUnsafeMutablePointer { x in
            for c in 0..<preprocessing.channels {
                for j in 0..<plane { x[c * plane + j] = (Float(planar[c * plane + j]) / 255 - mean[c]) / std[c] }
            }
        }
        let outputs = try model.forward(images: input, dataset: spec.name, training: false)
        let geometry = TaskObjective.geometry(spec, patchSize: model.config.patchSize)
        switch spec.task {
        case .classification:
            return .classes(topClasses(outputs.storage, top: top))
        case .detection:
            let found = DetectionTask.decode(outputs: outputs, geometry: geometry).first ?? []
            guard let t = transform else { return .boxes(found) }
            return .boxes(found.compactMap { unmapped($0, t) })
        case .segmentation:
            let labels = SegmentationTask.predict(logits: outputs, geometry: geometry)
            guard let t = transform else { return .mask(labelImage(labels, width: spec.width, height: spec.height)) }
            return .mask(unletterboxed(labels, t))
        }
    }

    /// Softmax probabilities of `logits`, the `top` largest with their names.
    func topClasses(_ logits: [Float], top: Int) -> [(label: Int, name: String, probability: Float)] {
        let peak = logits.max() ?? 0
        let exps = logits.map { Foundation.exp(Double($0 - peak)) }
        let total = exps.reduce(0, +)
        let names = classNames
        return exps.indices.sorted { exps[$0] > exps[$1] || (exps[$0] == exps[$1] && $0 < $1) }
            .prefix(top).map { ($0, names[$0], Float(exps[$0] / total)) }
    }

    /// A detection in source coordinates: corners through `LetterboxTransform.unmap`,
    /// clipped to the image; nil when nothing of it is left inside.
    public func unmapped(_ d: Detection, _ t: LetterboxTransform) -> Detection? {
        let (x0, y0) = t.unmap(x: Double(d.box.x0), y: Double(d.box.y0))
        let (x1, y1) = t.unmap(x: Double(d.box.x1), y: Double(d.box.y1))
        let (w, h) = (Double(t.sourceWidth), Double(t.sourceHeight))
        let box = Box(
            x0: Float(min(max(x0, 0), w)), y0: Float(min(max(y0, 0), h)), x1: Float(min(max(x1, 0), w)),
            y1: Float(min(max(y1, 0), h)), label: d.box.label)
        return box.area > 0 ? Detection(box: box, score: d.score) : nil
    }

    /// The label map at the source size: source pixel (x, y) takes the label of the input
    /// pixel containing its centre, ⌊map(x + ½, y + ½)⌋ (nearest), clamped to the content.
    public func unletterboxed(_ labels: [Int32], _ t: LetterboxTransform) -> DecodedImage {
        let (w, h) = (t.sourceWidth, t.sourceHeight)
        var out = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h {
            let cy = Int(t.map(x: 0, y: Double(y) + 0.5).y.rounded(.down))
            let row = min(max(cy, t.offsetY), t.offsetY + t.contentHeight - 1)
            for x in 0..<w {
                let cx = Int(t.map(x: Double(x) + 0.5, y: 0).x.rounded(.down))
                let col = min(max(cx, t.offsetX), t.offsetX + t.contentWidth - 1)
                out[y * w + x] = UInt8(clamping: labels[row * spec.width + col])
            }
        }
        return DecodedImage(width: w, height: h, channels: 1, pixels: out)
    }

    func labelImage(_ labels: [Int32], width: Int, height: Int) -> DecodedImage {
        DecodedImage(width: width, height: height, channels: 1, pixels: labels.map { UInt8(clamping: $0) })
    }
}
