import MoETensor

/// An in-memory labelled image dataset, pixels kept as UInt8 (0...255) to save memory.
///
/// Images are stored channel-major (`count × C × H × W`) as raw bytes; `makeBatch` turns a
/// selection of them into a normalised float tensor `[B, C, H, W]` with
/// `x = (p / 255 − mean) / std` through a 256-entry lookup table.
public struct ImageDataset: Sendable {
    /// A short identifier, e.g. `"fashion-mnist-train"`.
    public let name: String
    /// Channels per image.
    public let channels: Int
    /// Image height in pixels.
    public let height: Int
    /// Image width in pixels.
    public let width: Int
    /// `count × channels × height × width` pixel values in 0...255.
    public let pixels: [UInt8]
    /// One label in `0..<classes` per image.
    public let labels: [Int32]
    /// Number of classes.
    public let classes: Int
    /// Mean of `p / 255` used by `makeBatch`'s normalisation.
    public let mean: Float
    /// Standard deviation of `p / 255` used by `makeBatch`'s normalisation.
    public let std: Float

    /// `lookup[p] == (Float(p) / 255 − mean) / std`.
    private let lookup: [Float]

    /// Number of images.
    public var count: Int { labels.count }

    /// Values per image: `channels × height × width`.
    public var sampleSize: Int { channels * height * width }

