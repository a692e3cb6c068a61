import Foundation
import MoEData
import MoETensor
import Testing

/// `count` single-channel `side × side` items; item `k` is constant `40 + 20·(k % 10)`
/// with label `k % 10`, so a canvas pixel's value names the class that painted it.
private func constantItems(count: Int = 10, side: Int = 28, channels: Int = 1) throws -> ImageDataset {
    var pixels = [UInt8]()
    for k in 0..<count {
        pixels += [UInt8](repeating: UInt8(40 + 20 * (k % 10)), count: channels * side * side)
    }
    return try ImageDataset(
        name: "constant", channels: channels, height: side, width: side, pixels: pixels,
        labels: (0..<count).map { Int32($0 % 10) }, classes: 10, mean: 0.5, std: 0.25)
}

/// Checks every documented invariant of `scene`; returns nothing, records failures.
private func checkInvariants(_ scene: Scene, config: SceneConfig, items: ImageDataset, sourceLimit: Int? = nil) {
    let s = config.canvas
    #expect(scene.size == s)
    #expect(scene.pixels.count == s * s && scene.mask.count == s * s && scene.instances.count == s * s)
    #expect((config.minItems...config.maxItems).contains(scene.placedItems))
    #expect(scene.boxes.count <= scene.placedItems)
    #expect(scene.sources.count == scene.boxes.count)
    #expect(scene.mask.allSatisfy { $0 <= UInt8(items.classes) })
    // Counted, not expected per pixel, to keep the test fast.
    var badOwnership = 0
    for p in 0..<(s * s) {
        let owned = scene.pixels[p] > config.threshold
        if (scene.mask[p] != 0) != owned || (scene.instances[p] != 0) != owned
            || Int(scene.instances[p]) > scene.boxes.count
        {
            badOwnership += 1
        }
    }
    #expect(badOwnership == 0, "pixels whose mask, instance and value disagree")
    for (j, box) in scene.boxes.enumerated() {
        let source = scene.sources[j]
        #expect(source >= 0 && source < (sourceLimit ?? items.count))
        #expect(box.label == items.labels[source])
        #expect(box.x0 >= 0 && box.y0 >= 0 && box.x1 <= Float(s) && box.y1 <= Float(s))
        #expect(box.x0 < box.x1 && box.y0 < box.y1)
        // Tight: the box is exactly the extent of the item's visible pixels.
        var minX = s
        var minY = s
        var maxX = -1
        var maxY = -1
        var wrongLabel = 0
        for y in 0..<s {
            for x in 0..<s where scene.instances[y * s + x] == UInt8(j + 1) {
                if scene.mask[y * s + x] != UInt8(box.label + 1) { wrongLabel += 1 }
                minX = min(minX, x)
                maxX = max(maxX, x)
                minY = min(minY, y)
                maxY = max(maxY, y)
            }
        }
        #expect(wrongLabel == 0)
        #expect(maxX >= 0, "box \(j) has visible pixels")
        #expect(
            box == Box(x0: Float(minX), y0: Float(minY), x1: Float(maxX + 1), y1: Float(maxY + 1), label: box.label))
    }
}

@Suite struct SceneGeneratorTests {
    static let configs: [SceneConfig] = [
        SceneConfig(),
        SceneConfig(canvas: 56, minItems: 2, maxItems: 6, minScale: 10, maxScale: 40, threshold: 16),
        // Items larger than the canvas are clipped.
        SceneConfig(canvas: 24, minItems: 1, maxItems: 3, minScale: 20, maxScale: 40, threshold: 64),
    ]

    @Test("every scene satisfies the box and mask invariants", arguments: configs, [UInt64(1), 99])
    func invariants(config: SceneConfig, seed: UInt64) throws {
        let test = try fashionTest.get()
        let generator = try SceneGenerator(items: test, split: .test, config: config, seed: seed)
        var counts = Set<Int>()
        for i in 0..<150 {
            let scene = generator.scene(i)
            counts.insert(scene.placedItems)
            checkInvariants(scene, config: config, items: test)
        }
        // Every item count of the range turns up in 150 scenes.
        #expect(counts == Set(config.minItems...config.maxItems))
    }

