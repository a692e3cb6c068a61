/// Where `DecodedImage.letterboxed` put the source image, in continuous pixel coordinates
/// (pixel (i, j) covers [i, i + 1) × [j, j + 1), boxes have exclusive maxima):
///
///     x′ = x · scaleX + offsetX,   y′ = y · scaleY + offsetY          (source → letterboxed)
///     x  = (x′ − offsetX) / scaleX, y = (y′ − offsetY) / scaleY       (letterboxed → source)
///
/// scaleX = contentWidth / sourceWidth and scaleY = contentHeight / sourceHeight are the
/// scales the resampler actually applied, so the mapping is exact. Both equal the uniform
/// scale s = min(W′ / W, H′ / H) up to rounding the content to whole pixels: the limiting
/// axis is exactly s, the other differs by at most ½ / source side.
public struct LetterboxTransform: Equatable, Sendable {
    public var sourceWidth: Int
    public var sourceHeight: Int
    /// Size of the resized image inside the canvas.
    public var contentWidth: Int
    public var contentHeight: Int
    /// Top-left corner of the content in the canvas.
    public var offsetX: Int
    public var offsetY: Int

    public init(
        sourceWidth: Int, sourceHeight: Int, contentWidth: Int, contentHeight: Int, offsetX: Int, offsetY: Int
    ) {
        self.sourceWidth = sourceWidth
        self.sourceHeight = sourceHeight
        self.contentWidth = contentWidth
        self.contentHeight = contentHeight
        self.offsetX = offsetX
        self.offsetY = offsetY
    }

    /// The letterbox of a `source` image in a `canvas`, computed in integers (W×H source,
    /// W′×H′ canvas): if W′ · H ≤ H′ · W the width limits and the content is
    /// W′ × round(H · W′ / W), else round(W · H′ / H) × H′ (round half up, clamped to
    /// 1…canvas); it is centred at offset = ⌊(canvas − content) / 2⌋ per axis (ultralytics'
    /// rule). All sides must be ≥ 1.
    public init(fitting source: ImageSize, into canvas: ImageSize) {
        precondition(
            source.width >= 1 && source.height >= 1 && canvas.width >= 1 && canvas.height >= 1,
            "letterbox needs non-empty sizes, got \(source) into \(canvas)")
        let (w, h, cw, ch) = (source.width, source.height, canvas.width, canvas.height)
        var content = (cw, ch)
        if cw * h <= ch * w {
            content.1 = (2 * h * cw + w) / (2 * w)
        } else {
            content.0 = (2 * w * ch + h) / (2 * h)
        }
        content = (min(max(content.0, 1), cw), min(max(content.1, 1), ch))
        self.init(
            sourceWidth: w, sourceHeight: h, contentWidth: content.0, contentHeight: content.1,
            offsetX: (cw - content.0) / 2, offsetY: (ch - content.1) / 2)
    }

    public var scaleX: Double { Double(contentWidth) / Double(sourceWidth) }
    public var scaleY: Double { Double(contentHeight) / Double(sourceHeight) }

    /// A source point in letterboxed coordinates.
    public func map(x: Double, y: Double) -> (x: Double, y: Double) {
        (x * scaleX + Double(offsetX), y * scaleY + Double(offsetY))
    }

    /// A letterboxed point back in source coordinates (the inverse of `map`); points on the
    /// padding map outside [0, W] × [0, H].
    public func unmap(x: Double, y: Double) -> (x: Double, y: Double) {
        ((x - Double(offsetX)) / scaleX, (y - Double(offsetY)) / scaleY)
    }
}
