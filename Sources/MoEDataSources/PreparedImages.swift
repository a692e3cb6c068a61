import MoEImage
import MoETensor
import Synchronization

/// Images prepared to one input size, as bytes: `pixels[((i · C + c) · H + y) · W + x]`,
/// with each image's letterbox transform (detection/segmentation) for mapping boxes.
public struct PreparedImages: Sendable {
    public let preprocessing: ImagePreprocessing
    /// In memory, or mapped from a streamed cache file (`StreamedSplitFile`).
    public let pixels: ByteStore
    public let transforms: [LetterboxTransform?]

    public init(preprocessing: ImagePreprocessing, pixels: ByteStore, transforms: [LetterboxTransform?]) {
        self.preprocessing = preprocessing
        self.pixels = pixels
        self.transforms = transforms
    }

    public init(preprocessing: ImagePreprocessing, pixels: [UInt8], transforms: [LetterboxTransform?]) {
        self.init(preprocessing: preprocessing, pixels: ByteStore(pixels), transforms: transforms)
    }

    public var count: Int { transforms.count }

    /// Per channel, the mean and population standard deviation of p / 255 over all images,
    /// from exact 256-bin histograms (as `ImageDataset.statistics`, one per channel).
    public func channelStatistics() -> (mean: [Float], std: [Float]) {
        let c = preprocessing.channels
        let plane = preprocessing.height * preprocessing.width
        // Integer counts, so chunks on the worker threads sum to the same histogram in any
        // order; four interleaved tables per chunk keep repeated values from stalling on one
        // counter.
        let total = Mutex([Int](repeating: 0, count: 256 * c))
        pixels.withUnsafeBufferPointer { p in
            Parallel.forEachChunk(count: count, minimumPerThread: 256) { images in
                var tables = [Int](repeating: 0, count: 4 * 256 * c)
                tables.withUnsafeMutableBufferPointer { h in
                    for i in images {
                        for ch in 0..<c {
                            let start = (i * c + ch) * plane
                            let bins = ch * 256
                            var j = start
                            while j + 4 <= start + plane {
                                for lane in 0..<4 { h[lane * 256 * c + bins + Int(p[j + lane])] += 1 }
                                j += 4
                            }
                            while j < start + plane {
                                h[bins + Int(p[j])] += 1
                                j += 1
                            }
                        }
                    }
                }
                total.withLock { sum in
                    for b in 0..<(256 * c) {
                        sum[b] += tables[b] + tables[b + 256 * c] + tables[b + 512 * c] + tables[b + 768 * c]
                    }
                }
            }
        }
        let flat = total.withLock { $0 }
        var means: [Float] = []
        var stds: [Float] = []
        for ch in 0..<c {
            let histogram = flat[(ch * 256)..<((ch + 1) * 256)]
            var (sum, squares, n) = (0.0, 0.0, 0.0)
            for (v, k) in zip(0..., histogram) where k > 0 {
                let x = Double(v) / 255
                sum += x * Double(k)
                squares += x * x * Double(k)
                n += Double(k)
            }
            let mean = n > 0 ? sum / n : 0
            let variance = n > 0 ? max(squares / n - mean * mean, 0) : 1
            means.append(Float(mean))
            stds.append(Float(variance.squareRoot()))
        }
        return (means, stds)
    }
}
