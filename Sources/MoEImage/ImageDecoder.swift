import Foundation

/// Decodes PNG and JPEG files into `DecodedImage`s whose pixels match Pillow's.
///
/// The format is detected from the leading bytes, not the file name. Pixels are what Pillow
/// (9.4, the reference of the tests) gives for `Image.open(f).convert('L')` or
/// `.convert('RGB')`:
///
/// - PNG, exactly: gray, gray+alpha → 1 channel; RGB, RGBA, palette → 3. Alpha and tRNS are
///   dropped (not composited). 1/2/4-bit gray is scaled to 0…255 (×255, ×85, ×17); 16-bit
///   samples keep their high byte (v >> 8) — except 16-bit gray without alpha, which Pillow
///   opens as 32-bit mode "I" and converts by clipping: min(v, 255). Interlaced (Adam7) files
///   decode to the same pixels. Like Pillow, a file whose image data is complete decodes even
///   without its IEND chunk; unlike Pillow, an IDAT CRC mismatch is `.corrupt` (libpng checks it).
/// - JPEG: gray → 1 channel, YCbCr (or RGB) → 3, with libjpeg's accurate integer IDCT
///   (JDCT_ISLOW) and fancy upsampling, which is what Pillow uses; baseline and progressive.
///   CMYK/YCCK is refused.
///
/// `channels` converts afterwards: gray → RGB repeats the sample; RGB → gray is Pillow's
/// fixed-point BT.601 luma (`DecodedImage.luma`). Errors are `ImageError`s naming the file.
public enum ImageDecoder {
    /// The largest width · height decoded: 2²⁸ = 268,435,456 pixels (768 MiB as RGB). It is
    /// checked against the header's size (JPEG: before DCT scaling) before any pixel buffer is
    /// allocated, so a corrupt or hostile header cannot make the decoder allocate gigabytes.
    public static let maximumPixels = 1 << 28

    /// Decodes the PNG or JPEG file at `path`.
    ///
    /// - Parameters:
    ///   - channels: 1 (gray) or 3 (RGB); nil keeps the file's (gray kinds 1, colour kinds 3).
    ///   - minimumSize: a JPEG-only hint, the size the caller will resize to. When the image is
    ///     at least twice as large on both sides, libjpeg decodes at 1/s size (s ∈ {2, 4, 8},
    ///     each side ⌈side / s⌉) with s the largest that keeps both sides ≥ the hint — the
    ///     rule of Pillow's `Image.draft('RGB', size)`:
    ///     s = the largest of 8, 4, 2, 1 with s ≤ min(W / w, H / h) (integer division).
    ///     Sides ≤ 0 count as 1. PNGs ignore it.
    public static func decode(path: String, channels: Int? = nil, minimumSize: ImageSize? = nil)
        throws(ImageError) -> DecodedImage
    {
        let data = try readFile(path)
        return try decode(bytes: data, name: path, channels: channels, minimumSize: minimumSize)
    }

    /// Decodes PNG or JPEG `bytes`; `name` (a path or any label) is what errors report.
    /// Parameters as in `decode(path:channels:minimumSize:)`.
    public static func decode(
        bytes: some ContiguousBytes, name: String, channels: Int? = nil, minimumSize: ImageSize? = nil
    ) throws(ImageError) -> DecodedImage {
        if let channels, channels != 1 && channels != 3 {
            throw .unsupportedChannels(file: name, requested: channels)
        }
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(ImageError) in
                guard !raw.isEmpty else { throw .empty(file: name) }
                switch ImageFormat.detect(raw) {
                case .png: return try PNGDecoding.decode(raw, name: name, labels: false)
                case .jpeg: return try JPEGDecoding.decode(raw, name: name, minimumSize: minimumSize)
                case nil: throw .unsupportedFormat(file: name, leadingBytes: Array(raw.prefix(8)))
                }
            }
        }
        let image = try result.get()
        return channels.map { image.converted(toChannels: $0) } ?? image
    }

    /// Decodes a label mask (class-index image) at `path`: a PNG whose raw samples are the
    /// labels, 1 channel. Palette PNGs give their palette indices (what `np.array(Image.open(f))`
    /// gives for mode "P"); grayscale PNGs (≤ 8 bits, alpha dropped) give their sample values,
    /// unscaled. RGB, 16-bit and JPEG files (lossy: labels would blend) are
    /// `.unsupportedLayout`. Resize masks with `ResizeFilter.nearest`.
    public static func decodeLabels(path: String) throws(ImageError) -> DecodedImage {
        let data = try readFile(path)
        return try decodeLabels(bytes: data, name: path)
    }

    /// `decodeLabels(path:)` for bytes in memory; `name` is what errors report.
    public static func decodeLabels(bytes: some ContiguousBytes, name: String) throws(ImageError) -> DecodedImage {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(ImageError) in
                guard !raw.isEmpty else { throw .empty(file: name) }
                switch ImageFormat.detect(raw) {
                case .png: return try PNGDecoding.decode(raw, name: name, labels: true)
                case .jpeg:
                    throw .unsupportedLayout(
                        file: name, format: .jpeg,
                        detail: "JPEG is lossy, so it cannot hold class indices; expected a palette or grayscale PNG")
                case nil: throw .unsupportedFormat(file: name, leadingBytes: Array(raw.prefix(8)))
                }
            }
        }
        return try result.get()
    }

    /// The whole file at `path`; missing files, directories and read errors are `.unreadable`.
    static func readFile(_ path: String) throws(ImageError) -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .unreadable(file: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw .unreadable(file: path, reason: "it is a directory") }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw .unreadable(file: path, reason: error.localizedDescription)
        }
    }

    /// width · height · channels as a byte count, after checking width · height ≤
    /// `maximumPixels` (`sourceWidth`/`sourceHeight` are the header's size) with overflow-checked
    /// arithmetic.
    static func byteCount(
        width: Int, height: Int, channels: Int, sourceWidth: Int, sourceHeight: Int, name: String
    ) throws(ImageError) -> Int {
        let source = sourceWidth.multipliedReportingOverflow(by: sourceHeight)
        guard !source.overflow, source.partialValue <= maximumPixels else {
            throw .tooLarge(file: name, width: sourceWidth, height: sourceHeight, limit: maximumPixels)
        }
        let pixels = width.multipliedReportingOverflow(by: height)
        let bytes = pixels.partialValue.multipliedReportingOverflow(by: channels)
        guard !pixels.overflow, !bytes.overflow, pixels.partialValue <= maximumPixels else {
            throw .tooLarge(file: name, width: width, height: height, limit: maximumPixels)
        }
        return bytes.partialValue
    }
}
