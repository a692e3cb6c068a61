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
/// vertical pass (if the height changes). Channels are filtered independently. Sums are
/// exact integers, so the loop order (pixel-major here) does not change a result.
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

    /// One 8-bit output sample from a fixed-point sum: Pillow's `clip8`. Sums fit Int32 as in
    /// Pillow: the weights are non-negative and add up to about 2²², so a sum stays below
    /// 255 · (2²² + taps) + 2²¹ < 2³¹.
    @inline(__always)
    static func clip8(_ sum: Int32) -> UInt8 {
        if sum >= 1 << (precisionBits + 8) { return 255 }
        if sum <= 0 { return 0 }
        return UInt8(truncatingIfNeeded: sum >> Int32(precisionBits))
    }

    static let rounding = Int32(1 << (precisionBits - 1))

    /// Resizes `image` to width × height (both ≥ 1).
    static func resize(_ image: DecodedImage, width: Int, height: Int) -> DecodedImage {
        var current = image
        if width != image.width {
            current = horizontalPass(current, kernel: kernel(inSize: image.width, outSize: width))
        }
        if height != image.height {
            current = verticalPass(current, kernel: kernel(inSize: image.height, outSize: height))
        }
        return current
    }

    /// Along x: each output pixel sums `count[x]` neighbouring source pixels, all its channels
    /// at once (the pixels are contiguous).
    static func horizontalPass(_ image: DecodedImage, kernel: Kernel) -> DecodedImage {
        let c = image.channels
        let outWidth = kernel.start.count
        var out = [UInt8](repeating: 0, count: outWidth * image.height * c)
        let weights = kernel.weights.map { Int32(truncatingIfNeeded: $0) }
        let (inWidth, height, width) = (image.width, image.height, kernel.width)
        image.pixels.withUnsafeBufferPointer { src in
            weights.withUnsafeBufferPointer { w in
                kernel.start.withUnsafeBufferPointer { starts in
                    kernel.count.withUnsafeBufferPointer { counts in
                        out.withUnsafeMutableBufferPointer { dst in
                            for y in 0..<height {
                                let row = src.baseAddress! + y * inWidth * c
                                let target = dst.baseAddress! + y * outWidth * c
                                for x in 0..<outWidth {
                                    sample(
                                        row + starts[x] * c, w.baseAddress! + x * width, counts[x], channels: c,
                                        into: target + x * c)
                                }
                            }
                        }
                    }
                }
            }
        }
        return DecodedImage(width: outWidth, height: image.height, channels: c, pixels: out)
    }

    /// `out[ch] = clip8(Σ_j taps[j] · pixels[j · c + ch])` for one output pixel.
    @inline(__always)
    static func sample(
        _ pixels: UnsafePointer<UInt8>, _ taps: UnsafePointer<Int32>, _ n: Int, channels c: Int,
        into out: UnsafeMutablePointer<UInt8>
    ) {
        switch c {
        case 1:
            var s = rounding
            for j in 0..<n { s &+= Int32(pixels[j]) &* taps[j] }
            out[0] = clip8(s)
        case 3:
            var (s0, s1, s2) = (rounding, rounding, rounding)
            for j in 0..<n {
                let p = pixels + 3 * j
                s0 &+= Int32(p[0]) &* taps[j]
                s1 &+= Int32(p[1]) &* taps[j]
                s2 &+= Int32(p[2]) &* taps[j]
            }
            (out[0], out[1], out[2]) = (clip8(s0), clip8(s1), clip8(s2))
        default:
            for ch in 0..<c {
                var s = rounding
                for j in 0..<n { s &+= Int32(pixels[j * c + ch]) &* taps[j] }
                out[ch] = clip8(s)
            }
        }
    }

    /// Along y: each output row is the weighted sum of `count[y]` source rows, accumulated a
    /// whole row at a time (contiguous, so the loop vectorises).
    static func verticalPass(_ image: DecodedImage, kernel: Kernel) -> DecodedImage {
        let rowLength = image.width * image.channels
        let outHeight = kernel.start.count
        var out = [UInt8](repeating: 0, count: rowLength * outHeight)
        var sums = [Int32](repeating: 0, count: rowLength)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                sums.withUnsafeMutableBufferPointer { acc in
                    for y in 0..<outHeight {
                        for x in 0..<rowLength { acc[x] = rounding }
                        for j in 0..<kernel.count[y] {
                            let weight = Int32(truncatingIfNeeded: kernel.weights[y * kernel.width + j])
                            let row = src.baseAddress! + (kernel.start[y] + j) * rowLength
                            for x in 0..<rowLength { acc[x] &+= Int32(row[x]) &* weight }
                        }
                        let target = dst.baseAddress! + y * rowLength
                        for x in 0..<rowLength { target[x] = clip8(acc[x]) }
                    }
                }
            }
        }
        return DecodedImage(width: image.width, height: outHeight, channels: image.channels, pixels: out)
    }
}
