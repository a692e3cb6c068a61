import MoEImage
import Testing

/// Letterboxing keeps the aspect ratio, centres the content, and its transform maps points
/// exactly both ways; masks letterboxed with `.nearest` stay aligned and unblended.
@Suite struct LetterboxTests {
    @Test func geometryOfWideAndTallImages() {
        let wide = LetterboxTransform(
            fitting: ImageSize(width: 100, height: 50), into: ImageSize(width: 64, height: 64))
        #expect(
            wide
                == LetterboxTransform(
                    sourceWidth: 100, sourceHeight: 50, contentWidth: 64, contentHeight: 32, offsetX: 0, offsetY: 16))
        #expect(wide.scaleX == 0.64 && wide.scaleY == 0.64)
        #expect(wide.map(x: 0, y: 0) == (0, 16) && wide.map(x: 100, y: 50) == (64, 48))
        // 3×5 into 8×8: the height limits; width round(3 · 8 / 5) = round(4.8) = 5, offset ⌊3 / 2⌋.
        let tall = LetterboxTransform(fitting: ImageSize(width: 3, height: 5), into: ImageSize(width: 8, height: 8))
        #expect(tall.contentWidth == 5 && tall.contentHeight == 8 && tall.offsetX == 1 && tall.offsetY == 0)
        // Upscaling: 2×1 into 10×10 → 10×5 at y offset ⌊5 / 2⌋ = 2.
        let up = LetterboxTransform(fitting: ImageSize(width: 2, height: 1), into: ImageSize(width: 10, height: 10))
        #expect(up.contentWidth == 10 && up.contentHeight == 5 && up.offsetY == 2 && up.scaleX == 5)
    }

    @Test func imageIsResizedContentOnFill() {
        let source = DecodedImage(width: 7, height: 3, channels: 3, pixels: (0..<63).map { UInt8($0 * 4) })
        let (canvas, transform) = source.letterboxed(width: 16, height: 12, fill: 114)
        let content = source.resized(width: transform.contentWidth, height: transform.contentHeight)
        #expect(canvas.size == ImageSize(width: 16, height: 12) && canvas.channels == 3)
        #expect(transform.contentWidth == 16 && transform.contentHeight == 7 && transform.offsetY == 2)
        for y in 0..<12 {
            for x in 0..<16 {
                let inside = (2..<9).contains(y)
                for c in 0..<3 {
                    #expect(canvas[x, y, c] == (inside ? content[x, y - 2, c] : 114), "(\(x), \(y), \(c))")
                }
            }
        }
    }

    @Test func pointsRoundTrip() {
        var state: UInt64 = 7
        func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        for (w, h, cw, ch) in [(100, 50, 64, 64), (3, 5, 8, 8), (640, 427, 224, 224), (97, 73, 300, 100)] {
            let t = LetterboxTransform(fitting: ImageSize(width: w, height: h), into: ImageSize(width: cw, height: ch))
            for _ in 0..<100 {
                let (x, y) = (next() * Double(w), next() * Double(h))
                let mapped = t.map(x: x, y: y)
                let back = t.unmap(x: mapped.x, y: mapped.y)
                #expect(abs(back.x - x) < 1e-9 && abs(back.y - y) < 1e-9)
                #expect(mapped.x >= Double(t.offsetX) - 1e-9 && mapped.x <= Double(t.offsetX + t.contentWidth) + 1e-9)
                #expect(mapped.y >= Double(t.offsetY) - 1e-9 && mapped.y <= Double(t.offsetY + t.contentHeight) + 1e-9)
            }
            // The source's corners land on the content's corners.
            let corner = t.map(x: Double(w), y: Double(h))
            #expect(abs(corner.x - Double(t.offsetX + t.contentWidth)) < 1e-9)
            #expect(abs(corner.y - Double(t.offsetY + t.contentHeight)) < 1e-9)
        }
    }

    /// A mask letterboxed with `.nearest`: every content pixel holds the label of the source
    /// pixel its centre unmaps into, padding holds the fill, and no label is invented.
    @Test func maskStaysAlignedAndUnblended() {
        let (w, h) = (13, 9)
        let labels = (0..<(w * h)).map { UInt8(($0 % w) / 4 + 3 * (($0 / w) / 3)) }
        let mask = DecodedImage(width: w, height: h, channels: 1, pixels: labels)
        for (cw, ch) in [(32, 32), (20, 7), (5, 40)] {
            let (canvas, t) = mask.letterboxed(width: cw, height: ch, fill: 255, filter: .nearest)
            #expect(Set(canvas.pixels).isSubset(of: Set(labels).union([255])))
            for y in 0..<ch {
                for x in 0..<cw {
                    let inside =
                        (t.offsetX..<(t.offsetX + t.contentWidth)).contains(x)
                        && (t.offsetY..<(t.offsetY + t.contentHeight)).contains(y)
                    guard inside else {
                        #expect(canvas[x, y, 0] == 255)
                        continue
                    }
                    let p = t.unmap(x: Double(x) + 0.5, y: Double(y) + 0.5)
                    let (sx, sy) = (min(Int(p.x + 1e-9), w - 1), min(Int(p.y + 1e-9), h - 1))
                    #expect(canvas[x, y, 0] == mask[sx, sy, 0], "canvas (\(x), \(y)) ← source (\(sx), \(sy))")
                }
            }
        }
    }
}
