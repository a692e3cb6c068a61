import MoETensor
import MoETestSupport
import Testing

@Suite struct PatchifyTests {
    @Test(arguments: [(1, 1, 2, 2, 1), (2, 3, 4, 6, 2), (1, 2, 6, 3, 3)])
    func forwardMatchesNaiveIndexing(batch: Int, channels: Int, height: Int, width: Int, patch: Int) {
        let img = randomTensorValues(count: batch * channels * height * width, seed: 100)
        var out = [Float](repeating: .nan, count: img.count)
        patchifyForward(
            out: &out, img: img, batch: batch, channels: channels, height: height, width: width, patch: patch)
        let gridW = width / patch
        let patches = (height / patch) * gridW
        let size = channels * patch * patch
        for b in 0..<batch {
            for gy in 0..<height / patch {
                for gx in 0..<gridW {
                    for c in 0..<channels {
                        for py in 0..<patch {
                            for px in 0..<patch {
                                let o = (b * patches + gy * gridW + gx) * size + (c * patch + py) * patch + px
                                let i = ((b * channels + c) * height + gy * patch + py) * width + gx * patch + px
                                #expect(out[o] == img[i])
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func gradientMatchesFiniteDifferencesAndAccumulates() {
        let (batch, channels, height, width, patch) = (2, 2, 4, 2, 2)
        expectGradientMatchesAndAccumulates(
            input: randomTensorValues(count: batch * channels * height * width, seed: 101), seed: 102,
            forward: { img in
                var out = [Float](repeating: 0, count: img.count)
                patchifyForward(
                    out: &out, img: img, batch: batch, channels: channels, height: height, width: width, patch: patch)
                return out
            },
            backward: { dout, _, grad in
                patchifyBackward(
                    dimg: &grad, dout: dout, batch: batch, channels: channels, height: height, width: width,
                    patch: patch)
            })
    }
}

@Suite struct BilinearResizeTests {
    /// PyTorch's align_corners=False source index, written out independently.
    static func reference(_ x: [Float], channels: Int, inH: Int, inW: Int, outH: Int, outW: Int) -> [Float] {
        func taps(_ o: Int, _ inSize: Int, _ outSize: Int) -> (Int, Int, Double) {
            let src = max(0, (Double(o) + 0.5) * Double(inSize) / Double(outSize) - 0.5)
            let i0 = Int(src.rounded(.down))
            return (i0, i0 < inSize - 1 ? i0 + 1 : i0, src - Double(i0))
        }
        var y = [Float](repeating: 0, count: channels * outH * outW)
        for c in 0..<channels {
            for oy in 0..<outH {
                let (y0, y1, ly) = taps(oy, inH, outH)
                for ox in 0..<outW {
                    let (x0, x1, lx) = taps(ox, inW, outW)
                    func v(_ yy: Int, _ xx: Int) -> Double { Double(x[(c * inH + yy) * inW + xx]) }
                    let value =
                        (1 - ly) * ((1 - lx) * v(y0, x0) + lx * v(y0, x1)) + ly
                        * ((1 - lx) * v(y1, x0) + lx * v(y1, x1))
                    y[(c * outH + oy) * outW + ox] = Float(value)
                }
            }
        }
        return y
    }

    @Test(arguments: [(1, 2, 2, 4, 4), (2, 3, 5, 7, 2), (3, 4, 4, 4, 4), (1, 5, 3, 2, 6), (2, 1, 1, 3, 2)])
    func forwardMatchesReference(channels: Int, inH: Int, inW: Int, outH: Int, outW: Int) {
        let x = randomTensorValues(count: channels * inH * inW, seed: 110)
        var y = [Float](repeating: .nan, count: channels * outH * outW)
        bilinearResizeForward(
            out: &y, inp: x, channels: channels, inHeight: inH, inWidth: inW, outHeight: outH, outWidth: outW)
        expectClose(
            y, Self.reference(x, channels: channels, inH: inH, inW: inW, outH: outH, outW: outW), tolerance: 1e-5)
    }

    /// Values from torch.nn.functional.interpolate([[1, 2], [3, 4]], size=(4, 4),
    /// mode="bilinear", align_corners=False).
    @Test func upsampleMatchesPyTorchValues() {
        var y = [Float](repeating: 0, count: 16)
        bilinearResizeForward(
            out: &y, inp: [1, 2, 3, 4], channels: 1, inHeight: 2, inWidth: 2, outHeight: 4, outWidth: 4)
        let expected: [Float] = [
            1.0, 1.25, 1.75, 2.0,
            1.5, 1.75, 2.25, 2.5,
            2.5, 2.75, 3.25, 3.5,
            3.0, 3.25, 3.75, 4.0,
        ]
        expectClose(y, expected, tolerance: 1e-6)
        // Same size is the identity.
        var same = [Float](repeating: 0, count: 4)
        bilinearResizeForward(
            out: &same, inp: [1, 2, 3, 4], channels: 1, inHeight: 2, inWidth: 2, outHeight: 2, outWidth: 2)
        #expect(same == [1, 2, 3, 4])
    }

    @Test(arguments: [(2, 2, 3, 5, 4), (1, 5, 4, 3, 2)])
    func gradientMatchesFiniteDifferencesAndAccumulates(channels: Int, inH: Int, inW: Int, outH: Int, outW: Int) {
        expectGradientMatchesAndAccumulates(
            input: randomTensorValues(count: channels * inH * inW, seed: 111), seed: 112,
            forward: { x in
                var y = [Float](repeating: 0, count: channels * outH * outW)
                bilinearResizeForward(
                    out: &y, inp: x, channels: channels, inHeight: inH, inWidth: inW, outHeight: outH, outWidth: outW)
                return y
            },
            backward: { dout, _, grad in
                bilinearResizeBackward(
                    dinp: &grad, dout: dout, channels: channels, inHeight: inH, inWidth: inW, outHeight: outH,
                    outWidth: outW)
            })
    }
}
