import Foundation

/// Object boxes read from a COCO-style JSON file (DESIGN §8, users' own data).
///
/// The file is an object with three arrays (other keys are ignored):
///
///     { "images":      [{"id": 1, "file_name": "a.png", "width": 640, "height": 480}, …],
///       "annotations": [{"image_id": 1, "bbox": [x, y, w, h], "category_id": 3}, …],
///       "categories":  [{"id": 3, "name": "cat"}, …] }
///
/// A COCO box `[x, y, w, h]` becomes `Box(x0: x, y0: y, x1: x + w, y1: y + h)` (exclusive
/// max, pixel units). Category ids may be sparse (COCO's run 1…90); labels are the
/// contiguous indices `0..<categories.count` of the categories **sorted by id**, so
/// `categoryIDs[label]` gives the id back. Annotations with `"iscrowd": 1` mark crowd
/// regions rather than objects and are skipped (`skippedCrowd` counts them). A file whose
/// name ends in `.gz` (or that starts with the gzip magic) is decompressed first.
public struct COCOBoxes: Sendable, Equatable {
    /// One entry of `images`.
    public struct Image: Sendable, Equatable, Codable {
        public var id: Int
        public var fileName: String
        public var width: Int
        public var height: Int

        public init(id: Int, fileName: String, width: Int, height: Int) {
            self.id = id
            self.fileName = fileName
            self.width = width
            self.height = height
        }

        private enum CodingKeys: String, CodingKey {
            case id, width, height
            case fileName = "file_name"
        }
    }

    /// Images in file order.
    public var images: [Image]
    /// `boxes[i]` are the boxes of `images[i]`, in file order of the annotations.
    public var boxes: [[Box]]
    /// Category id of each label (ascending).
    public var categoryIDs: [Int]
    /// Category name of each label.
    public var categoryNames: [String]
    /// Number of `iscrowd` annotations skipped.
    public var skippedCrowd: Int

    /// Number of classes (`categoryIDs.count`).
    public var classes: Int { categoryIDs.count }

    /// Total number of boxes over all images.
    public var boxCount: Int { boxes.reduce(0) { $0 + $1.count } }

    /// The boxes of the image with id `imageID`, or nil when no image has that id.
    public func boxes(imageID: Int) -> [Box]? {
        images.firstIndex { $0.id == imageID }.map { boxes[$0] }
    }

    // MARK: - Loading

    private struct File: Decodable {
        var images: [Image]
        var annotations: [Annotation]
        var categories: [Category]
    }

    private struct Annotation: Decodable {
        var imageID: Int
        var bbox: [Double]
        var categoryID: Int
        var iscrowd: Int?

        private enum CodingKeys: String, CodingKey {
            case bbox, iscrowd
            case imageID = "image_id"
            case categoryID = "category_id"
        }
    }

    private struct Category: Decodable {
        var id: Int
        var name: String
    }

    /// Reads and validates the file at `path`.
    /// - Throws: `DataError.fileNotFound` when there is no file; `DataError.corrupt` naming
    ///   `path` and the offending key path (e.g. `annotations[3].bbox`) for invalid JSON, a
    ///   missing key or a value of the wrong type, a non-positive image width or height, a
    ///   bbox that does not hold 4 finite numbers or has a negative width or height, a
    ///   duplicate image or category id, or an annotation naming an unknown `image_id` or
    ///   `category_id`.
    public static func load(path: String) throws -> COCOBoxes {
        try decode(Gzip.readFile(path), path: path)
    }

    /// Parses and validates COCO-style JSON `bytes`; `path` is used only in error messages.
    /// - Throws: as `load(path:)`, without `fileNotFound`.
    public static func decode(_ bytes: [UInt8], path: String) throws -> COCOBoxes {
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw DataError.corrupt(path: path, detail: describe(error))
        } catch {
            throw DataError.corrupt(path: path, detail: "invalid JSON: \(error)")
        }

        var imageIndex = [Int: Int]()
        for (i, image) in file.images.enumerated() {
            guard image.width > 0, image.height > 0 else {
                throw DataError.corrupt(
                    path: path,
                    detail: "images[\(i)] (id \(image.id)) has size \(image.width)×\(image.height); "
                        + "width and height must be positive")
            }
            if let first = imageIndex[image.id] {
                throw DataError.corrupt(
                    path: path, detail: "images[\(i)].id \(image.id) repeats the id of images[\(first)]")
            }
            imageIndex[image.id] = i
        }

        var categoryPosition = [Int: Int]()
        for (i, category) in file.categories.enumerated() {
            if let first = categoryPosition[category.id] {
                throw DataError.corrupt(
                    path: path, detail: "categories[\(i)].id \(category.id) repeats the id of categories[\(first)]")
            }
            categoryPosition[category.id] = i
        }
        let sorted = file.categories.sorted { $0.id < $1.id }
        var labelOf = [Int: Int32]()
        for (label, category) in sorted.enumerated() { labelOf[category.id] = Int32(label) }

        var boxes = [[Box]](repeating: [], count: file.images.count)
        var crowd = 0
        for (i, a) in file.annotations.enumerated() {
            guard let image = imageIndex[a.imageID] else {
                throw DataError.corrupt(
                    path: path, detail: "annotations[\(i)].image_id \(a.imageID) names no entry of images")
            }
            guard let label = labelOf[a.categoryID] else {
                throw DataError.corrupt(
                    path: path, detail: "annotations[\(i)].category_id \(a.categoryID) names no entry of categories")
            }
            guard a.bbox.count == 4, a.bbox.allSatisfy(\.isFinite) else {
                throw DataError.corrupt(
                    path: path, detail: "annotations[\(i)].bbox must be 4 finite numbers [x, y, w, h], got \(a.bbox)")
            }
            let (x, y, w, h) = (a.bbox[0], a.bbox[1], a.bbox[2], a.bbox[3])
            guard w >= 0, h >= 0 else {
                throw DataError.corrupt(
                    path: path, detail: "annotations[\(i)].bbox has negative size w \(w), h \(h)")
            }
            if let c = a.iscrowd, c != 0 {
                crowd += 1
                continue
            }
            boxes[image].append(
                Box(x0: Float(x), y0: Float(y), x1: Float(x + w), y1: Float(y + h), label: label))
        }
        return COCOBoxes(
            images: file.images, boxes: boxes, categoryIDs: sorted.map(\.id), categoryNames: sorted.map(\.name),
            skippedCrowd: crowd)
    }

    /// A one-line description of a decoding failure with its key path, e.g.
    /// `missing key 'bbox' at annotations[3]`.
    static func describe(_ error: DecodingError) -> String {
        func render(_ path: [any CodingKey]) -> String {
            var out = ""
            for key in path {
                if let i = key.intValue {
                    out += "[\(i)]"
                } else {
                    out += out.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return out.isEmpty ? "the top level" : out
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' at \(render(context.codingPath))"
        case .typeMismatch(let type, let context):
            return "\(render(context.codingPath)) is not \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "\(render(context.codingPath)) is null, expected \(typeName(type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return "invalid JSON (\(context.debugDescription))"
            }
            return "\(render(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "an integer"
        case is Double.Type: "a number"
        case is String.Type: "a string"
        case is [Any].Type, is [Double].Type, is [Image].Type, is [Annotation].Type, is [Category].Type: "an array"
        default: "of type \(type)"
        }
    }
}
