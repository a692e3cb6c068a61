import MoETensor

/// Detection and segmentation scenes composed from real item images (DESIGN §8), generated
/// lazily: scene `i` depends only on `(seed, split, i)` and the item dataset, so scenes can be
/// produced in any order, in parallel, and again later bit for bit.
///
/// Composition of scene `i` (all random draws from one `SeededGenerator` seeded with
/// `mix(mix(mix(seed) ^ tag(split)) ^ i)`, in this order):
/// 1. `n ~ U{minItems…maxItems}` items;
/// 2. for each item `k` in `0..<n`: a source image `u ~ U{0…count−1}`, a scale
///    `s ~ U{minScale…maxScale}`, then a position. The image (`h × w`) is rescaled bilinearly
///    to `round(s·h/m) × round(s·w/m)` with `m = max(h, w)` (half-pixel centres, as
///    `align_corners=false`: source coordinate `(o + ½)·h/h' − ½`, clamped to the image).
///    Its top-left corner is drawn uniformly so the item lies inside the canvas
///    (`x ~ U{0…S−w'}`); an item larger than the canvas `S` gets `x ~ U{S−w'…0}` and is clipped.
/// 3. Items are painted back to front. Where item `k`'s value `v > threshold`, it replaces
///    the canvas pixel and takes ownership of it (mask `label+1`, instance `k`); where
///    `v <= threshold` the canvas keeps `max(canvas, v)`, so faint edges show on the
///    background but never change ownership or cover an earlier item.
/// 4. Box of item `k` = tight box of the pixels it owns at the end (its *visible* part, like
///    a COCO box derived from the visible segmentation), in pixels with exclusive max.
///    **An item that owns no pixel (covered completely by later items, or with no pixel above
///    the threshold) gets no box** and no instance id; it still counts in `placedItems`.
///
/// Cost: `O(S² + Σ s_k²)` per scene, i.e. `O(canvas area × items)` at most.
public struct SceneGenerator: Sendable {
    /// The items scenes are composed from (single-channel images).
    public let items: ImageDataset
    /// Which split the items come from; part of every scene's seed, so train and test
    /// scenes differ even with one seed.
    public let split: FashionMNIST.Split
    /// Composition parameters.
    public let config: SceneConfig
    /// Base seed.
    public let seed: UInt64

    /// A generator composing scenes from `items`.
    /// - Throws: `DataError.invalid` when `config` is invalid (see `SceneConfig.validate`),
    ///   `items` is empty, has more than one channel, or has more than 254 classes (mask
    ///   labels are `class + 1` in a byte).
    public init(items: ImageDataset, split: FashionMNIST.Split, config: SceneConfig = SceneConfig(), seed: UInt64)
        throws
    {
        try config.validate()
        guard items.count > 0 else {
            throw DataError.invalid(detail: "\(items.name): scenes need at least one item image")
        }
        guard items.channels == 1 else {
            throw DataError.invalid(
                detail: "\(items.name): scene items must have 1 channel, got \(items.channels)")
        }
        guard items.classes <= 254 else {
            throw DataError.invalid(
                detail: "\(items.name): \(items.classes) classes do not fit a byte mask (at most 254)")
        }
        self.items = items
        self.split = split
        self.config = config
        self.seed = seed
    }

    /// Scenes of Fashion-MNIST `split` (train scenes from train items, test from test).
    /// - Throws: anything `FashionMNIST.load` or `init(items:split:config:seed:)` throws.
    public static func fashionMNIST(
        split: FashionMNIST.Split, config: SceneConfig = SceneConfig(), seed: UInt64,
        directory: String = FashionMNIST.defaultDirectory
    ) throws -> SceneGenerator {
        try SceneGenerator(
            items: FashionMNIST.load(split: split, directory: directory), split: split, config: config, seed: seed)
    }

    /// Number of classes (`items.classes`); mask labels are in `0...classes`.
    public var classes: Int { items.classes }

