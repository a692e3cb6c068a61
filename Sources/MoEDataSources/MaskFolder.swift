import Foundation
import MoEData

/// A segmentation folder (DESIGN §8.1): `root/images/<split>/<stem>.{png,jpg,jpeg}` with
/// `root/masks/<split>/<stem>.png`, or `root/images/` and `root/masks/` without split folders.
/// A mask is a single-channel PNG of class indices: 0 background, 1…classes the classes
/// (value v is class v − 1 of the head), 255 ignored; anything else is an error.
public struct MaskFolder: Sendable, Equatable {
    /// An image and its mask.
    public struct Pair: Sendable, Equatable, Hashable {
        public var image: String
        public var mask: String
    }

    public var train: [Pair]
    /// nil when there are no split folders.
    public var test: [Pair]?

    /// The mask value that marks ignored pixels.
    public static let ignoreValue: UInt8 = 255

    /// Scans `root`.
    /// - Throws: `DataError.fileNotFound` for a missing `images`/`masks` folder or split;
    ///   `DataError.corrupt` naming the image when its mask is missing, or a folder without images.
    public static func scan(root: String, trainSplit: String = "train", testSplit: String = "val") throws
        -> MaskFolder
    {
        let images = (root as NSString).appendingPathComponent("images")
        let masks = (root as NSString).appendingPathComponent("masks")
        for folder in [images, masks] where !FileScan.isDirectory(folder) {
            throw DataError.fileNotFound(path: folder, hint: "expected root/images/ and root/masks/ (DESIGN §8.1)")
        }
        let trainImages = (images as NSString).appendingPathComponent(trainSplit)
        guard FileScan.isDirectory(trainImages) else {
            return MaskFolder(train: try pairs(images: images, masks: masks), test: nil)
        }
        let train = try pairs(images: trainImages, masks: (masks as NSString).appendingPathComponent(trainSplit))
        let testImages = (images as NSString).appendingPathComponent(testSplit)
        guard FileScan.isDirectory(testImages) else {
            throw DataError.fileNotFound(
                path: testImages,
                hint: "\(images) has a '\(trainSplit)' folder, so its test split '\(testSplit)' is needed")
        }
        let test = try pairs(images: testImages, masks: (masks as NSString).appendingPathComponent(testSplit))
        return MaskFolder(train: train, test: test)
    }

    /// The pairs of one split: every image of `images` with `masks/<stem>.png`.
    public static func pairs(images: String, masks: String) throws -> [Pair] {
        let files = try FileScan.images(in: images)
        guard !files.isEmpty else {
            throw DataError.corrupt(path: images, detail: "no .png/.jpg/.jpeg image in the folder")
        }
        return try files.map { image in
            let mask = (masks as NSString).appendingPathComponent(FileScan.stem(image) + ".png")
            guard FileManager.default.fileExists(atPath: mask) else {
                throw DataError.corrupt(path: image, detail: "the image has no mask; expected \(mask)")
            }
            return Pair(image: image, mask: mask)
        }
    }

    /// Checks a decoded mask against its image size and the class count; returns its bytes.
    /// - Throws: `DataError.corrupt` naming the mask for a size mismatch or a value above
    ///   `classes` other than 255.
    public static func checked(
        mask: [UInt8], width: Int, height: Int, image: (width: Int, height: Int),
        classes: Int, path: String
    ) throws -> [UInt8] {
        guard width == image.width, height == image.height else {
            throw DataError.corrupt(
                path: path, detail: "mask is \(width)×\(height) but its image is \(image.width)×\(image.height)")
        }
        if let bad = mask.first(where: { Int($0) > classes && $0 != ignoreValue }) {
            throw DataError.corrupt(
                path: path,
                detail: "mask value \(bad) is not 0 (background), 1…\(classes) (the classes) or 255 (ignored)")
        }
        return mask
    }
}
