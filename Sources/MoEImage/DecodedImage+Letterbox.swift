extension DecodedImage {
    /// This image scaled (up or down) to fit width × height without changing its aspect
    /// ratio, centred (geometry: `LetterboxTransform(fitting:into:)`), the rest filled with
    /// `fill` in every channel. Returns the image and the transform mapping source points to
    /// canvas points and back; boxes map corner by corner. For label masks use
    /// `filter: .nearest` (and an ignore label as `fill`): the geometry is identical, so image
    /// and mask stay aligned.
    public func letterboxed(width: Int, height: Int, fill: UInt8 = 0, filter: ResizeFilter = .bilinear)
        -> (image: DecodedImage, transform: LetterboxTransform)
    {
        let transform = LetterboxTransform(fitting: size, into: ImageSize(width: width, height: height))
        let content = resized(width: transform.contentWidth, height: transform.contentHeight, filter: filter)
        var canvas = DecodedImage(width: width, height: height, channels: channels, repeating: fill)
        let rowLength = content.width * channels
        for y in 0..<content.height {
            let from = y * rowLength
            let to = ((y + transform.offsetY) * width + transform.offsetX) * channels
            canvas.pixels.replaceSubrange(to..<(to + rowLength), with: content.pixels[from..<(from + rowLength)])
        }
        return (canvas, transform)
    }
}
