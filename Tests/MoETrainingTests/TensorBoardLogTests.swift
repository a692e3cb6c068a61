import Foundation
import MoEProtobuf
import MoETestSupport
import Testing

@testable import MoETraining

/// The pieces of the event-file encoder against the specifications they follow
/// (`scripts/check_tensorboard.py` reads a whole run back with TensorBoard itself in CI).
@Suite struct TensorBoardLogTests {
    @Test("CRC-32C matches the standard check value and TFRecord's masking")
    func crc() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        let crc = CRC32C.checksum([1, 2, 3])
        #expect(CRC32C.masked([1, 2, 3]) == ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
    }

    @Test("protobuf fields use the documented wire format")
    func protobuf() {
        var w = ProtobufWriter()
        w.varint(300)
        #expect(w.bytes == [0xAC, 0x02])
        var f = ProtobufWriter()
        f.int64(2, 1)
        f.float(2, 1.0)
        f.string(1, "ab")
        #expect(f.bytes == [0x10, 0x01, 0x15, 0x00, 0x00, 0x80, 0x3F, 0x0A, 0x02, 0x61, 0x62])
    }

    @Test("a TFRecord is length, masked CRC of the length, data, masked CRC of the data")
    func record() {
        let data: [UInt8] = [7, 8, 9]
        let r = TensorBoardLog.record(data)
        #expect(r.count == 8 + 4 + 3 + 4)
        #expect(Array(r[0..<8]) == [3, 0, 0, 0, 0, 0, 0, 0])
        let lengthCRC = r[8..<12].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) }
        #expect(lengthCRC == CRC32C.masked(Array(r[0..<8])))
        #expect(Array(r[12..<15]) == data)
    }

    @Test("metrics records become tagged scalars, nested values flattened")
    func scalars() {
        let record: [String: Any] = [
            "event": "train", "step": 4, "dataset": "all", "loss": 1.5, "lr": Float(0.5),
            "task_losses": ["a": 2.0, "b": 3.0], "buffer_mi": [0.1, 0.2], "note": "x", "flag": true,
        ]
        let tags = Dictionary(uniqueKeysWithValues: TensorBoardLog.scalars(of: record).map { ($0.tag, $0.value) })
        #expect(tags["train/all/loss"] == 1.5 && tags["train/all/lr"] == 0.5)
        #expect(tags["train/all/task_losses/a"] == 2 && tags["train/all/buffer_mi/1"] == 0.2)
        #expect(tags.count == 6)
    }

    @Test("an event file starts with the file-version record")
    func fileVersion() throws {
        try withTemporaryDirectory { dir in
            let log = try TensorBoardLog(folder: dir.path)
            try log.scalars([("loss", 2)], step: 1)
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: log.path)))
            #expect(String(decoding: bytes, as: UTF8.self).contains("brain.Event:2"))
            #expect(bytes.count > 40)
        }
    }
}
