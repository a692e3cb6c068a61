import CImageShim

/// The message buffer of one CImageShim call, and the `ImageError` for its status code.
struct ShimMessage {
    static let capacity = 512
    var buffer = [CChar](repeating: 0, count: capacity)

    /// The NUL-terminated text the shim wrote (libpng's or libjpeg's message).
    var text: String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Returns for MOE_IMAGE_OK; otherwise throws the matching `ImageError` for `file`.
    func check(_ status: Int32, file: String, format: ImageFormat) throws(ImageError) {
        switch UInt32(bitPattern: status) {
        case MOE_IMAGE_OK.rawValue:
            return
        case MOE_IMAGE_CORRUPT.rawValue:
            throw .corrupt(file: file, format: format, message: text)
        case MOE_IMAGE_CMYK.rawValue:
            throw .cmykJPEG(file: file)
        case MOE_IMAGE_UNSUPPORTED.rawValue:
            throw .unsupportedLayout(file: file, format: format, detail: text)
        default:
            throw .internalFailure(file: file, format: format, detail: "\(text) (status \(status))")
        }
    }
}
