import Foundation
import MoEImage
import Testing

/// PNG decoding must give exactly Pillow's `convert('L')` and `convert('RGB')` pixels for
/// every PNG kind, and the file's own channel count (gray kinds 1, colour kinds 3) when no
/// channel count is requested.
@Suite struct PNGDecodingTests {
    /// (fixture, channels without a request)
    static let kinds: [(String, Int)] = [
        ("png_gray.png", 1), ("png_gray_alpha.png", 1), ("png_gray_trns.png", 1), ("png_gray1.png", 1),
        ("png_rgb.png", 3), ("png_rgb_trns.png", 3), ("png_rgba.png", 3), ("png_palette.png", 3),
        ("png_palette_trns.png", 3), ("png_palette4.png", 3), ("png_gray16.png", 1), ("png_rgb16.png", 3),
        ("png_gray_alpha16.png", 1), ("png_rgba16.png", 3), ("png_rgb_interlaced.png", 3),
        ("png_gray_interlaced.png", 1), ("png_gray16_interlaced.png", 1), ("png_rgba_tiny_interlaced.png", 3),
    ]

    @Test(arguments: kinds)
    func matchesPillowExactly(file: String, nativeChannels: Int) throws {
        let fixtures = try Fixtures.load()
        let expected = try fixtures.image(file)
        let native = try ImageDecoder.decode(path: fixtures.path(file))
        #expect(native.width == expected.width && native.height == expected.height)
        #expect(native.channels == nativeChannels, "\(file) (\(expected.kind))")
        let gray = try ImageDecoder.decode(path: fixtures.path(file), channels: 1)
        let rgb = try ImageDecoder.decode(path: fixtures.path(file), channels: 3)
        #expect(gray.channels == 1 && rgb.channels == 3)
        #expect(
            gray.pixels == bytes(expected.gray),
            "\(file): 'L' differs from Pillow by \(maxDifference(gray.pixels, bytes(expected.gray)))")
        #expect(
            rgb.pixels == bytes(expected.rgb),
            "\(file): 'RGB' differs from Pillow by \(maxDifference(rgb.pixels, bytes(expected.rgb)))")
    }

    /// decode(bytes:name:) is decode(path:) without the file read.
    @Test func bytesAndPathAgree() throws {
        let fixtures = try Fixtures.load()
        for (file, _) in Self.kinds {
            let data = try Data(contentsOf: URL(fileURLWithPath: fixtures.path(file)))
            let fromBytes = try ImageDecoder.decode(bytes: [UInt8](data), name: file, channels: 3)
            #expect(try fromBytes == ImageDecoder.decode(path: fixtures.path(file), channels: 3), "\(file)")
        }
    }

    /// Label masks: palette PNGs give their indices, 8-bit gray its values — what
    /// `Image.open(f).tobytes()` gives for modes 'P' and 'L'.
    @Test func labelsAreRawSamples() throws {
        let fixtures = try Fixtures.load()
        let withRaw = fixtures.manifest.images.filter { $0.raw != nil }
        #expect(withRaw.count >= 5, "palette, palette+tRNS, 4-bit palette and gray fixtures carry raw samples")
        for image in withRaw {
            let labels = try ImageDecoder.decodeLabels(path: fixtures.path(image.file))
            #expect(labels.channels == 1 && labels.width == image.width && labels.height == image.height)
            #expect(labels.pixels == bytes(image.raw ?? ""), "\(image.file) (\(image.kind))")
        }
        // A 1-bit mask keeps its 0/1 samples (not Pillow's 0/255 for mode '1').
        let oneBit = try ImageDecoder.decodeLabels(path: fixtures.path("png_gray1.png"))
        let scaled = try ImageDecoder.decode(path: fixtures.path("png_gray1.png"))
        #expect(Set(oneBit.pixels) == [0, 1])
        #expect(oneBit.pixels.map { $0 * 255 } == scaled.pixels)
    }

    @Test func labelsRefuseColourAndJPEG() throws {
        let fixtures = try Fixtures.load()
        for file in ["png_rgb.png", "png_rgb16.png", "jpeg_gray.jpg", "png_gray16.png"] {
            #expect {
                try ImageDecoder.decodeLabels(path: fixtures.path(file))
            } throws: { error in
                guard case .unsupportedLayout(let name, _, let detail) = error as? ImageError else { return false }
                return name == fixtures.path(file) && !detail.isEmpty
            }
        }
    }
}
