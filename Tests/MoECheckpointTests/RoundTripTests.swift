import Foundation
import MoETensor
import MoETestSupport
import Testing

@testable import MoECheckpoint

@Suite struct RoundTripTests {
    static let specialValues: [UInt32] = [
        0x0000_0000,  // +0
        0x8000_0000,  // -0
        0x7FC0_1234,  // quiet NaN with payload
        0xFFC0_BEEF,  // negative quiet NaN with payload
        0x7F80_0001,  // signalling NaN
        0x7F80_0000,  // +inf
        0xFF80_0000,  // -inf
        0x0000_0001,  // smallest subnormal
        0x807F_FFFF,  // largest negative subnormal
        0x7F7F_FFFF,  // greatest finite
        0x3F80_0000,  // 1
    ]

    static let metadata: [String: String] = [
        "recipe": #"{"lr":0.001,"schedule":"cosine"}"#,
        "unicode": "模型 — ünïcödé 🚀 e\u{301} (decomposed)",
        "escapes": "quote \" backslash \\ slash / newline \n tab \t cr \r nul \u{0} del \u{7F} bell \u{7}",
        "ключ 🔑": "value for a unicode key",
        "empty": "",
        "": "empty key",
    ]

    static func tensors() -> [NamedTensor] {
        [
            NamedTensor("z.last-in-alphabet", randomTensor([3, 5], seed: 42)),
            NamedTensor(
                "specials", Tensor(shape: [specialValues.count], storage: specialValues.map(Float.init(bitPattern:)))),
            NamedTensor("zero_size", Tensor(shape: [2, 0, 3])),
            NamedTensor("scalar", Tensor(shape: [], storage: [Float(bitPattern: 0x7FC0_0042)])),
            NamedTensor("a.first-in-alphabet", randomTensor([1000], seed: 7)),
            NamedTensor("zero_size_at_end_of_run", Tensor(shape: [0])),
            NamedTensor("名前/with spaces \"and\" quotes", randomTensor([2, 2, 2], seed: 3)),
            NamedTensor("trailing_empty", Tensor(shape: [0, 0])),
        ]
    }

    @Test("tensors and metadata round-trip bit-exactly", arguments: [Int32(1), 3, 9, 19, -5])
    func bitExactRoundTrip(level: Int32) throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("run.moe")
            let original = Checkpoint(tensors: Self.tensors(), metadata: Self.metadata)
            try original.write(to: url, compressionLevel: level)
            let loaded = try Checkpoint.read(from: url)

            #expect(loaded.tensors.map(\.name) == original.tensors.map(\.name))
            for (a, b) in zip(loaded.tensors, original.tensors) {
                #expect(a.tensor.shape == b.tensor.shape, "\(a.name)")
                #expect(bits(a.tensor) == bits(b.tensor), "\(a.name)")
            }
            var expectedMetadata = Self.metadata
            expectedMetadata["format"] = "moe-checkpoint"
            expectedMetadata["format_version"] = "1"
            #expect(loaded.metadata == expectedMetadata)
            // Exact scalars, not just canonical equivalence.
            for (key, value) in expectedMetadata {
                #expect(Array(loaded.metadata[key]!.unicodeScalars) == Array(value.unicodeScalars))
            }
            #expect(loaded.sourcePath == url.path)
        }
    }

    @Test func equalityAfterRoundTripWithoutNaN() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("plain.moe")
            var original = sampleCheckpoint()
            try original.write(to: url)
            let loaded = try Checkpoint.read(from: url)
            original.metadata["format"] = "moe-checkpoint"
            original.metadata["format_version"] = "1"
            #expect(loaded == original)
        }
    }

    @Test(
        "tensor order is the caller's, including zero-size tensors",
        arguments: [
            ["b", "a", "c"],
            ["empty1", "x", "empty2", "empty3", "y"],
            ["y", "x", "empty1"],
            ["empty1", "empty2"],
        ])
    func orderIsPreserved(names: [String]) throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("order.moe")
            let tensors = names.enumerated().map { i, name in
                NamedTensor(name, name.hasPrefix("empty") ? Tensor(shape: [0]) : randomTensor([i + 1], seed: UInt64(i)))
            }
            try Checkpoint(tensors: tensors).write(to: url)
            #expect(try Checkpoint.read(from: url).tensors.map(\.name) == names)
        }
    }

    @Test func emptyCheckpointRoundTrips() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("empty.moe")
            try Checkpoint().write(to: url)
            let loaded = try Checkpoint.read(from: url)
            #expect(loaded.tensors.isEmpty)
            #expect(loaded.metadata == ["format": "moe-checkpoint", "format_version": "1"])
        }
    }

    @Test("the file is one zstd frame with checksum and content size around a safetensors file")
    func fileLayout() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("layout.moe")
            try sampleCheckpoint().write(to: url)
            let file = try readBytes(url)
            #expect(Array(file.prefix(4)) == [0x28, 0xB5, 0x2F, 0xFD])
            let descriptor = file[4]
            #expect(descriptor & 0x04 != 0, "Content_Checksum_flag must be set")
            #expect(descriptor >> 6 != 0 || descriptor & 0x20 != 0, "frame content size must be present")

            let raw = try file.withUnsafeBytes { try Zstd.decompressSingleFrame($0) }
            let headerLength = raw.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
            #expect((8 + headerLength) % 8 == 0)
            #expect(raw[8] == UInt8(ascii: "{"))
            // The header is standard JSON with string metadata values.
            let header = try #require(
                try JSONSerialization.jsonObject(with: Data(raw[8..<(8 + headerLength)])) as? [String: Any])
            let metadata = try #require(header["__metadata__"] as? [String: String])
            #expect(metadata["format"] == "moe-checkpoint")
            #expect(metadata["format_version"] == "1")
            let embed = try #require(header["embed.weight"] as? [String: Any])
            #expect(embed["dtype"] as? String == "F32")
            #expect(embed["shape"] as? [Int] == [8, 6])
            #expect(embed["data_offsets"] as? [Int] == [0, 192])
            // Data section: the first tensor's bytes, little-endian.
            let first = raw[(8 + headerLength)..<(8 + headerLength + 4)]
            let value = first.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
            #expect(value == sampleCheckpoint().tensors[0].tensor.storage[0].bitPattern)
        }
    }

    @Test func writerForcesFormatKeys() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("keys.moe")
            try Checkpoint(metadata: ["format": "something else", "format_version": "7"]).write(to: url)
            let loaded = try Checkpoint.read(from: url)
            #expect(loaded.metadata == ["format": "moe-checkpoint", "format_version": "1"])
        }
    }

    @Test func largeCheckpointReadsQuickly() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("large.moe")
            let count = 6_000_000  // 24 MB of float32
            var rng = SplitMix64(seed: 99)
            let storage = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count {
                    // Low-entropy mantissas so compression has something to do, some random words.
                    buffer[i] =
                        i % 7 == 0 ? Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) : Float(i % 1000) * 0.25
                }
                initialized = count
            }
            let checkpoint = Checkpoint(tensors: [
                NamedTensor("big", Tensor(shape: [count / 1000, 1000], storage: storage)),
                NamedTensor("small", randomTensor([10], seed: 1)),
            ])
            let clock = ContinuousClock()
            let writeTime = try clock.measure { try checkpoint.write(to: url) }
            var loaded = Checkpoint()
            let readTime = try clock.measure { loaded = try Checkpoint.read(from: url) }
            #expect(bits(loaded.tensors[0].tensor) == bits(checkpoint.tensors[0].tensor))
            print("24 MB checkpoint: write \(writeTime), read \(readTime)")
            #expect(readTime < .seconds(5))
        }
    }

    /// Writes a sample checkpoint to $MOE_WRITE_SAMPLE_CHECKPOINT, for
    /// `scripts/check_safetensors.py` in CI.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["MOE_WRITE_SAMPLE_CHECKPOINT"] != nil))
    func writeSampleForPython() throws {
        let path = try #require(ProcessInfo.processInfo.environment["MOE_WRITE_SAMPLE_CHECKPOINT"])
        var checkpoint = Checkpoint(tensors: Self.tensors(), metadata: Self.metadata)
        checkpoint.metadata["training_state"] = try Checkpoint.encodeMetadata(["step": 100, "epoch": 2])
        try checkpoint.write(to: URL(fileURLWithPath: path))
    }
}

