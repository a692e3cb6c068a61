import Foundation
import MoEData

/// A fresh temporary directory, removed by `cleanup()`.
struct TempDir {
    let path: String

    init() throws {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("moe-data-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)))
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// IDX unsigned-byte encoding: 00 00 08 rank, big-endian UInt32 dims, values.
func idxBytes(dims: [Int], values: [UInt8], type: UInt8 = 0x08, magic0: UInt8 = 0) -> [UInt8] {
    var out: [UInt8] = [magic0, 0, type, UInt8(dims.count)]
    for d in dims {
        out += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)]
    }
    return out + values
}

/// Writes a small Fashion-MNIST-shaped split (gzip-compressed IDX files) into `dir`.
func writeFashionFixture(
    in dir: TempDir, prefix: String = "train", images: Int, labels: Int, side: Int = 28, labelValue: UInt8? = nil
) throws {
    let pixels = (0..<(images * side * side)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    let labelBytes = (0..<labels).map { labelValue ?? UInt8($0 % 10) }
    try dir.write(
        "\(prefix)-images-idx3-ubyte.gz", Gzip.compress(idxBytes(dims: [images, side, side], values: pixels)))
    try dir.write("\(prefix)-labels-idx1-ubyte.gz", Gzip.compress(idxBytes(dims: [labels], values: labelBytes)))
}

/// Mean and population standard deviation of `values`.
func meanStd(_ values: [Float]) -> (mean: Double, std: Double) {
    var sum = 0.0
    var sq = 0.0
    for v in values {
        sum += Double(v)
        sq += Double(v) * Double(v)
    }
    let n = Double(values.count)
    let mean = sum / n
    return (mean, (max(sq / n - mean * mean, 0)).squareRoot())
}
