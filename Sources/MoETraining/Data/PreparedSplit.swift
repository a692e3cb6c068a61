import MoEData
import MoEDataSources
import MoEModel
import MoETensor

/// A split of a user's dataset (folder, coco, masks) held as prepared bytes; batches are
/// normalised per channel through lookup tables: x = (p / 255 − mean[c]) / std[c], the same
/// arithmetic as `ImageDataset` (so a gray folder split with Fashion-MNIST's statistics gives
/// bit-identical batches to the IDX reader).
public struct PreparedSplit: TaskSplit {
    public let data: LoadedSplit
    public let classes: Int
    public let mean: [Float]
    public let std: [Float]
    /// `lookup[c][p] = (p / 255 − mean[c]) / std[c]`.
    private let lookup: [[Float]]

    public init(_ data: LoadedSplit, classes: Int, mean: [Float], std: [Float]) {
        self.data = data
        self.classes = classes
        self.mean = mean
        self.std = std
        self.lookup = zip(mean, std).map { m, s in (0...255).map { (Float($0) / 255 - m) / s } }
    }

    public var count: Int { data.count }
    public var channels: Int { data.images.preprocessing.channels }
    public var height: Int { data.images.preprocessing.height }
    public var width: Int { data.images.preprocessing.width }

    public func makeBatch(indices: [Int], into images: inout Tensor) -> TaskTargets {
        let (c, plane) = (channels, height * width)
        let shape = [indices.count, c, height, width]
        if images.shape != shape { images = Tensor(shape: shape) }
        data.images.pixels.withUnsafeBufferPointer { src in
            images.withUnsafeMutablePointer { dst in
                for (b, i) in indices.enumerated() {
                    for ch in 0..<c {
                        let table = lookup[ch]
                        let s = (i * c + ch) * plane
                        let d = (b * c + ch) * plane
                        for j in 0..<plane { dst[d + j] = table[Int(src[s + j])] }
                    }
                }
            }
        }
        switch data.targets {
        case .labels(let labels): return .labels(indices.map { labels[$0] })
        case .boxes(let boxes): return .boxes(indices.map { boxes[$0] })
        case .masks(let masks):
            var out = [Int32]()
            out.reserveCapacity(indices.count * plane)
            masks.withUnsafeBufferPointer { bytes in
                for i in indices {
                    for v in bytes[(i * plane)..<((i + 1) * plane)] {
                        out.append(v == MaskFolder.ignoreValue ? -1 : Int32(v))
                    }
                }
            }
            return .masks(out)
        }
    }
}