    /// The random stream of scene `index`.
    func generator(for index: Int) -> SeededGenerator {
        let tag: UInt64 = split == .train ? 0x7472_6169_6E : 0x7465_7374  // "train", "test"
        return SeededGenerator(seed: mix(mix(mix(seed) ^ tag) ^ UInt64(bitPattern: Int64(index))))
    }

    /// Scene number `index` (any integer; usually `0..<count` of an epoch).
    public func scene(_ index: Int) -> Scene {
        var rng = generator(for: index)
        let c = config
        let side = c.canvas
        let area = side * side
        var pixels = [UInt8](repeating: 0, count: area)
        // Owner item per pixel, −1 for background.
        var owner = [Int](repeating: -1, count: area)
        let n = c.minItems + rng.index(below: c.maxItems - c.minItems + 1)
        var labels = [Int32]()
        var sources = [Int]()
        labels.reserveCapacity(n)
        sources.reserveCapacity(n)
        let longest = max(items.height, items.width)
        var patch = [UInt8]()

        for k in 0..<n {
            let u = rng.index(below: items.count)
            let s = c.minScale + rng.index(below: c.maxScale - c.minScale + 1)
            let h = max(1, (s * items.height + longest / 2) / longest)
            let w = max(1, (s * items.width + longest / 2) / longest)
            let top = Self.offset(item: h, canvas: side, rng: &rng)
            let left = Self.offset(item: w, canvas: side, rng: &rng)
            labels.append(items.labels[u])
            sources.append(u)
            resample(item: u, height: h, width: w, into: &patch)

            // Paint the clipped rectangle.
            let y0 = max(top, 0)
            let y1 = min(top + h, side)
            let x0 = max(left, 0)
            let x1 = min(left + w, side)
            guard y0 < y1, x0 < x1 else { continue }
            for y in y0..<y1 {
                let row = (y - top) * w - left
                for x in x0..<x1 {
                    let v = patch[row + x]
                    let p = y * side + x
                    if v > c.threshold {
                        pixels[p] = v
                        owner[p] = k
                    } else if v > pixels[p] {
                        pixels[p] = v
                    }
                }
            }
        }

        let (minX, minY, maxX, maxY) = Self.tightBoxes(owner: owner, side: side, items: n)
        var boxes = [Box]()
        var keptSources = [Int]()
        var instanceOf = [UInt8](repeating: 0, count: n)
        for k in 0..<n where maxX[k] >= 0 {
            boxes.append(
                Box(
                    x0: Float(minX[k]), y0: Float(minY[k]), x1: Float(maxX[k] + 1), y1: Float(maxY[k] + 1),
                    label: labels[k]))
            keptSources.append(sources[k])
            instanceOf[k] = UInt8(boxes.count)
        }
        var mask = [UInt8](repeating: 0, count: area)
        var instances = [UInt8](repeating: 0, count: area)
        for p in 0..<area {
            let k = owner[p]
            guard k >= 0 else { continue }
            mask[p] = UInt8(labels[k] + 1)
            instances[p] = instanceOf[k]
        }
        return Scene(
            size: side, pixels: pixels, mask: mask, instances: instances, boxes: boxes, sources: keptSources,
            placedItems: n)
    }

    /// Per item, the inclusive bounds of the pixels it owns (max −1 when it owns none).
    static func tightBoxes(owner: [Int], side: Int, items n: Int)
        -> (minX: [Int], minY: [Int], maxX: [Int], maxY: [Int])
    {
        var minX = [Int](repeating: side, count: n)
        var minY = minX
        var maxX = [Int](repeating: -1, count: n)
        var maxY = maxX
        for y in 0..<side {
            for x in 0..<side {
                let k = owner[y * side + x]
                guard k >= 0 else { continue }
                minX[k] = min(minX[k], x)
                maxX[k] = max(maxX[k], x)
                minY[k] = min(minY[k], y)
                maxY[k] = max(maxY[k], y)
            }
        }
        return (minX, minY, maxX, maxY)
    }

