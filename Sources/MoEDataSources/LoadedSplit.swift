import Foundation
import MoEData
import MoEImage

/// One split of a user's dataset, decoded and prepared: bytes plus the targets of its task.
public struct LoadedSplit: Sendable {
    /// Per-image targets, in the model's conventions (`TaskTargets`).
    public enum Targets: Sendable, Equatable {
        /// Class index per image.
        case labels([Int32])
        /// Boxes per image, in prepared (letterboxed) pixel coordinates.
        case boxes([[Box]])
        /// `count × H × W` mask bytes: 0 background, c + 1 class c, 255 ignored.
        case masks(ByteStore)
    }

    public let images: PreparedImages
    public let targets: Targets
    /// `images.channelStatistics()` when known without a pass over the pixels: a cache
    /// stores them, so a hit skips that pass.
    public var statistics: (mean: [Float], std: [Float])?

    public init(images: PreparedImages, targets: Targets, statistics: (mean: [Float], std: [Float])? = nil) {
        self.images = images
        self.targets = targets
        self.statistics = statistics
    }

    public var count: Int { images.count }

    /// Classification: the files of `entries` prepared with `preprocessing`.
    public static func classification(
        _ entries: [ImageFolder.Entry], preprocessing: ImagePreprocessing, progress: String?
    ) throws -> LoadedSplit {
        let images = try ParallelDecoder.decode(entries.map(\.path), preprocessing: preprocessing, progress: progress)
        return LoadedSplit(images: images, targets: .labels(entries.map(\.label)))
    }

    /// Detection: images letterboxed, boxes mapped corner by corner with each image's
    /// transform: x′ = x · scaleX + offsetX (`LetterboxTransform.map`). Boxes of zero width
    /// or height (allowed by COCO, unusable as targets) are skipped and counted on stderr.
    /// - Throws: as `ParallelDecoder.decode`; `DataError.corrupt` naming the image when its
    ///   decoded size differs from the JSON's width and height.
    public static func detection(
        _ entries: [COCODetection.Entry], annotations: String, preprocessing: ImagePreprocessing,
        progress: String?
    ) throws -> LoadedSplit {
        let images = try ParallelDecoder.decode(entries.map(\.path), preprocessing: preprocessing, progress: progress)
        var boxes: [[Box]] = []
        var skipped = 0
        for (entry, transform) in zip(entries, images.transforms) {
            guard let t = transform else { continue }
            guard t.sourceWidth == entry.width, t.sourceHeight == entry.height else {
                throw DataError.corrupt(
                    path: entry.path,
                    detail: "the image is \(t.sourceWidth)×\(t.sourceHeight) but \(annotations) says "
                        + "\(entry.width)×\(entry.height)")
            }
            let all = entry.boxes.map { mapped($0, t) }
            let kept = all.filter { $0.x1 > $0.x0 && $0.y1 > $0.y0 }
            skipped += all.count - kept.count
            boxes.append(kept)
        }
        if skipped > 0 {
            FileHandle.standardError.write(
                Data("\(annotations): skipped \(skipped) boxes of zero width or height\n".utf8))
        }
        return LoadedSplit(images: images, targets: .boxes(boxes))
    }

    /// A box in letterboxed coordinates.
    public static func mapped(_ box: Box, _ t: LetterboxTransform) -> Box {
        let (x0, y0) = t.map(x: Double(box.x0), y: Double(box.y0))
        let (x1, y1) = t.map(x: Double(box.x1), y: Double(box.y1))
        return Box(x0: Float(x0), y0: Float(y0), x1: Float(x1), y1: Float(y1), label: box.label)
    }

    /// Segmentation: images letterboxed, masks letterboxed with nearest resampling and
    /// padding 255 (`ImagePreprocessing.prepareMask`), checked by `MaskFolder.checked`.
    public static func segmentation(
        _ pairs: [MaskFolder.Pair], classes: Int, preprocessing: ImagePreprocessing, progress: String?
    ) throws -> LoadedSplit {
        let results = ParallelDecoder.decodeEach(pairs.count, progress: progress) { i in
            let pair = pairs[i]
            let source = try ImageDecoder.decode(path: pair.image, channels: preprocessing.channels)
            let mask = try ImageDecoder.decodeLabels(path: pair.mask)
            _ = try MaskFolder.checked(
                mask: mask.pixels, width: mask.width, height: mask.height, image: (source.width, source.height),
                classes: classes, path: pair.mask)
            let (image, transform) = preprocessing.prepare(source)
            var planar: [UInt8] = []
            ImagePreprocessing.appendPlanar(image, to: &planar)
            return (planar, transform, preprocessing.prepareMask(mask).pixels)
        }
        var pixels: [UInt8] = []
        var masks: [UInt8] = []
        var transforms: [LetterboxTransform?] = []
        for result in results {
            let (planar, transform, mask) = try result.get()
            pixels += planar
            masks += mask
            transforms.append(transform)
        }
        let images = PreparedImages(preprocessing: preprocessing, pixels: pixels, transforms: transforms)
        return LoadedSplit(images: images, targets: .masks(ByteStore(masks)))
    }
}
