import MoEImage

/// How one image becomes a model input of `channels` × `height` × `width` bytes (DESIGN §8.1);
/// training, evaluation and `moe predict` all call `prepare`, so they see identical pixels.
///
/// - `.centerCrop` (classification): resize (bilinear, Pillow-exact) so the shorter side is
///   S = max(height, width), then the centred height × width crop — for a square input
///   exactly torchvision's `Resize(S)` + `CenterCrop(S)`.
/// - `.letterbox` (detection, segmentation): scale to fit height × width keeping the aspect
///   ratio, centred, padded with 0; `LetterboxTransform` maps boxes and points both ways.
///   Masks use `prepareMask`: the same geometry with nearest resampling, padding = 255
///   (ignored).
///
/// Channels: 3 repeats a gray image; 1 converts colour with Pillow's BT.601 luma.
public struct ImagePreprocessing: Sendable, Equatable, Hashable, Codable {
    public enum Mode: String, Sendable, Codable, Hashable {
        case centerCrop, letterbox
    }

    public var channels: Int
    public var height: Int
    public var width: Int
    public var mode: Mode

    public init(channels: Int, height: Int, width: Int, mode: Mode) {
        self.channels = channels
        self.height = height
        self.width = width
        self.mode = mode
    }

    /// Values per prepared image: channels · height · width.
    public var sampleSize: Int { channels * height * width }

    /// Decodes the file at `path` and prepares it; JPEGs decode at a reduced DCT scale when
    /// they are at least twice the input size (Pillow's `draft`).
    public func load(path: String) throws(ImageError) -> (image: DecodedImage, transform: LetterboxTransform?) {
        let hint: ImageSize
        switch mode {
        case .centerCrop: hint = ImageSize(width: max(height, width), height: max(height, width))
        case .letterbox: hint = ImageSize(width: width, height: height)
        }
        let decoded = try ImageDecoder.decode(path: path, channels: channels, minimumSize: hint)
        return prepare(decoded)
    }

    /// `image` (any size, 1 or 3 channels) as a height × width input with `channels`
    /// channels, and the letterbox transform (nil for `.centerCrop`).
    public func prepare(_ image: DecodedImage) -> (image: DecodedImage, transform: LetterboxTransform?) {
        let converted = image.converted(toChannels: channels)
        switch mode {
        case .centerCrop:
            let resized = converted.resizedShorterSide(to: max(height, width))
            return (resized.centerCropped(width: width, height: height), nil)
        case .letterbox:
            let (canvas, transform) = converted.letterboxed(width: width, height: height)
            return (canvas, transform)
        }
    }

    /// A class-index mask letterboxed like its image: nearest resampling, padding 255.
    public func prepareMask(_ mask: DecodedImage) -> DecodedImage {
        mask.letterboxed(width: width, height: height, fill: 255, filter: .nearest).image
    }

    /// The interleaved pixels of a prepared image in channel-major order (c, y, x), appended
    /// to `out`.
    public static func appendPlanar(_ image: DecodedImage, to out: inout [UInt8]) {
        let plane = image.width * image.height
        let c = image.channels
        if c == 1 {
            out.append(contentsOf: image.pixels)
            return
        }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: plane * c))
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for ch in 0..<c {
                    let base = start + ch * plane
                    for i in 0..<plane { dst[base + i] = src[i * c + ch] }
                }
            }
        }
    }
}