    /// Top-left coordinate of an item of extent `item` on a canvas of side `canvas`:
    /// uniform over the positions that keep it inside, or, when it is larger, uniform over
    /// the positions that keep the canvas covered.
    private static func offset(item: Int, canvas: Int, rng: inout SeededGenerator) -> Int {
        let slack = canvas - item
        return slack >= 0 ? rng.index(below: slack + 1) : slack + rng.index(below: -slack + 1)
    }

    /// Bilinear resampling of item image `index` to `height × width` (half-pixel centres),
    /// rounded to the nearest byte, into `out` (row-major).
    func resample(item index: Int, height: Int, width: Int, into out: inout [UInt8]) {
        let ih = items.height
        let iw = items.width
        let (ys, wy) = Self.taps(output: height, input: ih)
        let (xs, wx) = Self.taps(output: width, input: iw)
        if out.count != height * width { out = [UInt8](repeating: 0, count: height * width) }
        let base = index * ih * iw
        items.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for oy in 0..<height {
                    let r0 = base + ys[oy] * iw
                    let r1 = base + min(ys[oy] + 1, ih - 1) * iw
                    let fy = wy[oy]
                    for ox in 0..<width {
                        let c0 = xs[ox]
                        let c1 = min(xs[ox] + 1, iw - 1)
                        let fx = wx[ox]
                        let top = Float(src[r0 + c0]) * (1 - fx) + Float(src[r0 + c1]) * fx
                        let bottom = Float(src[r1 + c0]) * (1 - fx) + Float(src[r1 + c1]) * fx
                        let v = top * (1 - fy) + bottom * fy
                        dst[oy * width + ox] = UInt8(min(max(v.rounded(), 0), 255))
                    }
                }
            }
        }
    }

    /// For each output coordinate `o`, the lower source index `floor(c)` and weight
    /// `c − floor(c)` of `c = clamp((o + ½)·input/output − ½, 0, input − 1)`.
    static func taps(output: Int, input: Int) -> (index: [Int], weight: [Float]) {
        let ratio = Float(input) / Float(output)
        var index = [Int](repeating: 0, count: output)
        var weight = [Float](repeating: 0, count: output)
        for o in 0..<output {
            let c = min(max((Float(o) + 0.5) * ratio - 0.5, 0), Float(input - 1))
            let f = c.rounded(.down)
            index[o] = Int(f)
            weight[o] = c - f
        }
        return (index, weight)
    }

    // MARK: - Batching

    /// Mean and standard deviation of `p / 255` over scenes `0..<scenes`, for normalising
    /// scene batches (scenes are mostly background, so the item dataset's statistics do not fit).
    public func pixelStatistics(scenes: Int = 256) -> (mean: Float, std: Float) {
        var all = [UInt8]()
        all.reserveCapacity(max(scenes, 0) * config.canvas * config.canvas)
        for i in 0..<max(scenes, 0) { all += scene(i).pixels }
        return ImageDataset.statistics(of: all)
    }

    /// Scenes `indices` as a batch: images `[B, 1, S, S]` normalised as `(p/255 − mean)/std`,
    /// masks `[B·S·S]` (labels 0...classes as `Int32`, row-major per scene), and the boxes of
    /// each scene.
    public func makeBatch(indices: [Int], mean: Float, std: Float) -> (images: Tensor, masks: [Int32], boxes: [[Box]]) {
        let side = config.canvas
        let area = side * side
        var images = Tensor(shape: [indices.count, 1, side, side])
        var masks = [Int32](repeating: 0, count: indices.count * area)
        var boxes = [[Box]]()
        boxes.reserveCapacity(indices.count)
        let scale = 1 / (255 * std)
        let shift = mean / std
        for (b, i) in indices.enumerated() {
            let s = scene(i)
            for p in 0..<area {
                images.storage[b * area + p] = Float(s.pixels[p]) * scale - shift
                masks[b * area + p] = Int32(s.mask[p])
            }
            boxes.append(s.boxes)
        }
        return (images, masks, boxes)
    }
}

/// SplitMix64's finaliser: a bijective 64-bit mixer.
private func mix(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
