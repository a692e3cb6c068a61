import Foundation
import MoEData
import MoEDataSources
import MoEImage
import MoETestSupport
import Testing

/// Broken files and layouts give errors that name the file; nothing traps.
@Suite struct BadInputTests {
    static let prep = ImagePreprocessing(channels: 1, height: 8, width: 8, mode: .centerCrop)

    static func png(_ side: Int = 8, value: UInt8 = 100) throws -> [UInt8] {
        try PNGEncoder.encode(DecodedImage(width: side, height: side, channels: 1, repeating: value))
    }

    static func write(_ bytes: [UInt8], _ path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// The error's description, which must name `file`.
    static func expectError(naming file: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected an error naming \(file)")
        } catch {
            #expect("\(error)".contains(file), "\(error)")
        }
    }

    @Test(arguments: ["truncated", "text", "empty"])
    func brokenImagesAreNamed(kind: String) throws {
        try withTemporaryDirectory { dir in
            let good = try Self.png()
            let bad: [UInt8]
            switch kind {
            case "truncated": bad = Array(good.prefix(good.count / 2))
            case "text": bad = Array("not an image".utf8)
            default: bad = []
            }
            try Self.write(good, dir.path + "/train/a/1.png")
            try Self.write(bad, dir.path + "/train/a/2.png")
            try Self.write(good, dir.path + "/val/a/1.png")
            let folder = try ImageFolder.scan(root: dir.path)
            Self.expectError(naming: "2.png") {
                _ = try LoadedSplit.classification(folder.train, preprocessing: Self.prep, progress: nil)
            }
        }
    }

    @Test func truncatedJPEGIsNamed() throws {
        try withTemporaryDirectory { dir in
            let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46]
            try Self.write(jpeg, dir.path + "/a/cut.jpg")
            Self.expectError(naming: "cut.jpg") {
                _ = try ParallelDecoder.decode([dir.path + "/a/cut.jpg"], preprocessing: Self.prep)
            }
        }
    }

    @Test func emptyLayoutsAreNamed() throws {
        try withTemporaryDirectory { dir in
            Self.expectError(naming: dir.path) { _ = try ImageFolder.scan(root: dir.path) }
            try FileManager.default.createDirectory(atPath: dir.path + "/cls", withIntermediateDirectories: true)
            Self.expectError(naming: "cls") { _ = try ImageFolder.scan(root: dir.path) }
        }
    }

    @Test func cocoProblemsAreNamed() throws {
        try withTemporaryDirectory { dir in
            try Self.write(try Self.png(), dir.path + "/images/a.png")
            let cases: [(String, String, String)] = [
                (
                    "missing",
                    #"{"images":[{"id":1,"file_name":"b.png","width":8,"height":8}],"annotations":[],"categories":[{"id":1,"name":"x"}]}"#,
                    "b.png"
                ),
                (
                    "image",
                    #"{"images":[{"id":1,"file_name":"a.png","width":8,"height":8}],"annotations":[{"image_id":9,"bbox":[0,0,1,1],"category_id":1}],"categories":[{"id":1,"name":"x"}]}"#,
                    "image_id"
                ),
                (
                    "category",
                    #"{"images":[{"id":1,"file_name":"a.png","width":8,"height":8}],"annotations":[{"image_id":1,"bbox":[0,0,1,1],"category_id":5}],"categories":[{"id":1,"name":"x"}]}"#,
                    "category_id"
                ),
                (
                    "outside",
                    #"{"images":[{"id":1,"file_name":"a.png","width":8,"height":8}],"annotations":[{"image_id":1,"bbox":[4,4,6,2],"category_id":1}],"categories":[{"id":1,"name":"x"}]}"#,
                    "outside"
                ),
                (
                    "negative",
                    #"{"images":[{"id":1,"file_name":"a.png","width":8,"height":8}],"annotations":[{"image_id":1,"bbox":[4,4,-1,2],"category_id":1}],"categories":[{"id":1,"name":"x"}]}"#,
                    "negative"
                ),
                ("malformed", #"{"images":[{"id":1,"#, "malformed"),
            ]
            for (name, json, word) in cases {
                let path = dir.path + "/\(name).json"
                try Self.write(Array(json.utf8), path)
                Self.expectError(naming: word == "b.png" ? "b.png" : "\(name).json") {
                    _ = try COCODetection.load(annotations: path, images: dir.path + "/images")
                }
                if word != "b.png" && word != "malformed" {
                    Self.expectError(naming: word) {
                        _ = try COCODetection.load(annotations: path, images: dir.path + "/images")
                    }
                }
            }
        }
    }

    @Test func zeroSizeCOCOBoxesAreSkipped() throws {
        try withTemporaryDirectory { dir in
            try Self.write(try Self.png(), dir.path + "/images/a.png")
            let json =
                #"{"images":[{"id":1,"file_name":"a.png","width":8,"height":8}],"annotations":["#
                + #"{"image_id":1,"bbox":[1,1,0,3],"category_id":1},{"image_id":1,"bbox":[2,2,4,4],"category_id":1}],"#
                + #""categories":[{"id":1,"name":"x"}]}"#
            try Self.write(Array(json.utf8), dir.path + "/a.json")
            let coco = try COCODetection.load(annotations: dir.path + "/a.json", images: dir.path + "/images")
            let prep = ImagePreprocessing(channels: 1, height: 8, width: 8, mode: .letterbox)
            let split = try LoadedSplit.detection(
                coco.entries, annotations: "a.json", preprocessing: prep, progress: nil)
            #expect(split.targets == .boxes([[Box(x0: 2, y0: 2, x1: 6, y1: 6, label: 0)]]))
        }
    }

    @Test func maskProblemsAreNamed() throws {
        try withTemporaryDirectory { dir in
            try Self.write(try Self.png(), dir.path + "/images/lonely.png")
            try FileManager.default.createDirectory(atPath: dir.path + "/masks", withIntermediateDirectories: true)
            Self.expectError(naming: "lonely.png") { _ = try MaskFolder.scan(root: dir.path) }
            try Self.write(try Self.png(4, value: 1), dir.path + "/masks/lonely.png")
            let pairs = try MaskFolder.scan(root: dir.path).train
            let letterbox = ImagePreprocessing(channels: 1, height: 8, width: 8, mode: .letterbox)
            Self.expectError(naming: "masks/lonely.png") {
                _ = try LoadedSplit.segmentation(pairs, classes: 3, preprocessing: letterbox, progress: nil)
            }
            try Self.write(try Self.png(8, value: 7), dir.path + "/masks/lonely.png")
            Self.expectError(naming: "masks/lonely.png") {
                _ = try LoadedSplit.segmentation(pairs, classes: 3, preprocessing: letterbox, progress: nil)
            }
            try Self.write(try Self.png(8, value: 255), dir.path + "/masks/lonely.png")
            let ok = try LoadedSplit.segmentation(pairs, classes: 3, preprocessing: letterbox, progress: nil)
            #expect(ok.targets == .masks(ByteStore([UInt8](repeating: 255, count: 64))))
        }
    }
}
