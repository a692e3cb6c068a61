import Foundation
import MoEData
import MoEDataSources
import MoEImage
import MoETensor
import MoETestSupport
import Testing

/// COCO and mask exports of generated scenes read back through the own-data sources give
/// the generator's boxes, labels and masks.
@Suite struct SceneExportTests {
    /// Scenes from random 12×12 items in 3 classes on a 32×32 canvas.
    static func generator() throws -> SceneGenerator {
        var rng = SeededGenerator(seed: 7)
        let count = 12
        let pixels = (0..<(count * 144)).map { _ in UInt8(rng.index(below: 256)) }
        let items = try ImageDataset(
            name: "items", channels: 1, height: 12, width: 12, pixels: pixels,
            labels: (0..<count).map { Int32($0 % 3) }, classes: 3, mean: 0.5, std: 0.25)
        let config = SceneConfig(canvas: 32, minItems: 1, maxItems: 3, minScale: 8, maxScale: 12, threshold: 32)
        return try SceneGenerator(items: items, split: .train, config: config, seed: 3)
    }

    static let prep = ImagePreprocessing(channels: 1, height: 32, width: 32, mode: .letterbox)

    @Test func cocoExportGivesTheGeneratorsBoxes() throws {
        let generator = try Self.generator()
        try withTemporaryDirectory { dir in
            try SceneExport.write(
                generator, count: 6, split: "train", root: dir.path, format: .coco, classNames: ["a", "b", "c"])
            let json = dir.path + "/annotations/train.json"
            let coco = try COCODetection.load(annotations: json, images: dir.path + "/images/train")
            #expect(coco.classNames == ["a", "b", "c"])
            let split = try LoadedSplit.detection(
                coco.entries, annotations: json, preprocessing: Self.prep, progress: nil)
            guard case .boxes(let boxes) = split.targets else {
                Issue.record("expected boxes")
                return
            }
            for i in 0..<6 {
                let scene = generator.scene(i)
                #expect(boxes[i] == scene.boxes)
                #expect(Array(split.images.pixels[(i * 1024)..<((i + 1) * 1024)]) == scene.pixels)
            }
        }
    }

    @Test func maskExportGivesTheGeneratorsMasks() throws {
        let generator = try Self.generator()
        try withTemporaryDirectory { dir in
            try SceneExport.write(generator, count: 5, split: "val", root: dir.path, format: .masks, classNames: [])
            let folder = try MaskFolder.pairs(images: dir.path + "/images/val", masks: dir.path + "/masks/val")
            let split = try LoadedSplit.segmentation(folder, classes: 3, preprocessing: Self.prep, progress: nil)
            guard case .masks(let masks) = split.targets else {
                Issue.record("expected masks")
                return
            }
            for i in 0..<5 {
                #expect(Array(masks[(i * 1024)..<((i + 1) * 1024)]) == generator.scene(i).mask)
            }
        }
    }

    /// Boxes follow a non-square image into the letterbox and back exactly.
    @Test func letterboxedBoxesMapBack() {
        let t = LetterboxTransform(fitting: ImageSize(width: 96, height: 48), into: ImageSize(width: 32, height: 32))
        let box = Box(x0: 12, y0: 6, x1: 60, y1: 30, label: 1)
        let mapped = LoadedSplit.mapped(box, t)
        #expect(mapped == Box(x0: 4, y0: 10, x1: 20, y1: 18, label: 1))
        let (x, y) = t.unmap(x: Double(mapped.x1), y: Double(mapped.y1))
        #expect(x == 60 && y == 30)
    }
}
