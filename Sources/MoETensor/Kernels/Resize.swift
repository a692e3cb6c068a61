/// Bilinear resampling of each channel, `align_corners = false` (PyTorch
/// `F.interpolate(mode: "bilinear", align_corners: false)`, no antialiasing). Resamples
/// position embeddings to a new grid and upsamples segmentation logits.
///
///     src = max(0, (dst + 0.5) · in/out − 0.5),  i0 = ⌊src⌋,  i1 = min(i0 + 1, in − 1),
///     λ = src − i0;  y[c, oy, ox] = Σ over the 2×2 taps of the (1−λ)/λ weights · x[c, iy, ix]
///     backward: every tap's weight · dy is added to its input pixel
///
/// Shapes: C = `channels`, in [C, H1, W1] -> out [C, H2, W2].

/// One output coordinate's two input taps and their weights along one axis.
private struct BilinearTaps {
    var lower: [Int]
    var upper: [Int]
    var upperWeight: [Float]

    init(inSize: Int, outSize: Int) {
        let scale = Float(inSize) / Float(outSize)
        lower = []
        upper = []
        upperWeight = []
        for o in 0..<outSize {
            let src = max(0, (Float(o) + 0.5) * scale - 0.5)
            let i0 = min(Int(src), inSize - 1)
            lower.append(i0)
            upper.append(min(i0 + 1, inSize - 1))
            upperWeight.append(src - Float(i0))
        }
    }

    /// The taps of output coordinate `o` with their weights (1 − λ, λ).
    @inline(__always)
    func tap(_ o: Int) -> (lower: Int, upper: Int, lowerWeight: Float, upperWeight: Float) {
        let w = upperWeight[o]
        return (lower[o], upper[o], 1 - w, w)
    }
}

/// Checks the shape of one resize; returns the taps of the rows and of the columns.
private func bilinearTaps(
    channels: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int
) -> (ys: BilinearTaps, xs: BilinearTaps) {
    precondition(
        channels >= 0 && inHeight > 0 && inWidth > 0 && outHeight > 0 && outWidth > 0,
        "bilinearResize: bad shape")
    return (BilinearTaps(inSize: inHeight, outSize: outHeight), BilinearTaps(inSize: inWidth, outSize: outWidth))
}

/// `out[c] = bilinear resample of inp[c]` for every channel.
public func bilinearResizeForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, channels: Int,
    inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int
) {
    let (ys, xs) = bilinearTaps(
        channels: channels, inHeight: inHeight, inWidth: inWidth, outHeight: outHeight, outWidth: outWidth)
    let outPlane = outHeight * outWidth
    Parallel.forEachChunk(count: channels * outHeight, minimumPerThread: max(1, 8192 / outWidth)) { range in
        for cy in range {
            let c = cy / outHeight
            let oy = cy % outHeight
            let plane = inp + c * inHeight * inWidth
            let (y0, y1, wy0, wy1) = ys.tap(oy)
            let (row0, row1) = (plane + y0 * inWidth, plane + y1 * inWidth)
            let dst = out + c * outPlane + oy * outWidth
            for ox in 0..<outWidth {
                let (x0, x1, wx0, wx1) = xs.tap(ox)
                dst[ox] =
                    wy0 * (wx0 * row0[x0] + wx1 * row0[x1])
                    + wy1 * (wx0 * row1[x0] + wx1 * row1[x1])
            }
        }
    }
}

/// Accumulates `dinp += transpose(resample)(dout)`.
public func bilinearResizeBackward(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, channels: Int,
    inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int
) {
    let (ys, xs) = bilinearTaps(
        channels: channels, inHeight: inHeight, inWidth: inWidth, outHeight: outHeight, outWidth: outWidth)
    let outPlane = outHeight * outWidth
    // Taps overlap within a channel, so threads split by channel only.
    Parallel.forEachChunk(count: channels, minimumPerThread: max(1, 8192 / outPlane)) { range in
        for c in range {
            let plane = dinp + c * inHeight * inWidth
            for oy in 0..<outHeight {
                let (y0, y1, wy0, wy1) = ys.tap(oy)
                let (row0, row1) = (plane + y0 * inWidth, plane + y1 * inWidth)
                let g = dout + c * outPlane + oy * outWidth
                for ox in 0..<outWidth {
                    let (x0, x1, wx0, wx1) = xs.tap(ox)
                    row0[x0] += wy0 * wx0 * g[ox]
                    row0[x1] += wy0 * wx1 * g[ox]
                    row1[x0] += wy1 * wx0 * g[ox]
                    row1[x1] += wy1 * wx1 * g[ox]
                }
            }
        }
    }
}
