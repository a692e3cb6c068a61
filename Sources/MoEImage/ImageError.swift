/// Everything that can go wrong decoding an image. `file` is the path (or the name given
/// with the bytes); each `description` names it, says what is wrong and what is expected.
public enum ImageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be read (missing, a directory, no permission, I/O error).
    case unreadable(file: String, reason: String)
    /// The file has zero bytes.
    case empty(file: String)
    /// The bytes start with neither the PNG nor the JPEG signature.
    case unsupportedFormat(file: String, leadingBytes: [UInt8])
    /// libpng or libjpeg rejected the data: corrupt or truncated. `message` is the library's.
    case corrupt(file: String, format: ImageFormat, message: String)
    /// A JPEG in CMYK or YCCK (typically from print workflows).
    case cmykJPEG(file: String)
    /// A valid file whose layout is not supported (e.g. a 2-component JPEG, or an RGB PNG
    /// given as a label mask).
    case unsupportedLayout(file: String, format: ImageFormat, detail: String)
    /// width · height exceeds `limit` (`ImageDecoder.maximumPixels`); found from the header,
    /// before any pixel buffer is allocated.
    case tooLarge(file: String, width: Int, height: Int, limit: Int)
    /// A requested channel count other than 1 or 3.
    case unsupportedChannels(file: String, requested: Int)
    /// The decoder could not allocate memory, or disagreed with itself about the size.
    case internalFailure(file: String, format: ImageFormat, detail: String)

    /// The path or name of the image concerned.
    public var file: String {
        switch self {
        case .unreadable(let file, _), .empty(let file), .unsupportedFormat(let file, _), .corrupt(let file, _, _),
            .cmykJPEG(let file), .unsupportedLayout(let file, _, _), .tooLarge(let file, _, _, _),
            .unsupportedChannels(let file, _), .internalFailure(let file, _, _):
            return file
        }
    }

    public var description: String {
        switch self {
        case .unreadable(let file, let reason):
            return "cannot read image '\(file)': \(reason); expected a readable PNG or JPEG file."
        case .empty(let file):
            return "image '\(file)' is empty (0 bytes); expected a PNG or JPEG file — was it written completely?"
        case .unsupportedFormat(let file, let bytes):
            return "'\(file)' is not a PNG or JPEG image: it starts with \(Self.show(bytes)); expected PNG "
                + "(89 50 4E 47 0D 0A 1A 0A) or JPEG (FF D8 FF) data, whatever the file name says — "
                + "convert other formats (GIF, WebP, BMP, TIFF, HEIC) to PNG or JPEG."
        case .corrupt(let file, let format, let message):
            return "\(format) '\(file)' is corrupt or truncated: \(Self.library(format)) says \"\(message)\"; "
                + "expected a complete, valid \(format) file — re-export or re-download it."
        case .cmykJPEG(let file):
            return "JPEG '\(file)' is CMYK: CMYK JPEG is not supported; convert to RGB "
                + "(e.g. `convert in.jpg -colorspace sRGB out.jpg`, or Pillow's `.convert('RGB')`)."
        case .unsupportedLayout(let file, let format, let detail):
            return "\(format) '\(file)' is not supported: \(detail)."
        case .tooLarge(let file, let width, let height, let limit):
            let pixels = width.multipliedReportingOverflow(by: height)
            let count = pixels.overflow ? "more than \(Int.max)" : "\(pixels.partialValue)"
            return "image '\(file)' is \(width)×\(height) = \(count) pixels; at most \(limit) pixels are "
                + "decoded — downscale it first (or check the file: a corrupt header can claim any size)."
        case .unsupportedChannels(let file, let requested):
            return "cannot decode '\(file)' to \(requested) channels; expected 1 (gray) or 3 (RGB)."
        case .internalFailure(let file, let format, let detail):
            return "could not decode \(format) '\(file)': \(detail); expected enough free memory "
                + "(otherwise this is a bug in MoEImage)."
        }
    }

    /// "68 65 6C 6C (\"hell\")": hex and printable ASCII of the leading bytes.
    private static func show(_ bytes: [UInt8]) -> String {
        if bytes.isEmpty { return "nothing" }
        let hex = bytes.map { String($0, radix: 16, uppercase: true) }.map { $0.count == 1 ? "0" + $0 : $0 }
        let text = String(bytes.map { (32..<127).contains($0) ? Character(UnicodeScalar($0)) : "." })
        return "\(hex.joined(separator: " ")) (\"\(text)\")"
    }

    private static func library(_ format: ImageFormat) -> String {
        format == .png ? "libpng" : "libjpeg"
    }
}
