/// The protobuf wire format, as far as TensorBoard's `Event` and ONNX's `ModelProto` need it:
/// varints (wire type 0), 64-bit (1), length-delimited (2) and 32-bit (5) fields,
/// little-endian. Fields are written in call order; `ProtobufReader` reads them back.
public struct ProtobufWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func key(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    public mutating func int64(_ field: Int, _ value: Int64) {
        key(field, 0)
        varint(UInt64(bitPattern: value))
    }

    public mutating func double(_ field: Int, _ value: Double) {
        key(field, 1)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    public mutating func message(_ field: Int, _ build: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        build(&inner)
        bytes(field, inner.bytes)
    }

    /// A packed repeated double field.
    public mutating func packedDoubles(_ field: Int, _ values: [Double]) {
        var inner: [UInt8] = []
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { inner.append(contentsOf: $0) } }
        bytes(field, inner)
    }

    /// A packed repeated int64 field (varints).
    public mutating func packedInt64s(_ field: Int, _ values: [Int64]) {
        var inner = ProtobufWriter()
        for v in values { inner.varint(UInt64(bitPattern: v)) }
        bytes(field, inner.bytes)
    }

    /// A length-delimited field holding `values` as little-endian float32 (ONNX `raw_data`).
    public mutating func rawFloats(_ field: Int, _ values: [Float]) {
        key(field, 2)
        varint(UInt64(values.count * 4))
        #if _endian(little)
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        #endif
    }
}
