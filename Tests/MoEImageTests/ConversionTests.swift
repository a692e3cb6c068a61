import MoEImage
import Testing

/// Channel conversion is Pillow's: gray → RGB repeats, RGB → gray is its fixed-point luma.
@Suite struct ConversionTests {
    /// Values from Pillow 9.4 `convert('L')`; the /1000 integer form gives 149, 123 and 1 for
    /// the last three, so it is not what Pillow computes.
    @Test func lumaMatchesPillow() {
        let cases: [((UInt8, UInt8, UInt8), UInt8)] = [
            ((255, 0, 0), 76), ((0, 0, 255), 29), ((0, 255, 0), 150), ((10, 200, 30), 124), ((1, 2, 3), 2),
        ]
        for ((r, g, b), expected) in cases {
            #expect(DecodedImage.luma(red: r, green: g, blue: b) == expected, "(\(r), \(g), \(b))")
        }
        for v in 0...255 {
            let u = UInt8(v)
            #expect(DecodedImage.luma(red: u, green: u, blue: u) == u, "gray stays gray")
        }
    }

    @Test func grayToRGBAndBack() {
        let gray = DecodedImage(width: 3, height: 2, channels: 1, pixels: [0, 1, 50, 128, 254, 255])
        let rgb = gray.converted(toChannels: 3)
        #expect(rgb.channels == 3 && rgb.pixels == gray.pixels.flatMap { [$0, $0, $0] })
        #expect(rgb.converted(toChannels: 1) == gray)
        #expect(gray.converted(toChannels: 1) == gray)
    }
}
