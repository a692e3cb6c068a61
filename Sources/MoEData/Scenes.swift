import MoETensor

/// An axis-aligned box with a class label, in pixel coordinates.
///
/// Coordinates are continuous with an exclusive maximum: a box covering pixel columns
/// `a...b` and rows `c...d` is `x0 = a, x1 = b + 1, y0 = c, y1 = d + 1`, so
/// `width = x1 − x0` and `area = width × height` count pixels exactly (no `+ 1` terms).
/// The same convention is used by the COCO reader (`x1 = x + w`) and by the detection
/// metrics (`IoU = area(A ∩ B) / area(A ∪ B)`).
public struct Box: Codable, Sendable, Equatable, Hashable {
    /// Left edge (inclusive).
    public var x0: Float
    /// Top edge (inclusive).
    public var y0: Float
    /// Right edge (exclusive).
    public var x1: Float
    /// Bottom edge (exclusive).
    public var y1: Float
    /// Class label in `0..<classes`.
    public var label: Int32

    public init(x0: Float, y0: Float, x1: Float, y1: Float, label: Int32) {
        self.x0 = x0
        self.y0 = y0
        self.x1 = x1
        self.y1 = y1
        self.label = label
    }

    /// `max(x1 − x0, 0)`.
    public var width: Float { max(x1 - x0, 0) }
    /// `max(y1 − y0, 0)`.
    public var height: Float { max(y1 - y0, 0) }
    /// `width × height`; 0 for an empty or inverted box.
    public var area: Float { width * height }
}

/// How scenes are composed (DESIGN §8). Every field has a default, and decoding fills in
/// the defaults for missing keys, so a recipe may name only what it changes.
///
/// A scene is a `canvas × canvas` single-channel image holding `minItems...maxItems` items;
/// each item is bilinearly rescaled so its longer side is `minScale...maxScale` pixels.
/// A pixel "belongs" to an item when the item's rescaled value there is strictly above
/// `threshold`.
public struct SceneConfig: Codable, Sendable, Equatable {
    /// Side of the square canvas in pixels.
    public var canvas: Int = 48
    /// Fewest items per scene (inclusive).
    public var minItems: Int = 1
    /// Most items per scene (inclusive), at most 254.
    public var maxItems: Int = 4
    /// Smallest rescaled item side in pixels (inclusive).
    public var minScale: Int = 14
    /// Largest rescaled item side in pixels (inclusive).
    public var maxScale: Int = 28
    /// Item pixels with a value `> threshold` are item pixels (boxes, masks, occlusion).
    public var threshold: UInt8 = 32

    /// Largest canvas side accepted (keeps `canvas²` allocations sane).
    public static let maxCanvas = 4096

    public init(
        canvas: Int = 48, minItems: Int = 1, maxItems: Int = 4,
        minScale: Int = 14, maxScale: Int = 28, threshold: UInt8 = 32
    ) {
        self.canvas = canvas
        self.minItems = minItems
        self.maxItems = maxItems
        self.minScale = minScale
        self.maxScale = maxScale
        self.threshold = threshold
    }

    private enum CodingKeys: String, CodingKey {
        case canvas, minItems, maxItems, minScale, maxScale, threshold
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.decodeIfPresent(&canvas, forKey: .canvas)
        try c.decodeIfPresent(&minItems, forKey: .minItems)
        try c.decodeIfPresent(&maxItems, forKey: .maxItems)
        try c.decodeIfPresent(&minScale, forKey: .minScale)
        try c.decodeIfPresent(&maxScale, forKey: .maxScale)
        try c.decodeIfPresent(&threshold, forKey: .threshold)
        do {
            try validate()
        } catch let error as DataError {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    /// Checks that the fields describe a possible scene.
    /// - Throws: `DataError.invalid` naming the offending field when `canvas` is outside
    ///   `1...maxCanvas`, `minItems < 0`, `maxItems < minItems` or `maxItems > 254`,
    ///   `minScale < 1`, or `maxScale < minScale` or `maxScale > 4 × canvas`.
    public func validate() throws {
        guard (1...Self.maxCanvas).contains(canvas) else {
            throw DataError.invalid(detail: "scene canvas \(canvas) must be in 1...\(Self.maxCanvas)")
        }
        guard minItems >= 0 else {
            throw DataError.invalid(detail: "scene minItems \(minItems) must not be negative")
        }
        guard maxItems >= minItems, maxItems <= 254 else {
            throw DataError.invalid(detail: "scene maxItems \(maxItems) must be in minItems (\(minItems))...254")
        }
        guard minScale >= 1 else {
            throw DataError.invalid(detail: "scene minScale \(minScale) must be at least 1")
        }
        guard maxScale >= minScale, maxScale <= 4 * canvas else {
            throw DataError.invalid(
                detail: "scene maxScale \(maxScale) must be in minScale (\(minScale))...4 × canvas (\(4 * canvas))")
        }
    }
}

/// One composed scene: a `size × size` single-channel image with its boxes and masks.
///
/// All per-pixel arrays are row-major `[size, size]` (`p = y × size + x`). Invariants, for
/// every pixel `p` (`t` = the config's threshold):
/// - `mask[p] != 0  ⇔  instances[p] != 0  ⇔  pixels[p] > t`;
/// - `instances[p] == j + 1  ⇒  mask[p] == boxes[j].label + 1`;
/// - `boxes[j]` is the tight box of `{p : instances[p] == j + 1}` (the visible part of item `j`).
public struct Scene: Sendable, Equatable {
    /// Canvas side in pixels.
    public let size: Int
    /// `[size, size]` grey values 0...255.
    public var pixels: [UInt8]
    /// `[size, size]` semantic labels: 0 background, `class + 1` where the item painted last
    /// at that pixel is above the threshold.
    public var mask: [UInt8]
    /// `[size, size]` instance ids: 0 background, `j + 1` for a pixel of `boxes[j]`'s item.
    public var instances: [UInt8]
    /// Boxes of the visible items, in painting order (back to front).
    public var boxes: [Box]
    /// `sources[j]` is the index, in the item dataset, of the image behind `boxes[j]`.
    public var sources: [Int]
    /// Items painted, including any that later items covered completely (so
    /// `boxes.count <= placedItems`).
    public var placedItems: Int

    public init(
        size: Int, pixels: [UInt8], mask: [UInt8], instances: [UInt8], boxes: [Box], sources: [Int],
        placedItems: Int
    ) {
        self.size = size
        self.pixels = pixels
        self.mask = mask
        self.instances = instances
        self.boxes = boxes
        self.sources = sources
        self.placedItems = placedItems
    }
}
