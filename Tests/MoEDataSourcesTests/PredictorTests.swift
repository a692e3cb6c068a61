import Foundation
import MoEData
import MoEDataSources
import MoEImage
import MoEModel
import MoETasks
import MoETraining
import Testing

/// `moe predict`'s library side: shapes, names, and coordinates mapped back to a non-square
/// source image.
@Suite struct PredictorTests {
    static func predictor(_ task: TaskKind, classes: Int = 3) throws -> Predictor {
        var spec = DatasetSpec(name: "d", task: task, classes: classes, height: 32, width: 32)
        spec.classNames = (0..<classes).map { "c\($0)" }
        spec.inputMean = [0.5]
        spec.inputStd = [0.25]
        var config = ModelConfig()
        config.channels = 1
        config.imageSize = 32
        config.patchSize = 8
        config.width = 16
        config.depth = 1
        config.heads = 2
        config.experts = 2
        config.topK = 1
        config.datasets = [spec]
        let model = try VisionMoE(config: config, seed: 1)
        return Predictor(model: model, spec: spec, mean: [0.5], std: [0.25])
    }

    /// A 96×48 RGB image: left half dark, right half bright.
    static let wide = DecodedImage(
        width: 96, height: 48, channels: 3,
        pixels: (0..<(96 * 48)).flatMap { i -> [UInt8] in i % 96 < 48 ? [20, 20, 20] : [220, 200, 180] })

    @Test func classificationListsNamedClasses() throws {
        guard case .classes(let top) = try Self.predictor(.classification, classes: 7).predict(Self.wide, top: 5) else {
            Issue.record("expected classes")
            return
        }
        #expect(top.count == 5)
        #expect(top.allSatisfy { $0.name == "c\($0.label)" })
        #expect(zip(top, top.dropFirst()).allSatisfy { $0.probability >= $1.probability })
        #expect(top.map(\.probability).reduce(0, +) <= 1.0001)
    }

    @Test func detectionBoxesAreInSourcePixels() throws {
        let predictor = try Self.predictor(.detection)
        guard case .boxes(let boxes) = try predictor.predict(Self.wide) else {
            Issue.record("expected boxes")
            return
        }
        #expect(boxes.allSatisfy { $0.box.x0 >= 0 && $0.box.x1 <= 96 && $0.box.y0 >= 0 && $0.box.y1 <= 48 })
        // 96×48 into 32×32: scale 1/3, content 32×16 at offset (0, 8).
        let t = LetterboxTransform(fitting: ImageSize(width: 96, height: 48), into: ImageSize(width: 32, height: 32))
        let canvas = Detection(box: Box(x0: 4, y0: 10, x1: 20, y1: 18, label: 2), score: 0.9)
        #expect(
            predictor.unmapped(canvas, t) == Detection(box: Box(x0: 12, y0: 6, x1: 60, y1: 30, label: 2), score: 0.9))
        // A box on the padding only is dropped; one reaching into it is clipped.
        #expect(predictor.unmapped(Detection(box: Box(x0: 0, y0: 0, x1: 8, y1: 6, label: 0), score: 1), t) == nil)
        #expect(
            predictor.unmapped(Detection(box: Box(x0: 0, y0: 4, x1: 8, y1: 12, label: 0), score: 1), t)?.box.y0 == 0)
    }

    @Test func segmentationMaskHasTheSourceSize() throws {
        let predictor = try Self.predictor(.segmentation)
        guard case .mask(let mask) = try predictor.predict(Self.wide) else {
            Issue.record("expected a mask")
            return
        }
        #expect(mask.width == 96 && mask.height == 48 && mask.channels == 1)
        #expect(mask.pixels.allSatisfy { $0 <= 3 })
        // Canvas rows 8..<16 labelled 1, rows 16..<24 labelled 2: source rows 0..<24 and 24..<48.
        let t = LetterboxTransform(fitting: ImageSize(width: 96, height: 48), into: ImageSize(width: 32, height: 32))
        let labels = (0..<(32 * 32)).map { Int32($0 / 32 < 16 ? 1 : 2) }
        let back = predictor.unletterboxed(labels, t)
        #expect(back.pixels[0] == 1 && back.pixels[23 * 96 + 95] == 1 && back.pixels[24 * 96] == 2)
        #expect(back.pixels[47 * 96 + 95] == 2)
    }

    @Test func pngEncoderRoundTrips() throws {
        let bytes = try PNGEncoder.encode(Self.wide)
        #expect(try ImageDecoder.decode(bytes: bytes, name: "x") == Self.wide)
        let labels = DecodedImage(
            width: 5, height: 3, channels: 1, pixels: [0, 1, 2, 255, 7, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        #expect(try ImageDecoder.decodeLabels(bytes: PNGEncoder.encode(labels), name: "m") == labels)
    }
}
