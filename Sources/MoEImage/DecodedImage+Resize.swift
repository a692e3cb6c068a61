extension DecodedImage {
    /// This image resized to width × height (both ≥ 1) with `filter`: `.bilinear` is
    /// Pillow's `resize(size, Image.BILINEAR)` bit for bit (antialiased when downscaling,
    /// `BilinearResampler`); `.nearest` copies source pixel ⌊(i + ½) · in / out⌋ per axis, for
    /// label masks. The same size returns the image unchanged.
    public func resized(width: Int, height: Int, filter: ResizeFilter = .bilinear) -> DecodedImage {
        precondition(width >= 1 && height >= 1, "resize target must be at least 1×1, got \(width)×\(height)")
        if width == self.width && height == self.height { return self }
        switch filter {
        case .bilinear: return BilinearResampler.resize(self, width: width, height: height)
        case .nearest: return nearest(width: width, height: height)
        }
    }

    /// The size `resizedShorterSide(to:)` produces (torchvision's `Resize(int)` rule): the
    /// shorter side becomes `side`, the longer ⌊side · long / short⌋; a square stays square.
    public static func shorterSideSize(width: Int, height: Int, side: Int) -> ImageSize {
        width <= height
            ? ImageSize(width: side, height: max(side * height / width, 1))
            : ImageSize(width: max(side * width / height, 1), height: side)
    }

    /// Resized so the shorter side is `side` (≥ 1), keeping the aspect ratio as
    /// `shorterSideSize` rounds it; the first step of classification preprocessing
    /// (resize 256, then `centerCropped` 224).
    public func resizedShorterSide(to side: Int, filter: ResizeFilter = .bilinear) -> DecodedImage {
        precondition(side >= 1, "shorter side must be ≥ 1, got \(side)")
        let size = Self.shorterSideSize(width: width, height: height, side: side)
        return resized(width: size.width, height: size.height, filter: filter)
    }

    /// The width × height region whose top-left pixel is (x, y); it must lie inside the image.
    public func cropped(x: Int, y: Int, width: Int, height: Int) -> DecodedImage {
        precondition(
            x >= 0 && y >= 0 && width >= 1 && height >= 1 && x + width <= self.width && y + height <= self.height,
            "crop \(width)×\(height) at (\(x), \(y)) is outside the \(self.width)×\(self.height) image")
        var out = [UInt8]()
        out.reserveCapacity(width * height * channels)
        for row in y..<(y + height) {
            let start = (row * self.width + x) * channels
            out.append(contentsOf: pixels[start..<(start + width * channels)])
        }
        return DecodedImage(width: width, height: height, channels: channels, pixels: out)
    }

    /// The centred width × height crop (each ≤ the image's side), at torchvision's
    /// `CenterCrop` offset: left = round((W − width) / 2), top = round((H − height) / 2), with
    /// Python's round-half-to-even (so a 35-pixel excess gives 18, a 33-pixel one 16).
    public func centerCropped(width: Int, height: Int) -> DecodedImage {
        precondition(
            width <= self.width && height <= self.height,
            "center crop \(width)×\(height) is larger than the \(self.width)×\(self.height) image")
        return cropped(
            x: Self.centredOffset(excess: self.width - width), y: Self.centredOffset(excess: self.height - height),
            width: width, height: height)
    }

    /// round(excess / 2) with ties to even, in integers.
    static func centredOffset(excess: Int) -> Int {
        let half = excess / 2
        return excess % 2 == 0 || half % 2 == 0 ? half : half + 1
    }

    /// Nearest-neighbour resize: source index ⌊(2i + 1) · in / (2 · out)⌋ per axis.
    func nearest(width: Int, height: Int) -> DecodedImage {
        let xs = (0..<width).map { min((2 * $0 + 1) * self.width / (2 * width), self.width - 1) }
        let ys = (0..<height).map { min((2 * $0 + 1) * self.height / (2 * height), self.height - 1) }
        var out = [UInt8](repeating: 0, count: width * height * channels)
        for (y, sy) in ys.enumerated() {
            for (x, sx) in xs.enumerated() {
                for c in 0..<channels {
                    out[(y * width + x) * channels + c] = pixels[(sy * self.width + sx) * channels + c]
                }
            }
        }
        return DecodedImage(width: width, height: height, channels: channels, pixels: out)
    }
}
