import ArgumentParser
import Foundation
import MoECheckpoint
import MoEImage
import MoEModel
import MoERecipe
import MoETensor
import MoETestSupport
import MoETraining
import Testing

@testable import MoECommands

/// `moe predict` end to end on checkpoints of the three tasks and a non-square image.
@Suite(.serialized) struct PredictCommandTests {
    /// A checkpoint with one dataset head `d` of `task` (7 named classes, 32×32 gray input).
    static func checkpoint(_ task: TaskKind, in dir: URL) throws -> String {
        _ = parallelPoolReady
        var spec = DatasetSpec(name: "d", task: task, classes: 7, height: 32, width: 32)
        spec.classNames = (0..<7).map { "c\($0)" }
        spec.inputMean = [0.5]
        spec.inputStd = [0.25]
        let source = task == .classification ? "folder" : task == .detection ? "coco" : "masks"
        let classes = task == .segmentation ? ", classes: 7" : ""
        let recipe = try Recipe.parse(
            yaml: """
                name: p
                model: {channels: 1, imageSize: 32, patchSize: 8, width: 16, depth: 1, heads: 2, experts: 2, topK: 1}
                datasets:
                  d: {source: \(source), task: \(task.rawValue), path: /x\(classes)}
                training: {steps: 1}
                """, source: "test")
        var config = recipe.model
        config.datasets = [spec]
        let model = try VisionMoE(config: config, seed: 3)
        let path = dir.appendingPathComponent("\(task.rawValue).moe")
        try RunCheckpoint.make(model: model, recipe: recipe, state: nil, optimizer: nil).write(to: path)
        return path.path
    }

    /// A 96×48 gray image in `dir/images/wide.png`; returns the folder.
    static func image(in dir: URL) throws -> String {
        let folder = dir.appendingPathComponent("images").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let pixels = (0..<(96 * 48)).map { UInt8(($0 % 96) * 2) }
        try PNGEncoder.write(DecodedImage(width: 96, height: 48, channels: 1, pixels: pixels), to: folder + "/wide.png")
        return folder
    }

    /// The JSON object `moe predict --json` printed for the image.
    static func predict(_ arguments: [String], in dir: URL) throws -> [String: Any] {
        let command = try #require(
            try MoECommand.parseAsRoot(["predict", "--json"] + arguments) as? MoECommand.Predict)
        let output = try capturingStandardOutput(in: dir) { try command.run() }
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("{") })
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func classificationPrintsTopFiveNames() throws {
        try withTemporaryDirectory { dir in
            let ckpt = try Self.checkpoint(.classification, in: dir)
            let object = try Self.predict(["--checkpoint", ckpt, try Self.image(in: dir)], in: dir)
            let classes = try #require(object["classes"] as? [[String: Any]])
            #expect(classes.count == 5)
            #expect(classes.allSatisfy { ($0["name"] as? String) == "c\(($0["label"] as? Int) ?? -1)" })
        }
    }

    @Test func detectionBoxesAreInTheImagesPixels() throws {
        try withTemporaryDirectory { dir in
            let ckpt = try Self.checkpoint(.detection, in: dir)
            let out = dir.appendingPathComponent("out").path
            let folder = try Self.image(in: dir)
            let object = try Self.predict(["--checkpoint", ckpt, "--out", out, folder + "/wide.png"], in: dir)
            let boxes = try #require(object["boxes"] as? [[String: Any]])
            for box in boxes {
                let b = try #require(box["box"] as? [Double])
                #expect(b[0] >= 0 && b[1] >= 0 && b[2] <= 96 && b[3] <= 48 && b[0] < b[2] && b[1] < b[3])
                #expect((box["name"] as? String)?.hasPrefix("c") == true)
            }
            let annotated = try ImageDecoder.decode(path: out + "/wide.png")
            #expect(annotated.width == 96 && annotated.height == 48 && annotated.channels == 3)
        }
    }

    @Test func segmentationWritesAMaskAtTheImageSize() throws {
        try withTemporaryDirectory { dir in
            let ckpt = try Self.checkpoint(.segmentation, in: dir)
            let out = dir.appendingPathComponent("out").path
            let object = try Self.predict(["--checkpoint", ckpt, "--out", out, try Self.image(in: dir)], in: dir)
            #expect(object["size"] as? [Int] == [96, 48])
            let shares = try #require(object["shares"] as? [String: Double])
            #expect(Set(shares.keys) == Set(["background"] + (0..<7).map { "c\($0)" }))
            #expect(abs(shares.values.reduce(0, +) - 1) < 1e-9)
            let mask = try ImageDecoder.decodeLabels(path: out + "/wide.png")
            #expect(mask.width == 96 && mask.height == 48 && mask.pixels.allSatisfy { $0 <= 7 })
        }
    }
}
