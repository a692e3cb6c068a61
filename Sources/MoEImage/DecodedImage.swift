/// An 8-bit image in memory: `pixels[(y · width + x) · channels + c]`, rows top to bottom,
/// channels interleaved; `channels` is 1 (gray, or class indices for label masks) or 3 (RGB).
public struct DecodedImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public let channels: Int
    /// width · height · channels samples, row-major, interleaved.
    public var pixels: [UInt8]

    /// An image over `pixels`; traps unless width, height ≥ 1, channels ∈ {1, 3} and
    /// pixels.count = width · height · channels.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(width >= 1 && height >= 1, "DecodedImage needs width, height ≥ 1, got \(width)×\(height)")
        precondition(channels == 1 || channels == 3, "DecodedImage has 1 or 3 channels, got \(channels)")
        precondition(
            pixels.count == width * height * channels,
            "DecodedImage \(width)×\(height)×\(channels) has \(pixels.count) samples")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// A width×height image with every sample equal to `value`.
    public init(width: Int, height: Int, channels: Int, repeating value: UInt8) {
        self.init(
            width: width, height: height, channels: channels,
            pixels: [UInt8](repeating: value, count: width * height * channels))
    }

    public var size: ImageSize { ImageSize(width: width, height: height) }

    /// The sample at column x, row y, channel c.
    public subscript(x: Int, y: Int, channel: Int) -> UInt8 {
        get { pixels[(y * width + x) * channels + channel] }
        set { pixels[(y * width + x) * channels + channel] = newValue }
    }

    /// Pillow's ITU-R 601-2 luma for `convert('L')`, in 16-bit fixed point:
    /// L = (R · 19595 + G · 38470 + B · 7471 + 2¹⁵) >> 16. The weights are 0.299, 0.587 and
    /// 0.114 scaled by 2¹⁶ (they sum to 2¹⁶, so gray stays gray); this equals Pillow's output
    /// for all 2²⁴ colours, which the /1000 integer form R·299/1000 + … does not.
    @inline(__always)
    public static func luma(red: UInt8, green: UInt8, blue: UInt8) -> UInt8 {
        let weighted: UInt32 = UInt32(red) * 19595 + UInt32(green) * 38470 + UInt32(blue) * 7471
        return UInt8((weighted + 0x8000) >> 16)
    }

    /// This image with `channels` channels (1 or 3): gray → RGB repeats the sample
    /// (Pillow's `convert('RGB')`); RGB → gray is `luma` (Pillow's `convert('L')`).
    public func converted(toChannels target: Int) -> DecodedImage {
        precondition(target == 1 || target == 3, "channels must be 1 or 3, got \(target)")
        if target == channels { return self }
        let count = width * height
        if target == 3 {
            var rgb = [UInt8](repeating: 0, count: count * 3)
            for i in 0..<count {
                let v = pixels[i]
                rgb[3 * i] = v
                rgb[3 * i + 1] = v
                rgb[3 * i + 2] = v
            }
            return DecodedImage(width: width, height: height, channels: 3, pixels: rgb)
        }
        var gray = [UInt8](repeating: 0, count: count)
        pixels.withUnsafeBufferPointer { rgb in
            for i in 0..<count {
                gray[i] = Self.luma(red: rgb[3 * i], green: rgb[3 * i + 1], blue: rgb[3 * i + 2])
            }
        }
        return DecodedImage(width: width, height: height, channels: 1, pixels: gray)
    }
}
