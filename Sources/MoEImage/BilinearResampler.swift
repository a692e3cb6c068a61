/// Pillow's `Image.resize(size, Image.BILINEAR)` on 8-bit images (libImaging/Resample.c),
/// reproduced bit-exactly.
///
/// Per axis (in → out samples), with scale = in / out and f = max(scale, 1):
///
///     centre_i = (i + ½) · scale,   support = f        (the triangle filter's support is 1)
///     start_i  = max(⌊centre_i − support + ½⌋, 0),  end_i = min(⌊centre_i + support + ½⌋, in)
///     w_ij     = tri((j − centre_i + ½) / f) for j in start_i..<end_i,  tri(x) = max(1 − |x|, 0)
///     k_ij     = round(w_ij / Σ_j w_ij · 2²²)                            (22-bit fixed point)
///     out_i    = clamp((Σ_j k_ij · in_j + 2²¹) >> 22, 0, 255)
///
/// Downscaling widens the filter by f, so every source pixel contributes (antialiasing).
/// The horizontal pass runs first (if the width changes) and is rounded to 8 bits, then the
/// vertical pass (if the height changes). Channels are filtered independently.
enum BilinearResampler {
    static let precisionBits = 22

    /// Fixed-point weights for one axis: output i reads `count[i]` source samples from
    /// `start[i]`, with weights `weights[i · width ..< i · width + count[i]]`.
    struct Kernel {
        var start: [Int]
        var count: [Int]
        var weights: [Int]
        var width: Int
    }

    static func kernel(inSize: Int, outSize: Int) -> Kernel {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filterScale
        let width = Int(support.rounded(.up)) * 2 + 1
        var kernel = Kernel(
            start: [Int](repeating: 0, count: outSize), count: [Int](repeating: 0, count: outSize),
            weights: [Int](repeating: 0, count: outSize * width), width: width)
        var raw = [Double](repeating: 0, count: width)
        let one = Double(1 << precisionBits)
        for i in 0..<outSize {
            let centre = (Double(i) + 0.5) * scale
            let inverse = 1.0 / filterScale
            let start = max(Int(centre - support + 0.5), 0)
            let count = min(Int(centre + support + 0.5), inSize) - start
            var total = 0.0
            for j in 0..<count {
                let x = abs((Double(j + start) - centre + 0.5) * inverse)
                raw[j] = x < 1 ? 1 - x : 0
                total += raw[j]
            }
            for j in 0..<count {
                let w = total != 0 ? raw[j] / total : raw[j]
                kernel.weights[i * width + j] = w < 0 ? Int(-0.5 + w * one) : Int(0.5 + w * one)
            }
            kernel.start[i] = start
            kernel.count[i] = count
        }
        return kernel
    }

    /// One 8-bit output sample from a fixed-point sum: Pillow's `clip8`.
    @inline(__always)
    static func clip8(_ sum: Int) -> UInt8 {
        if sum >= 1 << (precisionBits + 8) { return 255 }
        if sum <= 0 { return 0 }
        return UInt8(sum >> precisionBits)
    }

    /// Resizes `image` to width × height (both ≥ 1).
    static func resize(_ image: DecodedImage, width: Int, height: Int) -> DecodedImage {
        var current = image
        if width != image.width {
            current = pass(current, kernel: kernel(inSize: image.width, outSize: width), horizontal: true)
        }
        if height != image.height {
            current = pass(current, kernel: kernel(inSize: image.height, outSize: height), horizontal: false)
        }
        return current
    }

    /// One separable pass along x (`horizontal`) or y.
    static func pass(_ image: DecodedImage, kernel: Kernel, horizontal: Bool) -> DecodedImage {
        let c = image.channels
        let outWidth = horizontal ? kernel.start.count : image.width
        let outHeight = horizontal ? image.height : kernel.start.count
        // Step between consecutive samples along the filtered axis, in array elements.
        let step = horizontal ? c : image.width * c
        var out = [UInt8](repeating: 0, count: outWidth * outHeight * c)
        let rounding = 1 << (precisionBits - 1)
        let width = kernel.width
        image.pixels.withUnsafeBufferPointer { src in
            kernel.weights.withUnsafeBufferPointer { weights in
                kernel.start.withUnsafeBufferPointer { starts in
                    kernel.count.withUnsafeBufferPointer { counts in
                        out.withUnsafeMutableBufferPointer { dst in
                            for y in 0..<outHeight {
                                for x in 0..<outWidth {
                                    let i = horizontal ? x : y
                                    let (sx, sy) = horizontal ? (starts[i], y) : (x, starts[i])
                                    let first = (sy * image.width + sx) * c
                                    let k = i * width
                                    let n = counts[i]
                                    let o = (y * outWidth + x) * c
                                    for ch in 0..<c {
                                        var sum = rounding
                                        var at = first + ch
                                        for j in 0..<n {
                                            sum &+= Int(src[at]) &* weights[k + j]
                                            at &+= step
                                        }
                                        dst[o + ch] = clip8(sum)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return DecodedImage(width: outWidth, height: outHeight, channels: c, pixels: out)
    }
}