    /// A dataset over `pixels` and `labels`.
    /// - Throws: `DataError.invalid` if an extent or `classes` is not positive, `pixels.count`
    ///   is not `labels.count × channels × height × width`, a label is outside
    ///   `0..<classes`, or `mean`/`std` are not finite (or `std <= 0`).
    public init(
        name: String, channels: Int, height: Int, width: Int,
        pixels: [UInt8], labels: [Int32], classes: Int, mean: Float, std: Float
    ) throws {
        guard channels > 0, height > 0, width > 0 else {
            throw DataError.invalid(detail: "\(name): image shape \(channels)×\(height)×\(width) must be positive")
        }
        guard classes > 0 else { throw DataError.invalid(detail: "\(name): classes must be positive, got \(classes)") }
        let (expected, overflow) = labels.count.multipliedReportingOverflow(by: channels * height * width)
        guard !overflow, pixels.count == expected else {
            throw DataError.invalid(
                detail: "\(name): \(pixels.count) pixel values do not fit \(labels.count) images of "
                    + "\(channels)×\(height)×\(width)")
        }
        if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= classes }) {
            throw DataError.invalid(detail: "\(name): label \(labels[bad]) at index \(bad) is outside 0..<\(classes)")
        }
        guard mean.isFinite, std.isFinite, std > 0 else {
            throw DataError.invalid(
                detail: "\(name): normalisation mean \(mean) / std \(std) must be finite with std > 0")
        }
        self.name = name
        self.channels = channels
        self.height = height
        self.width = width
        self.pixels = pixels
        self.labels = labels
        self.classes = classes
        self.mean = mean
        self.std = std
        self.lookup = (0...255).map { (Float($0) / 255 - mean) / std }
    }

    /// Mean and (population) standard deviation of `p / 255` over `pixels`, computed exactly
    /// from a 256-bin histogram in double precision.
    public static func statistics(of pixels: [UInt8]) -> (mean: Float, std: Float) {
        guard !pixels.isEmpty else { return (0, 1) }
        var histogram = [Int](repeating: 0, count: 256)
        pixels.withUnsafeBufferPointer { p in
            histogram.withUnsafeMutableBufferPointer { h in
                for v in p { h[Int(v)] += 1 }
            }
        }
        var sum = 0.0
        var sumSquares = 0.0
        for (v, n) in histogram.enumerated() where n > 0 {
            let x = Double(v) / 255
            sum += x * Double(n)
            sumSquares += x * x * Double(n)
        }
        let n = Double(pixels.count)
        let mean = sum / n
        let variance = max(sumSquares / n - mean * mean, 0)
        return (Float(mean), Float(variance.squareRoot()))
    }

    /// Number of images of each class, indexed by label.
    public func classCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: classes)
        for label in labels { counts[Int(label)] += 1 }
        return counts
    }

    /// A new dataset holding the images at `indices` (in that order), with the same shape,
    /// classes and normalisation.
    public func subset(_ indices: [Int], name: String? = nil) -> ImageDataset {
        let size = sampleSize
        var newPixels = [UInt8](repeating: 0, count: indices.count * size)
        var newLabels = [Int32](repeating: 0, count: indices.count)
        pixels.withUnsafeBufferPointer { src in
            newPixels.withUnsafeMutableBufferPointer { dst in
                for (row, i) in indices.enumerated() {
                    precondition(i >= 0 && i < count, "subset index \(i) out of range 0..<\(count)")
                    (dst.baseAddress! + row * size).update(from: src.baseAddress! + i * size, count: size)
                    newLabels[row] = labels[i]
                }
            }
        }
        // Every invariant is inherited from `self`, so this cannot throw.
        return try! ImageDataset(
            name: name ?? self.name, channels: channels, height: height, width: width,
            pixels: newPixels, labels: newLabels, classes: classes, mean: mean, std: std)
    }

    // MARK: - Batching

    /// Images `[B, C, H, W]` normalised as `(p / 255 − mean) / std`, and their labels `[B]`,
    /// for `B = indices.count` images taken in the order given. Indices must be in `0..<count`.
    public func makeBatch(indices: [Int]) -> (images: Tensor, labels: [Int32]) {
        indices.withUnsafeBufferPointer { makeBatch(buffer: $0) }
    }

    /// See `makeBatch(indices: [Int])`.
    public func makeBatch(indices: ArraySlice<Int>) -> (images: Tensor, labels: [Int32]) {
        indices.withUnsafeBufferPointer { makeBatch(buffer: $0) }
    }

    /// The contiguous images `range` (e.g. one of `evaluationBatches`), in order.
    public func makeBatch(indices range: Range<Int>) -> (images: Tensor, labels: [Int32]) {
        makeBatch(indices: Array(range))
    }

    /// Fills `images` (`[B, C, H, W]`) and `labels` (`[B]`) with the batch at `indices`,
    /// reusing their storage: nothing is allocated when `images` already has shape
    /// `[B, C, H, W]`, `labels` already holds `B` values, and neither buffer is shared.
    /// Otherwise they are reallocated to the right size.
    public func makeBatch(indices: [Int], into images: inout Tensor, labels: inout [Int32]) {
        indices.withUnsafeBufferPointer { fill(buffer: $0, images: &images, labels: &labels) }
    }

    /// See `makeBatch(indices: [Int], into:labels:)`.
    public func makeBatch(indices: ArraySlice<Int>, into images: inout Tensor, labels: inout [Int32]) {
        indices.withUnsafeBufferPointer { fill(buffer: $0, images: &images, labels: &labels) }
    }

    /// See `makeBatch(indices: [Int], into:labels:)`; takes the contiguous images `range`.
    public func makeBatch(indices range: Range<Int>, into images: inout Tensor, labels: inout [Int32]) {
        precondition(
            range.lowerBound >= 0 && range.upperBound <= count, "batch range \(range) out of 0..<\(count)")
        let batch = range.count
        prepare(batch: batch, images: &images, labels: &labels)
        let size = sampleSize
        let start = range.lowerBound
        lookup.withUnsafeBufferPointer { table in
            pixels.withUnsafeBufferPointer { src in
                images.withUnsafeMutablePointer { dst in
                    let s = src.baseAddress! + start * size
                    for j in 0..<(batch * size) { dst[j] = table[Int(s[j])] }
                }
            }
        }
        labels.withUnsafeMutableBufferPointer { dst in
            for b in 0..<batch { dst[b] = self.labels[start + b] }
        }
    }

    private func makeBatch(buffer: UnsafeBufferPointer<Int>) -> (images: Tensor, labels: [Int32]) {
        var images = Tensor(shape: [buffer.count, channels, height, width])
        var labels = [Int32](repeating: 0, count: buffer.count)
        fill(buffer: buffer, images: &images, labels: &labels)
        return (images, labels)
    }

    private func prepare(batch: Int, images: inout Tensor, labels: inout [Int32]) {
        // Compare extents one by one: building a shape array here would allocate per batch.
        let s = images.shape
        if s.count != 4 || s[0] != batch || s[1] != channels || s[2] != height || s[3] != width
            || images.storage.count != batch * sampleSize
        {
            images = Tensor(shape: [batch, channels, height, width])
        }
        if labels.count != batch {
            labels = [Int32](repeating: 0, count: batch)
        }
    }

    private func fill(buffer: UnsafeBufferPointer<Int>, images: inout Tensor, labels: inout [Int32]) {
        let batch = buffer.count
        prepare(batch: batch, images: &images, labels: &labels)
        let size = sampleSize
        let n = count
        lookup.withUnsafeBufferPointer { table in
            pixels.withUnsafeBufferPointer { src in
                self.labels.withUnsafeBufferPointer { srcLabels in
                    labels.withUnsafeMutableBufferPointer { dstLabels in
                        images.withUnsafeMutablePointer { dst in
                            for b in 0..<batch {
                                let i = buffer[b]
                                precondition(i >= 0 && i < n, "batch index \(i) out of range 0..<\(n)")
                                let s = src.baseAddress! + i * size
                                let d = dst + b * size
                                for j in 0..<size { d[j] = table[Int(s[j])] }
                                dstLabels[b] = srcLabels[i]
                            }
                        }
                    }
                }
            }
        }
    }
}
