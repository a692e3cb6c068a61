/// An array in the IDX format used by MNIST and Fashion-MNIST.
///
/// Layout: two zero bytes, a type byte (only `0x08`, unsigned byte, is supported), a rank
/// byte, `rank` big-endian `UInt32` extents, then the values in row-major order.
public struct IDXArray: Sendable, Equatable {
    /// Extent of each dimension, outermost first (e.g. `[60000, 28, 28]`).
    public let dims: [Int]
    /// The `dims.reduce(1, *)` values, row-major.
    public let bytes: [UInt8]

    /// An array of `dims` over `bytes`; `bytes.count` must equal `dims.reduce(1, *)`.
    public init(dims: [Int], bytes: [UInt8]) throws {
        guard !dims.isEmpty, dims.allSatisfy({ $0 >= 0 }), dims.reduce(1, *) == bytes.count else {
            throw DataError.invalid(detail: "IDX dims \(dims) do not fit \(bytes.count) bytes")
        }
        self.dims = dims
        self.bytes = bytes
    }

    /// Reads an IDX file, gunzipping it when it is gzip-compressed (see `Gzip.readFile`).
    /// - Throws: `DataError.fileNotFound`, or `DataError.corrupt` for a bad gzip stream,
    ///   bad magic, unsupported element type, zero rank, or a size that does not match the
    ///   header.
    public static func read(path: String) throws -> IDXArray {
        try decode(Gzip.readFile(path), path: path)
    }

    /// Decodes IDX bytes already in memory; `path` is used only in error messages.
    public static func decode(_ data: [UInt8], path: String) throws -> IDXArray {
        guard data.count >= 4 else {
            throw DataError.corrupt(path: path, detail: "IDX file too short (\(data.count) bytes) for a header")
        }
        guard data[0] == 0, data[1] == 0 else {
            let hex = data.prefix(4).map { String($0, radix: 16) }.joined(separator: " ")
            throw DataError.corrupt(path: path, detail: "bad IDX magic (first bytes \(hex), expected 00 00 08 rank)")
        }
        guard data[2] == 0x08 else {
            throw DataError.corrupt(
                path: path,
                detail: "unsupported IDX element type 0x\(String(data[2], radix: 16)) (only unsigned byte 0x08)")
        }
        let rank = Int(data[3])
        guard rank >= 1 else { throw DataError.corrupt(path: path, detail: "IDX rank is 0") }
        let headerSize = 4 + 4 * rank
        guard data.count >= headerSize else {
            throw DataError.corrupt(path: path, detail: "IDX header truncated (rank \(rank), \(data.count) bytes)")
        }
        var dims = [Int]()
        var total = 1
        for d in 0..<rank {
            let o = 4 + 4 * d
            let extent = Int(data[o]) << 24 | Int(data[o + 1]) << 16 | Int(data[o + 2]) << 8 | Int(data[o + 3])
            dims.append(extent)
            let (product, overflow) = total.multipliedReportingOverflow(by: extent)
            guard !overflow else { throw DataError.corrupt(path: path, detail: "IDX dims \(dims) overflow") }
            total = product
        }
        let payload = data.count - headerSize
        guard payload == total else {
            throw DataError.corrupt(
                path: path,
                detail: "IDX dims \(dims) need \(total) bytes of data, file has \(payload)")
        }
        return try IDXArray(dims: dims, bytes: Array(data[headerSize...]))
    }
}
