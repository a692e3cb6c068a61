/// The bytes of a NumPy `.npy` file (format 1.0) holding a little-endian float32 array, so
/// `numpy.load` reads reference tensors without another dependency.
public enum NumpyFile {
    public static func bytes(_ values: [Float], shape: [Int]) -> [UInt8] {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        // magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64
        // and ended by a newline.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let length = UInt16(header.utf8.count)
        out += [UInt8(length & 0xFF), UInt8(length >> 8)]
        out += Array(header.utf8)
        out.reserveCapacity(out.count + values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }
}
