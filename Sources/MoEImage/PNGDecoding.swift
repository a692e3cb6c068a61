import CImageShim

/// PNG through CImageShim (libpng): header, size check, then the pixels straight into a
/// Swift array. Pixel rules are the shim's `MOE_PNG_PIXELS` / `MOE_PNG_LABELS`
/// (see `ImageDecoder`).
enum PNGDecoding {
    static func decode(_ raw: UnsafeRawBufferPointer, name: String, labels: Bool) throws(ImageError)
        -> DecodedImage
    {
        let bytes = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let mode = labels ? MOE_PNG_LABELS : MOE_PNG_PIXELS
        var message = ShimMessage()
        var info = moe_image_info()
        let headerStatus = moe_png_info(bytes, raw.count, mode, &info, &message.buffer, ShimMessage.capacity)
        try message.check(headerStatus, file: name, format: .png)
        let (width, height, channels) = (Int(info.width), Int(info.height), Int(info.channels))
        let count = try ImageDecoder.byteCount(
            width: width, height: height, channels: channels, sourceWidth: width, sourceHeight: height, name: name)
        var status: Int32 = 0
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            status = moe_png_decode(
                bytes, raw.count, mode, buffer.baseAddress, count, &message.buffer, ShimMessage.capacity)
            initialized = status == Int32(MOE_IMAGE_OK.rawValue) ? count : 0
        }
        try message.check(status, file: name, format: .png)
        return DecodedImage(width: width, height: height, channels: channels, pixels: pixels)
    }
}