    @Test func deterministicByIndexInAnyOrder() throws {
        let test = try fashionTest.get()
        let a = try SceneGenerator(items: test, split: .test, seed: 7)
        let b = try SceneGenerator(items: test, split: .test, seed: 7)
        let forward = (0..<20).map { a.scene($0) }
        let backward = (0..<20).reversed().map { b.scene($0) }.reversed()
        #expect(Array(backward) == forward)
        #expect(a.scene(3) == a.scene(3))
        for i in 0..<19 { #expect(forward[i] != forward[i + 1]) }
        // Another seed, or another split tag over the same items, gives other scenes.
        let otherSeed = try SceneGenerator(items: test, split: .test, seed: 8)
        let otherSplit = try SceneGenerator(items: test, split: .train, seed: 7)
        #expect(otherSeed.scene(0) != forward[0])
        #expect(otherSplit.scene(0) != forward[0])
    }

    @Test func scenesUseOnlyTheGivenItems() throws {
        let test = try fashionTest.get()
        let items = test.subset(Array(100..<150), name: "fashion-mnist-test-50")
        let config = SceneConfig(minItems: 3, maxItems: 4)
        let generator = try SceneGenerator(items: items, split: .test, config: config, seed: 3)
        for i in 0..<100 {
            let scene = generator.scene(i)
            checkInvariants(scene, config: config, items: items, sourceLimit: 50)
            for (j, source) in scene.sources.enumerated() {
                #expect(scene.boxes[j].label == test.labels[100 + source])
            }
        }
        // Constant items: every painted pixel value belongs to the item that owns it.
        let constant = try constantItems()
        let flat = try SceneGenerator(items: constant, split: .train, config: config, seed: 4)
        for i in 0..<50 {
            let scene = flat.scene(i)
            for p in 0..<scene.pixels.count where scene.mask[p] != 0 {
                #expect(scene.pixels[p] == UInt8(40 + 20 * (Int(scene.mask[p]) - 1)))
            }
        }
    }

    @Test func coveredItemsLoseTheirBoxes() throws {
        // Many large items on a small canvas: some are hidden completely by later ones.
        let config = SceneConfig(canvas: 28, minItems: 6, maxItems: 8, minScale: 24, maxScale: 28)
        let generator = try SceneGenerator(items: constantItems(), split: .train, config: config, seed: 5)
        var dropped = 0
        for i in 0..<50 {
            let scene = generator.scene(i)
            checkInvariants(scene, config: config, items: generator.items)
            dropped += scene.placedItems - scene.boxes.count
        }
        #expect(dropped > 0)
    }

    @Test func bilinearRescaleAveragesAndCopies() throws {
        let test = try fashionTest.get()
        let item = test.subset([0])
        let src = item.pixels
        // Scale 28 on a 28 canvas: the item is copied unchanged to (0, 0).
        let same = try SceneGenerator(
            items: item, split: .test,
            config: SceneConfig(canvas: 28, minItems: 1, maxItems: 1, minScale: 28, maxScale: 28), seed: 1)
        #expect(same.scene(0).pixels == src)
        #expect(same.scene(0).boxes.count == 1)
        // Scale 14: each pixel is the rounded mean of a 2×2 block (half-pixel centres).
        let half = try SceneGenerator(
            items: item, split: .test,
            config: SceneConfig(canvas: 14, minItems: 1, maxItems: 1, minScale: 14, maxScale: 14), seed: 1)
        let pixels = half.scene(0).pixels
        for y in 0..<14 {
            for x in 0..<14 {
                let sum = [0, 1, 28, 29].reduce(0) { $0 + Int(src[2 * y * 28 + 2 * x + $1]) }
                #expect(Int(pixels[y * 14 + x]) == (sum + 2) / 4, "pixel (\(x), \(y))")
            }
        }
    }

    @Test func batchesAreNormalisedScenes() throws {
        let generator = try SceneGenerator(items: fashionTest.get(), split: .test, seed: 2)
        let stats = generator.pixelStatistics(scenes: 64)
        #expect(stats.mean > 0.02 && stats.mean < 0.5 && stats.std > 0.05)
        let (images, masks, boxes) = generator.makeBatch(indices: [5, 9], mean: stats.mean, std: stats.std)
        #expect(images.shape == [2, 1, 48, 48])
        #expect(masks.count == 2 * 48 * 48 && boxes.count == 2)
        let scene = generator.scene(9)
        #expect(boxes[1] == scene.boxes)
        #expect(Array(masks[2304...]) == scene.mask.map { Int32($0) })
        let p = 1000
        let expected = (Float(scene.pixels[p]) / 255 - stats.mean) / stats.std
        #expect(abs(images.storage[2304 + p] - expected) < 1e-5)
    }
}

@Suite struct SceneConfigTests {
    @Test(
        "invalid configurations are refused",
        arguments: [
            SceneConfig(canvas: 0), SceneConfig(canvas: 5000), SceneConfig(minItems: -1),
            SceneConfig(minItems: 3, maxItems: 2), SceneConfig(maxItems: 255), SceneConfig(minScale: 0),
            SceneConfig(minScale: 20, maxScale: 10), SceneConfig(canvas: 8, maxScale: 33),
        ])
    func invalid(config: SceneConfig) throws {
        #expect(throws: DataError.self) { try config.validate() }
        #expect(throws: DataError.self) {
            try SceneGenerator(items: constantItems(), split: .train, config: config, seed: 0)
        }
    }

    @Test func decodingFillsDefaultsAndValidates() throws {
        let partial = try JSONDecoder().decode(SceneConfig.self, from: Data(#"{"canvas": 56, "maxItems": 2}"#.utf8))
        #expect(partial == SceneConfig(canvas: 56, maxItems: 2))
        let full = SceneConfig(canvas: 40, minItems: 2, maxItems: 3, minScale: 9, maxScale: 30, threshold: 10)
        #expect(try JSONDecoder().decode(SceneConfig.self, from: JSONEncoder().encode(full)) == full)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(SceneConfig.self, from: Data(#"{"minScale": 30, "maxScale": 20}"#.utf8))
        }
    }

    @Test func itemsMustBeSingleChannelAndNonEmpty() throws {
        let rgb = try constantItems(count: 2, channels: 3)
        #expect(throws: DataError.self) { try SceneGenerator(items: rgb, split: .train, seed: 0) }
        let empty = try constantItems().subset([])
        #expect(throws: DataError.self) { try SceneGenerator(items: empty, split: .train, seed: 0) }
    }
}
