import MoEImage
import Testing

/// Bilinear resizing is Pillow's `resize(size, BILINEAR)` bit for bit, nearest-neighbour never
/// blends, and the classification helpers follow torchvision's size and offset rules.
@Suite struct ResizeTests {
    static func row(_ values: [UInt8]) -> DecodedImage {
        DecodedImage(width: values.count, height: 1, channels: 1, pixels: values)
    }

    /// 4 → 2: scale 2, support 2. Output 0 has centre 1 and reads sources 0…2 with triangle
    /// weights 0.75, 0.75, 0.25 → normalised 3/7, 3/7, 1/7 → 2²² fixed point 1797559, 1797559,
    /// 599186: (0 · 1797559 + 100 · 1797559 + 200 · 599186 + 2²¹) >> 22 = 71. Values from Pillow.
    @Test func bilinearKnownValues() {
        #expect(Self.row([0, 100, 200, 255]).resized(width: 2, height: 1).pixels == [71, 209])
        // 2 → 4 (upscaling, support 1): centres 0.25, 0.75, 1.25, 1.75 → weights 1, ¼, ¾, 1 on 255.
        #expect(Self.row([0, 255]).resized(width: 4, height: 1).pixels == [0, 64, 191, 255])
        let grid = DecodedImage(width: 4, height: 3, channels: 1, pixels: (0..<12).map { UInt8($0 * 20) })
        #expect(grid.resized(width: 2, height: 2).pixels == [44, 76, 144, 176])
    }

    @Test func nearestKnownValuesAndNoBlending() {
        #expect(
            Self.row([10, 20, 30]).resized(width: 6, height: 1, filter: .nearest).pixels == [10, 10, 20, 20, 30, 30])
        #expect(
            Self.row([0, 10, 20, 30, 40, 50]).resized(width: 3, height: 1, filter: .nearest).pixels == [10, 30, 50])
        let labels: [UInt8] = (0..<(13 * 11)).map { [0, 3, 255][($0 * 7 + $0 / 13) % 3] }
        let mask = DecodedImage(width: 13, height: 11, channels: 1, pixels: labels)
        for (w, h) in [(5, 4), (29, 31), (13, 3), (1, 1)] {
            #expect(Set(mask.resized(width: w, height: h, filter: .nearest).pixels).isSubset(of: [0, 3, 255]))
        }
    }

    /// Every resize recorded by make-test-images.py, on the decoded fixture, equals Pillow's.
    @Test func matchesPillowResize() throws {
        let fixtures = try Fixtures.load()
        #expect(fixtures.manifest.resizes.count == 15)
        for resize in fixtures.manifest.resizes {
            let path = fixtures.path(resize.file)
            let source =
                resize.mode == "raw"
                ? try ImageDecoder.decodeLabels(path: path)
                : try ImageDecoder.decode(path: path, channels: resize.mode == "L" ? 1 : 3)
            let filter: ResizeFilter = resize.filter == "nearest" ? .nearest : .bilinear
            let out = source.resized(width: resize.width, height: resize.height, filter: filter)
            let label = "\(resize.file) \(resize.mode) → \(resize.width)×\(resize.height) \(resize.filter)"
            #expect(
                out.pixels == bytes(resize.pixels),
                "\(label): max diff \(maxDifference(out.pixels, bytes(resize.pixels)))")
        }
    }

    @Test func shorterSideFollowsTorchvision() {
        #expect(DecodedImage.shorterSideSize(width: 97, height: 73, side: 50) == ImageSize(width: 66, height: 50))
        #expect(DecodedImage.shorterSideSize(width: 30, height: 300, side: 10) == ImageSize(width: 10, height: 100))
        #expect(DecodedImage.shorterSideSize(width: 100, height: 100, side: 7) == ImageSize(width: 7, height: 7))
        #expect(DecodedImage.shorterSideSize(width: 500, height: 375, side: 224) == ImageSize(width: 298, height: 224))
        let image = DecodedImage(width: 97, height: 73, channels: 3, repeating: 9)
        let resized = image.resizedShorterSide(to: 50)
        #expect(resized.size == ImageSize(width: 66, height: 50) && resized.channels == 3)
        #expect(resized.pixels.allSatisfy { $0 == 9 }, "a constant image stays constant")
    }

    /// Offsets round((W − w) / 2) half to even, as torchvision's CenterCrop (Python's round).
    @Test func centerCropOffsets() {
        let ramp = Self.row((0..<9).map { UInt8($0) })
        #expect(ramp.cropped(x: 0, y: 0, width: 9, height: 1) == ramp)
        #expect(Self.row([0, 1, 2, 3, 4]).centerCropped(width: 2, height: 1).pixels == [2, 3])  // round(1.5) = 2
        #expect(Self.row([0, 1, 2, 3, 4, 5]).centerCropped(width: 1, height: 1).pixels == [2])  // round(2.5) = 2
        #expect(ramp.centerCropped(width: 2, height: 1).pixels == [4, 5])  // round(3.5) = 4
        #expect(ramp.centerCropped(width: 3, height: 1).pixels == [3, 4, 5])  // 6 / 2 = 3
        let rgb = DecodedImage(width: 4, height: 3, channels: 3, pixels: (0..<36).map { UInt8($0) })
        let crop = rgb.centerCropped(width: 2, height: 1)
        // left = round(1) = 1, top = round(1) = 1: pixels (1, 1) and (2, 1).
        #expect(crop.pixels == [15, 16, 17, 18, 19, 20])
    }
}
