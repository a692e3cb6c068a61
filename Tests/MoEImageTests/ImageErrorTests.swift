import Foundation
import MoEImage
import Testing

/// Every broken file throws the right `ImageError`, naming the file, and no input traps.
@Suite struct ImageErrorTests {
    /// The case name of `error`, as manifest.json spells it.
    static func caseName(_ error: ImageError) -> String {
        switch error {
        case .unreadable: return "unreadable"
        case .empty: return "empty"
        case .unsupportedFormat: return "unsupportedFormat"
        case .corrupt: return "corrupt"
        case .cmykJPEG: return "cmykJPEG"
        case .unsupportedLayout: return "unsupportedLayout"
        case .tooLarge: return "tooLarge"
        case .unsupportedChannels: return "unsupportedChannels"
        case .internalFailure: return "internalFailure"
        }
    }

    /// The error `body` throws, or nil (recorded as an issue) if it returns.
    static func error(_ body: () throws(ImageError) -> DecodedImage) -> ImageError? {
        do {
            let image = try body()
            Issue.record("decoded a \(image.width)×\(image.height) image instead of throwing")
            return nil
        } catch {
            return error
        }
    }

    @Test func brokenFilesThrowTheRightError() throws {
        let fixtures = try Fixtures.load()
        #expect(fixtures.manifest.errors.count == 11)
        for broken in fixtures.manifest.errors {
            let path = fixtures.path(broken.file)
            guard let error = Self.error({ () throws(ImageError) in try ImageDecoder.decode(path: path) }) else {
                continue
            }
            #expect(Self.caseName(error) == broken.error, "\(broken.file): \(error)")
            #expect(error.file == path && error.description.contains(path), "\(error)")
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let fromBytes = Self.error { () throws(ImageError) in
                try ImageDecoder.decode(bytes: data, name: broken.file)
            }
            #expect(fromBytes.map(Self.caseName) == broken.error && fromBytes?.file == broken.file)
        }
    }

    @Test func messagesSayWhatIsWrongAndWhatIsExpected() throws {
        let fixtures = try Fixtures.load()
        func describe(_ file: String) -> String {
            let path = fixtures.path(file)
            return Self.error { () throws(ImageError) in try ImageDecoder.decode(path: path) }?.description ?? ""
        }
        #expect(describe("cmyk.jpg").contains("CMYK JPEG is not supported; convert to RGB"))
        #expect(describe("truncated.png").contains("libpng says \"unexpected end of file (the PNG is truncated)\""))
        #expect(describe("truncated.jpg").contains("libjpeg says \"Premature end of JPEG file\""))
        #expect(describe("bad_crc.png").contains("libpng says \"IDAT: CRC error\""))
        #expect(describe("bad_zlib.png").contains("libpng says \"IDAT: "))
        #expect(describe("text.png").contains("74 68 69 73 20 69 73 20 (\"this is \")"))
        #expect(describe("text.png").contains("expected PNG (89 50 4E 47 0D 0A 1A 0A) or JPEG (FF D8 FF)"))
        #expect(describe("empty.png").contains("is empty (0 bytes)"))
        #expect(describe("huge.png").contains("100000×100000 = 10000000000 pixels; at most 268435456"))
        #expect(describe("huge.jpg").contains("60000×60000"))
    }

    @Test func unreadablePathsAndBadRequests() throws {
        let fixtures = try Fixtures.load()
        let missing = fixtures.path("does-not-exist.png")
        let error = Self.error { () throws(ImageError) in try ImageDecoder.decode(path: missing) }
        #expect(error == .unreadable(file: missing, reason: "no such file"))
        let directory = Self.error { () throws(ImageError) in try ImageDecoder.decode(path: fixtures.directory) }
        #expect(directory == .unreadable(file: fixtures.directory, reason: "it is a directory"))
        let gray = fixtures.path("png_gray.png")
        let channels = Self.error { () throws(ImageError) in try ImageDecoder.decode(path: gray, channels: 4) }
        #expect(channels == .unsupportedChannels(file: gray, requested: 4))
        #expect(channels?.description.contains("expected 1 (gray) or 3 (RGB)") == true)
    }

    /// Every prefix of a PNG and of a JPEG either throws an ImageError or (a PNG cut only after
    /// its image data) decodes to the full image: truncation never traps or yields garbage.
    /// (Every proper prefix of a JPEG lacks at least its EOI marker, and libjpeg's "Premature
    /// end of JPEG file" is an error here, as "image file is truncated" is in Pillow.)
    @Test func everyPrefixThrowsOrDecodesFully() throws {
        let fixtures = try Fixtures.load()
        for (file, stride) in [
            ("png_rgba_tiny_interlaced.png", 1), ("png_palette4.png", 7), ("jpeg_progressive.jpg", 5),
        ] {
            let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixtures.path(file))))
            let full = try ImageDecoder.decode(bytes: data, name: file)
            var decoded = 0
            for length in Swift.stride(from: 0, to: data.count, by: stride) {
                do {
                    let image = try ImageDecoder.decode(bytes: data[0..<length], name: file)
                    #expect(image == full, "\(file) cut at \(length)")
                    decoded += 1
                } catch {
                    #expect(error.file == file)
                }
            }
            if file.hasSuffix(".jpg") {
                #expect(decoded == 0, "a JPEG prefix is truncated")
            } else {
                // Like Pillow, a PNG missing only its 12-byte IEND chunk still decodes.
                #expect(try ImageDecoder.decode(bytes: data.dropLast(12), name: file) == full)
            }
        }
    }

    /// Flipped bytes anywhere: the decoder throws or decodes, it never traps.
    @Test func corruptedBytesNeverTrap() throws {
        let fixtures = try Fixtures.load()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for file in ["png_rgb_interlaced.png", "png_palette_trns.png", "jpeg_rgb.jpg", "jpeg_progressive.jpg"] {
            let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixtures.path(file))))
            for _ in 0..<60 {
                var data = original
                for _ in 0..<3 {
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    data[Int(state >> 33) % data.count] ^= UInt8(truncatingIfNeeded: state >> 17) | 1
                }
                if let image = try? ImageDecoder.decode(bytes: data, name: file, channels: 3) {
                    #expect(image.pixels.count == image.width * image.height * 3)
                }
            }
        }
    }
}
