extension DecodedImage {
    /// Draws the 1-pixel outline of the rectangle with corners (x0, y0) and (x1, y1)
    /// (inclusive, clipped to the image) in `colour` (one value per channel).
    public mutating func drawRectangle(x0: Int, y0: Int, x1: Int, y1: Int, colour: [UInt8]) {
        let (left, right) = (max(min(x0, x1), 0), min(max(x0, x1), width - 1))
        let (top, bottom) = (max(min(y0, y1), 0), min(max(y0, y1), height - 1))
        guard left <= right, top <= bottom, colour.count == channels else { return }
        func paint(_ x: Int, _ y: Int) {
            for c in 0..<channels { self[x, y, c] = colour[c] }
        }
        for x in left...right {
            paint(x, top)
            paint(x, bottom)
        }
        for y in top...bottom {
            paint(left, y)
            paint(right, y)
        }
    }
}
