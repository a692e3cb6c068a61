/// Reads the protobuf wire format `ProtobufWriter` writes: a message is a sequence of fields,
/// each a key (field number << 3 | wire type) and a varint (0), 8 bytes (1), a
/// length-delimited payload (2) or 4 bytes (5). Malformed input throws; nothing traps.
public struct ProtobufReader {
    /// One field of a message, in file order.
    public struct Field: Equatable, Sendable {
        public enum Value: Equatable, Sendable {
            case varint(UInt64)
            case fixed64(UInt64)
            case bytes([UInt8])
            case fixed32(UInt32)
        }

        public let number: Int
        public let value: Value

        public init(number: Int, value: Value) {
            self.number = number
            self.value = value
        }

        /// The payload of a length-delimited field (a string, bytes or a nested message).
        public var bytes: [UInt8]? {
            if case .bytes(let b) = value { return b }
            return nil
        }

        /// The value of a varint field.
        public var varint: UInt64? {
            if case .varint(let v) = value { return v }
            return nil
        }

        /// The payload as UTF-8 text.
        public var string: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Why a message could not be read.
    public struct Malformed: Error, CustomStringConvertible, Equatable {
        public let offset: Int
        public let reason: String
        public var description: String { "malformed protobuf at byte \(offset): \(reason)" }
    }

    private let data: [UInt8]
    private var position = 0

    private init(_ data: [UInt8]) { self.data = data }

    /// Every field of the message `bytes`, in order.
    public static func fields(_ bytes: [UInt8]) throws -> [Field] {
        var reader = ProtobufReader(bytes)
        var fields: [Field] = []
        while reader.position < bytes.count { fields.append(try reader.field()) }
        return fields
    }

    /// A packed repeated varint field's values, e.g. ONNX `dims` or `ints`.
    public static func packedVarints(_ bytes: [UInt8]) throws -> [UInt64] {
        var reader = ProtobufReader(bytes)
        var values: [UInt64] = []
        while reader.position < bytes.count { values.append(try reader.varint()) }
        return values
    }

    private mutating func field() throws -> Field {
        let start = position
        let key = try varint()
        let number = Int(truncatingIfNeeded: key >> 3)
        guard number > 0 && number < (1 << 29) else {
            throw Malformed(offset: start, reason: "field number \(key >> 3) is out of range")
        }
        switch key & 7 {
        case 0: return Field(number: number, value: .varint(try varint()))
        case 1: return Field(number: number, value: .fixed64(try littleEndian(8)))
        case 2:
            let length = try varint()
            guard length <= UInt64(data.count - position) else {
                throw Malformed(offset: position, reason: "length \(length) runs past the end (\(data.count) bytes)")
            }
            let end = position + Int(length)
            defer { position = end }
            return Field(number: number, value: .bytes(Array(data[position..<end])))
        case 5: return Field(number: number, value: .fixed32(UInt32(try littleEndian(4))))
        default: throw Malformed(offset: start, reason: "unsupported wire type \(key & 7)")
        }
    }

    private mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < data.count {
            let byte = data[position]
            position += 1
            guard shift < 64 else { throw Malformed(offset: position - 1, reason: "varint longer than 10 bytes") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        throw Malformed(offset: position, reason: "varint runs past the end")
    }

    private mutating func littleEndian(_ count: Int) throws -> UInt64 {
        guard data.count - position >= count else {
            throw Malformed(offset: position, reason: "\(count)-byte value runs past the end")
        }
        var value: UInt64 = 0
        for i in 0..<count { value |= UInt64(data[position + i]) << (8 * UInt64(i)) }
        position += count
        return value
    }
}
