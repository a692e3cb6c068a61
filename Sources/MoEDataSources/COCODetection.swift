import Foundation
import MoEData

/// A COCO detection split (DESIGN §8.1): a COCO JSON file read by `COCOBoxes` plus the folder
/// its `file_name`s are relative to, checked against each other before anything is decoded.
public struct COCODetection: Sendable, Equatable {
    /// One image and its boxes in the image's own pixel coordinates.
    public struct Entry: Sendable, Equatable {
        public var path: String
        public var width: Int
        public var height: Int
        public var boxes: [Box]
    }

    public var classNames: [String]
    public var categoryIDs: [Int]
    public var entries: [Entry]
    /// Crowd annotations left out (COCO's `iscrowd: 1`).
    public var skippedCrowd: Int

    /// Reads `annotations` (COCO JSON, optionally gzip) and checks every image against
    /// `images`.
    /// - Throws: what `COCOBoxes.load` throws (malformed JSON, unknown `image_id` or
    ///   `category_id`, negative box size — naming the key path); `DataError.fileNotFound`
    ///   naming an image file listed in the JSON but missing; `DataError.corrupt` naming the
    ///   JSON file for a box reaching outside its image, or for a file without images.
    public static func load(annotations: String, images: String) throws -> COCODetection {
        let coco = try COCOBoxes.load(path: annotations)
        guard !coco.images.isEmpty else {
            throw DataError.corrupt(path: annotations, detail: "'images' is empty; expected at least one image")
        }
        guard coco.classes > 0 else {
            throw DataError.corrupt(path: annotations, detail: "'categories' is empty; expected at least one category")
        }
        var entries: [Entry] = []
        for (i, image) in coco.images.enumerated() {
            let path = (images as NSString).appendingPathComponent(image.fileName)
            guard FileManager.default.fileExists(atPath: path) else {
                throw DataError.fileNotFound(
                    path: path, hint: "listed as images[\(i)].file_name in \(annotations), relative to \(images)")
            }
            let (w, h) = (Float(image.width), Float(image.height))
            for box in coco.boxes[i] where box.x0 < 0 || box.y0 < 0 || box.x1 > w || box.y1 > h {
                throw DataError.corrupt(
                    path: annotations,
                    detail: "a box of image '\(image.fileName)' (id \(image.id)), [x0 \(box.x0), y0 \(box.y0), "
                        + "x1 \(box.x1), y1 \(box.y1)], reaches outside the \(image.width)×\(image.height) image")
            }
            entries.append(Entry(path: path, width: image.width, height: image.height, boxes: coco.boxes[i]))
        }
        return COCODetection(
            classNames: coco.categoryNames, categoryIDs: coco.categoryIDs, entries: entries,
            skippedCrowd: coco.skippedCrowd)
    }
}
