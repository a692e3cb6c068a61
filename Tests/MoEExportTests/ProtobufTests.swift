import MoEProtobuf
import Testing

@Suite struct ProtobufTests {
    @Test("fields written by ProtobufWriter read back with their numbers and values")
    func roundTrip() throws {
        var w = ProtobufWriter()
        w.int64(1, 300)
        w.string(2, "moe")
        w.float(3, 1.5)
        w.packedInt64s(4, [1, 128, -1])
        w.rawFloats(5, [0.25, -2])
        w.message(6) { $0.int64(1, 7) }
        let fields = try ProtobufReader.fields(w.bytes)
        #expect(fields.map(\.number) == [1, 2, 3, 4, 5, 6])
        #expect(fields[0].varint == 300)
        #expect(fields[1].string == "moe")
        #expect(fields[2].value == .fixed32(Float(1.5).bitPattern))
        let packed = try ProtobufReader.packedVarints(try #require(fields[3].bytes))
        #expect(packed.map { Int64(bitPattern: $0) } == [1, 128, -1])
        #expect(fields[4].bytes == [0, 0, 0x80, 0x3E, 0, 0, 0, 0xC0])
        #expect(try ProtobufReader.fields(try #require(fields[5].bytes)) == [.init(number: 1, value: .varint(7))])
    }

    @Test("truncated or malformed input throws instead of trapping")
    func malformed() {
        var w = ProtobufWriter()
        w.string(1, "abcdef")
        let bytes = w.bytes
        for cut in 1..<bytes.count {
            #expect(throws: ProtobufReader.Malformed.self) { try ProtobufReader.fields(Array(bytes[0..<cut])) }
        }
        #expect(throws: ProtobufReader.Malformed.self) { try ProtobufReader.fields([0x0B]) }  // wire type 3
        #expect(throws: ProtobufReader.Malformed.self) { try ProtobufReader.fields([0x00, 0x00]) }  // field 0
        #expect(throws: ProtobufReader.Malformed.self) {
            try ProtobufReader.fields([UInt8](repeating: 0xFF, count: 12))
        }
    }
}
