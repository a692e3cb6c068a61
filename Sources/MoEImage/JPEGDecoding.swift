import CImageShim

/// JPEG through CImageShim (libjpeg-turbo, JDCT_ISLOW): header, DCT scale choice, size
/// check, then the pixels straight into a Swift array.
enum JPEGDecoding {
    /// The DCT scale denominators libjpeg offers, largest first.
    static let scales = [8, 4, 2, 1]

    /// Pillow's `JpegImageFile.draft` rule: with r = min(W / w, H / h) (integer division),
    /// the largest s ∈ {8, 4, 2, 1} with s ≤ r; 1 without a hint. Then ⌈W / s⌉ ≥ w and
    /// ⌈H / s⌉ ≥ h whenever the image is at least w×h.
    static func scaleDenominator(width: Int, height: Int, minimumSize: ImageSize?) -> Int {
        guard let minimumSize else { return 1 }
        let ratio = min(width / max(minimumSize.width, 1), height / max(minimumSize.height, 1))
        return scales.first { $0 <= ratio } ?? 1
    }

    static func decode(_ raw: UnsafeRawBufferPointer, name: String, minimumSize: ImageSize?) throws(ImageError)
        -> DecodedImage
    {
        let bytes = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var message = ShimMessage()
        var info = moe_image_info()
        let headerStatus = moe_jpeg_info(bytes, raw.count, &info, &message.buffer, ShimMessage.capacity)
        try message.check(headerStatus, file: name, format: .jpeg)
        let (sourceWidth, sourceHeight, channels) = (Int(info.width), Int(info.height), Int(info.channels))
        let scale = scaleDenominator(width: sourceWidth, height: sourceHeight, minimumSize: minimumSize)
        let (width, height) = ((sourceWidth + scale - 1) / scale, (sourceHeight + scale - 1) / scale)
        let count = try ImageDecoder.byteCount(
            width: width, height: height, channels: channels, sourceWidth: sourceWidth, sourceHeight: sourceHeight,
            name: name)
        var status: Int32 = 0
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            status = moe_jpeg_decode(
                bytes, raw.count, UInt32(scale), buffer.baseAddress, count, &message.buffer, ShimMessage.capacity)
            initialized = status == Int32(MOE_IMAGE_OK.rawValue) ? count : 0
        }
        try message.check(status, file: name, format: .jpeg)
        return DecodedImage(width: width, height: height, channels: channels, pixels: pixels)
    }
}