@Suite struct AccessorTests {
    struct Config: Codable, Equatable {
        var dim: Int
        var experts: Int
        var name: String
    }

    @Test func tensorLookup() throws {
        let checkpoint = sampleCheckpoint()
        #expect(try checkpoint.tensor("scale").storage == [0.5])
        #expect(try checkpoint.tensor("embed.weight", shape: [8, 6]).shape == [8, 6])
        #expect(throws: CheckpointError.missingTensor(name: "nope", path: nil)) {
            try checkpoint.tensor("nope")
        }
        #expect(throws: CheckpointError.missingTensor(name: "nope", path: nil)) {
            try checkpoint.tensor("nope", shape: [1])
        }
        #expect(throws: CheckpointError.wrongShape(name: "embed.weight", expected: [6, 8], found: [8, 6], path: nil)) {
            try checkpoint.tensor("embed.weight", shape: [6, 8])
        }
    }

    @Test func lookupErrorsNameTheFile() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("named.moe")
            try sampleCheckpoint().write(to: url)
            let loaded = try Checkpoint.read(from: url)
            #expect(throws: CheckpointError.missingTensor(name: "blocks.1.router.bias", path: url.path)) {
                try loaded.tensor("blocks.1.router.bias")
            }
            #expect(throws: CheckpointError.wrongShape(name: "scale", expected: [1], found: [], path: url.path)) {
                try loaded.tensor("scale", shape: [1])
            }
            #expect(throws: CheckpointError.missingMetadata(key: "recipe", path: url.path)) {
                try loaded.metadataValue("recipe")
            }
        }
    }

    @Test func metadataEncodeDecode() throws {
        let config = Config(dim: 64, experts: 8, name: "vit-moe/ü")
        let json = try Checkpoint.encodeMetadata(config)
        #expect(json == #"{"dim":64,"experts":8,"name":"vit-moe/ü"}"#)  // sorted keys
        let checkpoint = Checkpoint(metadata: ["model_config": json, "broken": "{\"dim\": 1}", "notjson": "{"])
        #expect(try checkpoint.decodeMetadata(Config.self, key: "model_config") == config)
        #expect(try checkpoint.metadataValue("model_config") == json)
        #expect(throws: CheckpointError.missingMetadata(key: "absent", path: nil)) {
            try checkpoint.decodeMetadata(Config.self, key: "absent")
        }
        for key in ["broken", "notjson"] {
            let error = checkpointError { _ = try checkpoint.decodeMetadata(Config.self, key: key) }
            guard case .badMetadata(let badKey, let detail)? = error else {
                Issue.record("expected .badMetadata, got \(String(describing: error))")
                continue
            }
            #expect(badKey == key)
            #expect(!detail.isEmpty)
        }
    }
}
