/// The file formats `ImageDecoder` reads, recognised by their leading bytes (never by the
/// file name's extension).
public enum ImageFormat: String, Sendable, Equatable, CustomStringConvertible {
    case png = "PNG"
    case jpeg = "JPEG"

    /// The 8-byte PNG signature: 89 50 4E 47 0D 0A 1A 0A.
    public static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    /// A JPEG's start-of-image marker and the next marker's first byte: FF D8 FF.
    public static let jpegSignature: [UInt8] = [0xFF, 0xD8, 0xFF]

    /// The format whose signature `bytes` start with, or nil.
    public static func detect<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> ImageFormat? {
        if bytes.starts(with: pngSignature) { return .png }
        if bytes.starts(with: jpegSignature) { return .jpeg }
        return nil
    }

    public var description: String { rawValue }
}
