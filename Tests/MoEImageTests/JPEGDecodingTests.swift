import Foundation
import MoEImage
import Testing

/// JPEG decoding against Pillow, which uses the same libjpeg-turbo with the same settings:
/// the accurate integer IDCT (JDCT_ISLOW) and fancy upsampling. The tolerance is ±1 per
/// channel (another libjpeg build may round its colour conversion differently); with
/// Debian's shared libjpeg62-turbo the pixels are identical.
@Suite struct JPEGDecodingTests {
    static let files: [(String, Int)] = [
        ("jpeg_gray.jpg", 1), ("jpeg_rgb.jpg", 3), ("jpeg_rgb444.jpg", 3), ("jpeg_progressive.jpg", 3),
        ("jpeg_gray_progressive.jpg", 1), ("jpeg_large.jpg", 3), ("jpeg_large_progressive.jpg", 3),
        ("jpeg_large_gray.jpg", 1), ("jpeg_named.png", 3),
    ]

    @Test(arguments: files)
    func matchesPillowWithinOne(file: String, nativeChannels: Int) throws {
        let fixtures = try Fixtures.load()
        let expected = try fixtures.image(file)
        #expect(expected.format == "jpeg")
        let native = try ImageDecoder.decode(path: fixtures.path(file))
        #expect(native.channels == nativeChannels)
        #expect(native.width == expected.width && native.height == expected.height)
        let gray = try ImageDecoder.decode(path: fixtures.path(file), channels: 1)
        let rgb = try ImageDecoder.decode(path: fixtures.path(file), channels: 3)
        #expect(maxDifference(gray.pixels, bytes(expected.gray)) <= 1, "\(file) 'L'")
        #expect(maxDifference(rgb.pixels, bytes(expected.rgb)) <= 1, "\(file) 'RGB'")
    }

    /// `minimumSize` picks Pillow's `draft('RGB', size)` scale, so the size is Pillow's and
    /// the pixels within ±2 (DCT scaling is libjpeg's in both).
    @Test func dctScalingMatchesPillowDraft() throws {
        let fixtures = try Fixtures.load()
        #expect(fixtures.manifest.drafts.count >= 9)
        #expect(Set(fixtures.manifest.drafts.map(\.scale)) == [1, 2, 4, 8], "every scale is exercised")
        for draft in fixtures.manifest.drafts {
            let request = ImageSize(width: draft.request[0], height: draft.request[1])
            let image = try ImageDecoder.decode(path: fixtures.path(draft.file), channels: 3, minimumSize: request)
            #expect(image.width == draft.width && image.height == draft.height, "\(draft.file) for \(request)")
            #expect(maxDifference(image.pixels, bytes(draft.rgb)) <= 2, "\(draft.file) for \(request)")
        }
    }

    /// PNGs ignore the hint.
    @Test func pngIgnoresMinimumSize() throws {
        let fixtures = try Fixtures.load()
        let image = try ImageDecoder.decode(
            path: fixtures.path("png_rgb.png"), minimumSize: ImageSize(width: 10, height: 10))
        #expect(image.width == 97 && image.height == 73)
    }
}
