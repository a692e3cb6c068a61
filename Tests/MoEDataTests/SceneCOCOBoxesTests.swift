import Foundation
import MoEData
import Testing

/// A COCO-style document with two images, sparse category ids (7 before 3) and a crowd box.
private let validCOCO = """
    {"info": {"year": 2024},
     "images": [{"id": 10, "file_name": "a.png", "width": 48, "height": 40},
                {"id": 11, "file_name": "b.png", "width": 56, "height": 56}],
     "annotations": [
        {"id": 1, "image_id": 11, "bbox": [1, 2, 10, 20], "category_id": 7},
        {"id": 2, "image_id": 10, "bbox": [0.5, 4, 3.5, 0], "category_id": 3},
        {"id": 3, "image_id": 11, "bbox": [5, 5, 30, 30], "category_id": 3, "iscrowd": 1},
        {"id": 4, "image_id": 11, "bbox": [40, 41, 2, 3], "category_id": 3, "iscrowd": 0}],
     "categories": [{"id": 7, "name": "bag"}, {"id": 3, "name": "dress"}]}
    """

@Suite struct SceneCOCOBoxesTests {
    @Test func readsBoxesPerImage() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try dir.write("boxes.json", Array(validCOCO.utf8))
        let coco = try COCOBoxes.load(path: dir.file("boxes.json"))
        #expect(
            coco.images == [
                .init(id: 10, fileName: "a.png", width: 48, height: 40),
                .init(id: 11, fileName: "b.png", width: 56, height: 56),
            ])
        // Labels follow ascending category id: 3 → 0, 7 → 1.
        #expect(coco.categoryIDs == [3, 7] && coco.categoryNames == ["dress", "bag"] && coco.classes == 2)
        #expect(coco.boxes[0] == [Box(x0: 0.5, y0: 4, x1: 4, y1: 4, label: 0)])
        #expect(
            coco.boxes[1] == [
                Box(x0: 1, y0: 2, x1: 11, y1: 22, label: 1),
                Box(x0: 40, y0: 41, x1: 42, y1: 44, label: 0),
            ])
        #expect(coco.skippedCrowd == 1 && coco.boxCount == 3)
        #expect(coco.boxes(imageID: 11) == coco.boxes[1])
        #expect(coco.boxes(imageID: 12) == nil)

        // Gzip-compressed files are read transparently.
        try dir.write("boxes.json.gz", Gzip.compress(Array(validCOCO.utf8)))
        #expect(try COCOBoxes.load(path: dir.file("boxes.json.gz")) == coco)
    }

    /// (edit of the valid document, words the error message must contain)
    static let broken: [(String, String, [String])] = [
        (#""images": [{"id": 10, "file_name""#, #""imagez": [{"id": 10, "file_name""#, ["missing key 'images'"]),
        (#""bbox": [1, 2, 10, 20], "#, "", ["missing key 'bbox'", "annotations[0]"]),
        (#""file_name": "b.png", "width": 56"#, #""file_name": "b.png", "width": -56"#, ["images[1]", "positive"]),
        (#""bbox": [40, 41, 2, 3]"#, #""bbox": [40, 41, -2, 3]"#, ["annotations[3].bbox", "negative size"]),
        (#""bbox": [40, 41, 2, 3]"#, #""bbox": [40, 41, 2]"#, ["annotations[3].bbox", "4 finite numbers"]),
        (#""image_id": 10"#, #""image_id": 99"#, ["annotations[1].image_id 99", "images"]),
        (#""category_id": 7}"#, #""category_id": 8}"#, ["annotations[0].category_id 8", "categories"]),
        (#""category_id": 7}"#, #""category_id": "bag"}"#, ["annotations[0].category_id", "integer"]),
        (#"{"id": 3, "name": "dress"}"#, #"{"id": 7, "name": "dress"}"#, ["categories[1].id 7", "categories[0]"]),
        (#"{"id": 11, "file_name""#, #"{"id": 10, "file_name""#, ["images[1].id 10", "images[0]"]),
        (#""categories": ["#, #""categories": [[["#, ["invalid JSON"]),
    ]

    @Test("errors name the file and the offending key", arguments: broken.indices)
    func errors(case index: Int) throws {
        let (target, replacement, words) = Self.broken[index]
        #expect(validCOCO.contains(target), "fixture edit \(index) applies")
        let text = validCOCO.replacingOccurrences(of: target, with: replacement)
        let path = "/data/boxes.json"
        do {
            _ = try COCOBoxes.decode(Array(text.utf8), path: path)
            Issue.record("edit \(index) was accepted")
        } catch let error as DataError {
            guard case .corrupt(let p, _) = error else {
                Issue.record("expected DataError.corrupt, got \(error)")
                return
            }
            #expect(p == path)
            for word in words {
                #expect(error.description.contains(word), "\(error.description) should mention \(word)")
            }
        }
    }

    @Test func missingFileNamesThePath() {
        #expect(throws: DataError.fileNotFound(path: "/nonexistent/boxes.json", hint: "check the path")) {
            try COCOBoxes.load(path: "/nonexistent/boxes.json")
        }
    }
}
