import CImageShim
import Foundation

/// Writes `DecodedImage`s as 8-bit PNGs (gray or RGB) through CImageShim's libpng encoder;
/// decoding the result gives the same pixels back (PNG is lossless), so class-index masks
/// survive a round trip through `ImageDecoder.decodeLabels`.
public enum PNGEncoder {
    /// The PNG file's bytes for `image`; `name` is what errors report.
    public static func encode(_ image: DecodedImage, name: String = "PNG") throws(ImageError) -> [UInt8] {
        var message = ShimMessage()
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            moe_png_encode(
                pixels.baseAddress, UInt32(image.width), UInt32(image.height), Int32(image.channels), &output,
                &size, &message.buffer, ShimMessage.capacity)
        }
        defer { moe_png_free(output) }
        try message.check(status, file: name, format: .png)
        guard let output else { throw .internalFailure(file: name, format: .png, detail: "no PNG output") }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }

    /// Writes `image` to `path` atomically (temporary file, then rename).
    /// - Throws: `ImageError` from `encode`, `ImageWriteError` when the file cannot be written.
    public static func write(_ image: DecodedImage, to path: String) throws {
        let bytes = try encode(image, name: path)
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ImageWriteError(file: path, reason: error.localizedDescription)
        }
    }
}
