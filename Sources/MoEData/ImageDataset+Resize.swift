extension ImageDataset {
    /// The same images bilinearly resampled to `height`×`width` (half-pixel centres, as
    /// PyTorch's `align_corners=False`), rounded back to bytes; normalisation statistics are
    /// recomputed from the resampled pixels. E.g. the 8×8 digits at 28×28, the input size a
    /// Fashion-MNIST backbone was trained on.
    public func resized(height newHeight: Int, width newWidth: Int) throws -> ImageDataset {
        if newHeight == height && newWidth == width { return self }
        let (inSize, outSize) = (height * width, newHeight * newWidth)
        var out = [UInt8](repeating: 0, count: count * channels * outSize)
        func source(_ o: Int, _ outExtent: Int, _ inExtent: Int) -> (Int, Int, Float) {
            let x = max((Float(o) + 0.5) * Float(inExtent) / Float(outExtent) - 0.5, 0)
            let i0 = min(Int(x), inExtent - 1)
            return (i0, min(i0 + 1, inExtent - 1), x - Float(i0))
        }
        let rows = (0..<newHeight).map { source($0, newHeight, height) }
        let cols = (0..<newWidth).map { source($0, newWidth, width) }
        for plane in 0..<(count * channels) {
            let src = plane * inSize
            for (oy, (y0, y1, fy)) in rows.enumerated() {
                for (ox, (x0, x1, fx)) in cols.enumerated() {
                    let p00 = Float(pixels[src + y0 * width + x0])
                    let p01 = Float(pixels[src + y0 * width + x1])
                    let p10 = Float(pixels[src + y1 * width + x0])
                    let p11 = Float(pixels[src + y1 * width + x1])
                    let v = (1 - fy) * ((1 - fx) * p00 + fx * p01) + fy * ((1 - fx) * p10 + fx * p11)
                    out[plane * outSize + oy * newWidth + ox] = UInt8(min(max(v.rounded(), 0), 255))
                }
            }
        }
        let (mean, std) = Self.statistics(of: out)
        return try ImageDataset(
            name: name, channels: channels, height: newHeight, width: newWidth, pixels: out,
            labels: labels, classes: classes, mean: mean, std: std)
    }
}
