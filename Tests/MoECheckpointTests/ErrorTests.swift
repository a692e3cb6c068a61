import Foundation
import MoETensor
import MoETestSupport
import Testing

@testable import MoECheckpoint

@Suite struct ReadErrorTests {
    /// Writes `bytes` as `name` in a temporary directory and returns what reading it throws.
    func readError(_ bytes: [UInt8], name: String = "bad.moe") throws -> (CheckpointError?, String) {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent(name)
            try write(bytes, to: url)
            return (checkpointError { _ = try Checkpoint.read(from: url) }, url.path)
        }
    }

    func validFile() throws -> [UInt8] {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("valid.moe")
            try sampleCheckpoint().write(to: url)
            return try readBytes(url)
        }
    }

    @Test func missingFile() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("does-not-exist.moe")
            #expect(throws: CheckpointError.fileNotFound(path: url.path)) { try Checkpoint.read(from: url) }
            let nested = dir.appendingPathComponent("no-such-dir/x.moe")
            #expect(throws: CheckpointError.fileNotFound(path: nested.path)) { try Checkpoint.read(from: nested) }
        }
    }

    @Test func directoryIsNotACheckpoint() throws {
        try withTemporaryDirectory { dir in
            let error = checkpointError { _ = try Checkpoint.read(from: dir) }
            #expect(error?.caseName == "corrupt")
            #expect(error?.description.contains("regular file") == true)
        }
    }

    @Test("random bytes are not zstd", arguments: [UInt64(1), 2, 3, 4])
    func notZstd(seed: UInt64) throws {
        var bytes = randomBytes(64 + Int(seed) * 100, seed: seed)
        bytes[0] = 0x00
        let (error, path) = try readError(bytes)
        #expect(error == .notZstd(path: path))
    }

    @Test func uncompressedSafetensorsIsNotZstd() throws {
        let raw = safetensorsBytes(header: "{\(formatMetadataJSON)}", data: [])
        let (error, path) = try readError(raw, name: "plain.safetensors")
        #expect(error == .notZstd(path: path))
    }

    @Test func truncatedAtManyPoints() throws {
        let file = try validFile()
        let cuts = Set([
            0, 1, 2, 3, 4, 5, 6, 7, 9, 12, file.count / 3, file.count / 2,
            file.count - 5, file.count - 4, file.count - 2, file.count - 1,
        ])
        #expect(file.count > 40)
        for cut in cuts.sorted() {
            let (error, path) = try readError(Array(file.prefix(cut)))
            #expect(error == .truncated(path: path), "cut at \(cut) of \(file.count)")
        }
    }

    @Test func trailingBytesAreCorrupt() throws {
        let file = try validFile()
        for extra in [[UInt8(0)], file] {  // a stray byte, or a second frame
            let (error, _) = try readError(file + extra)
            #expect(error?.caseName == "corrupt")
        }
    }

    /// Flips every byte of a checkpoint with several masks. Reading must never crash: it either
    /// throws a typed error of the expected kind, or, for the few bits libzstd does not
    /// interpret (the frame header's unused bit, reserved bits of a block's compression-modes
    /// byte, redundant table encodings), returns content that the frame checksum verified to
    /// be bit-identical to the original.
    @Test(
        "a flipped byte anywhere never crashes and never yields different data",
        arguments: [UInt8(0x01), 0x10, 0x80, 0xFF])
    func flippedBytes(mask: UInt8) throws {
        let file = try validFile()
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("flipped.moe")
            try write(file, to: url)
            let original = try Checkpoint.read(from: url)
            var undetected: [Int] = []
            for position in 0..<file.count {
                var damaged = file
                damaged[position] ^= mask
                try write(damaged, to: url)
                do {
                    let loaded = try Checkpoint.read(from: url)
                    #expect(loaded.metadata == original.metadata)
                    #expect(loaded.tensors.map(\.name) == original.tensors.map(\.name))
                    #expect(loaded.tensors.map { bits($0.tensor) } == original.tensors.map { bits($0.tensor) })
                    undetected.append(position)
                } catch let error as CheckpointError {
                    let expected: Set<String> =
                        position < 4
                        ? ["notZstd"]
                        : position >= file.count - 4
                            ? ["corrupt"]  // the checksum itself
                            : ["corrupt", "truncated"]  // e.g. a block size now running past the end
                    #expect(expected.contains(error.caseName), "flip \(mask) at \(position): \(error)")
                }
            }
            // Only a handful of bits in a frame are not interpreted by libzstd.
            #expect(undetected.count <= 4, "undetected flips at \(undetected)")
        }
    }

    @Test("a flipped byte in the stored data always throws .corrupt", arguments: [0.1, 0.3, 0.5, 0.7, 0.9])
    func flippedPayloadByte(fraction: Double) throws {
        // Incompressible values are stored verbatim (raw blocks or raw literals), so every
        // payload byte is covered by the content checksum.
        let checkpoint = Checkpoint(tensors: [NamedTensor("noise", randomTensor([4096], seed: 5))])
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("noise.moe")
            try checkpoint.write(to: url)
            let file = try readBytes(url)
            for mask: UInt8 in [0x01, 0x40, 0xFF] {
                var damaged = file
                damaged[Int(Double(file.count) * fraction)] ^= mask
                try write(damaged, to: url)
                let error = checkpointError { _ = try Checkpoint.read(from: url) }
                #expect(error?.caseName == "corrupt", "\(String(describing: error))")
            }
        }
    }

    @Test func checksumMismatchIsCorrupt() throws {
        // An uncompressible payload is stored as raw blocks, so a flip in it changes only content.
        let checkpoint = Checkpoint(tensors: [NamedTensor("noise", randomTensor([256], seed: 5))])
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("noise.moe")
            try checkpoint.write(to: url)
            var file = try readBytes(url)
            file[file.count - 100] ^= 0x01
            try write(file, to: url)
            let error = checkpointError { _ = try Checkpoint.read(from: url) }
            guard case .corrupt(let path, let detail)? = error else {
                Issue.record("expected .corrupt, got \(String(describing: error))")
                return
            }
            #expect(path == url.path)
            #expect(detail.contains("checksum"))
        }
    }

    @Test func frameWithoutChecksumIsRejected() throws {
        let file = try validFile()
        // Rebuild the frame without a checksum using the zstd CLI, if present.
        let raw = try file.withUnsafeBytes { try Zstd.decompressSingleFrame($0) }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/zstd") else { return }
        try withTemporaryDirectory { dir in
            let rawURL = dir.appendingPathComponent("x.safetensors")
            let out = dir.appendingPathComponent("nochecksum.moe")
            try write(raw, to: rawURL)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/zstd")
            process.arguments = ["-q", "--no-check", "-f", rawURL.path, "-o", out.path]
            try process.run()
            process.waitUntilExit()
            try #require(process.terminationStatus == 0)
            let error = checkpointError { _ = try Checkpoint.read(from: out) }
            guard case .corrupt(_, let detail)? = error else {
                Issue.record("expected .corrupt, got \(String(describing: error))")
                return
            }
            #expect(detail.contains("checksum"))
        }
    }

    @Test func unsupportedVersion() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("future.moe")
            try sampleCheckpoint().write(to: url, compressionLevel: 3, formatVersion: "99")
            #expect(throws: CheckpointError.unsupportedVersion(path: url.path, found: "99", supported: 1)) {
                try Checkpoint.read(from: url)
            }
        }
    }

    @Test func missingFormatKeys() throws {
        let noFormat = safetensorsBytes(header: #"{"__metadata__":{"format_version":"1"}}"#, data: [])
        var (error, path) = try readError(try moeBytes(safetensors: noFormat))
        #expect(error == .missingMetadata(key: "format", path: path))

        let noMetadata = safetensorsBytes(header: "{}", data: [])
        (error, path) = try readError(try moeBytes(safetensors: noMetadata))
        #expect(error == .missingMetadata(key: "format", path: path))

        let noVersion = safetensorsBytes(header: #"{"__metadata__":{"format":"moe-checkpoint"}}"#, data: [])
        (error, path) = try readError(try moeBytes(safetensors: noVersion))
        #expect(error == .missingMetadata(key: "format_version", path: path))

        let otherFormat = safetensorsBytes(
            header: #"{"__metadata__":{"format":"pt","format_version":"1"}}"#, data: [])
        (error, _) = try readError(try moeBytes(safetensors: otherFormat))
        #expect(error?.caseName == "corrupt")
    }

    @Test func f16IsUnsupported() throws {
        let raw = safetensorsBytes(
            header: #"{\#(formatMetadataJSON),"half":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#,
            data: [0, 0x3C, 0, 0x40])
        let (error, _) = try readError(try moeBytes(safetensors: raw))
        #expect(error == .unsupportedDType(name: "half", dtype: "F16"))
    }

    @Test(
        "header length larger than the data",
        arguments: [UInt64(1) << 40, UInt64.max, UInt64(Int64.max), 1_000])
    func headerLengthTooLarge(declared: UInt64) throws {
        let raw = safetensorsBytes(header: "{\(formatMetadataJSON)}", data: [], declaredLength: declared)
        let (error, path) = try readError(try moeBytes(safetensors: raw))
        guard case .corrupt(let errorPath, let detail)? = error else {
            Issue.record("expected .corrupt, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
        #expect(detail.contains("header length"))
    }

    static let malformedHeaders: [(String, String, [UInt8])] = {
        let m = formatMetadataJSON
        let four = [UInt8](repeating: 0, count: 4)
        let eight = [UInt8](repeating: 0, count: 8)
        return [
            ("not JSON", "{\(m), nope}", []),
            ("array root", "[1,2]", []),
            ("empty header", "", []),
            ("metadata value not a string", #"{"__metadata__":{"format":"moe-checkpoint","format_version":1}}"#, []),
            ("metadata not an object", #"{"__metadata__":[]}"#, []),
            (
                "duplicate metadata key",
                #"{"__metadata__":{"format":"moe-checkpoint","format_version":"1","a":"x","a":"y"}}"#, []
            ),
            (
                "duplicate tensor",
                #"{\#(m),"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                eight
            ),
            ("offsets out of range", #"{\#(m),"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, four),
            ("offsets reversed", #"{\#(m),"t":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, four),
            ("size mismatch", #"{\#(m),"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, four),
            ("gap", #"{\#(m),"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, eight),
            (
                "overlap",
                #"{\#(m),"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                eight
            ),
            ("unused trailing data", #"{\#(m),"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, eight),
            ("negative extent", #"{\#(m),"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, four),
            ("fractional extent", #"{\#(m),"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, four),
            ("huge shape", #"{\#(m),"t":{"dtype":"F32","shape":[4611686018427387904,4,0],"data_offsets":[0,0]}}"#, []),
            (
                "huge offset", #"{\#(m),"t":{"dtype":"F32","shape":[1],"data_offsets":[0,99999999999999999999999]}}"#,
                four
            ),
            ("three offsets", #"{\#(m),"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}"#, four),
            ("missing dtype", #"{\#(m),"t":{"shape":[1],"data_offsets":[0,4]}}"#, four),
            ("dtype not a string", #"{\#(m),"t":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}"#, four),
            ("unknown field", #"{\#(m),"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}"#, four),
            ("entry not an object", #"{\#(m),"t":"F32"}"#, []),
            ("unterminated string", #"{\#(m),"t"#, []),
            ("lone surrogate", #"{\#(m),"\ud800":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}"#, []),
            ("deep nesting", "{\(m),\"t\":" + String(repeating: "[", count: 10_000) + "}", []),
            ("trailing garbage", "{\(m)} x", []),
        ]
    }()

    @Test("malformed safetensors headers are corrupt", arguments: malformedHeaders)
    func malformedHeader(label: String, header: String, data: [UInt8]) throws {
        let raw = safetensorsBytes(header: header, data: data)
        let (error, path) = try readError(try moeBytes(safetensors: raw))
        guard case .corrupt(let errorPath, _)? = error else {
            Issue.record("\(label): expected .corrupt, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
    }

    @Test func invalidUTF8HeaderIsCorrupt() throws {
        var raw = safetensorsBytes(header: "{\(formatMetadataJSON),\"xx\":1}", data: [])
        let index = try #require(raw.lastIndex(of: UInt8(ascii: "x")))
        raw[index] = 0xC3  // starts a two-byte sequence that the next byte does not continue
        let (error, _) = try readError(try moeBytes(safetensors: raw))
        #expect(error?.caseName == "corrupt")
    }

    @Test("arbitrary bytes never crash the safetensors parser", arguments: 0..<4)
    func fuzzSafetensors(round: Int) throws {
        var valid = Checkpoint.encodeForTest(sampleCheckpoint())
        var rng = SplitMix64(seed: UInt64(round) &+ 1000)
        for _ in 0..<1500 {
            var bytes = valid
            switch Int.random(in: 0..<4, using: &rng) {
            case 0:  // flip bytes, mostly in the header
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let i = Int.random(in: 0..<min(bytes.count, 400), using: &rng)
                    bytes[i] = UInt8.random(in: 0...255, using: &rng)
                }
            case 1:  // truncate
                bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
            case 2:  // random bytes
                bytes = randomBytes(Int.random(in: 0...64, using: &rng), seed: rng.next())
            default:  // change the header length
                let n = UInt64.random(in: 0...UInt64(bytes.count + 16), using: &rng)
                withUnsafeBytes(of: n.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
            }
            _ = try? bytes.withUnsafeBytes { buffer in
                try Result { () throws(CheckpointError) in try Safetensors.decode(buffer, path: "fuzz") }.get()
            }
            _ = try? bytes.withUnsafeBytes { buffer in
                try Result { () throws(CheckpointError) in try Checkpoint.decode(buffer, path: "fuzz") }.get()
            }
        }
        valid.removeAll()
    }
}

extension Checkpoint {
    /// The uncompressed safetensors bytes the writer would produce.
    static func encodeForTest(_ checkpoint: Checkpoint) -> [UInt8] {
        var metadata = checkpoint.metadata
        metadata["format"] = formatName
        metadata["format_version"] = "1"
        return try! Safetensors.encode(tensors: checkpoint.tensors, metadata: metadata)
    }
}

@Suite struct ErrorDescriptionTests {
    static let path = "/data/runs/vit-moe/step-1000.moe"
    static let cases: [(CheckpointError, [String])] = [
        (.fileNotFound(path: path), [path]),
        (.notZstd(path: path), [path, "zstd"]),
        (.truncated(path: path), [path, "incomplete", "previous checkpoint"]),
        (.corrupt(path: path, detail: "zstd: Restored data doesn't match checksum"), [path, "checksum"]),
        (
            .corrupt(path: path, detail: "the file cannot be read (open: Permission denied)"),
            [path, "Permission denied", "permission"]
        ),
        (.unsupportedVersion(path: path, found: "99", supported: 1), [path, "99", "1"]),
        (
            .missingTensor(name: "blocks.3.experts.w1", path: path),
            [path, "blocks.3.experts.w1", "different model config"]
        ),
        (.missingTensor(name: "blocks.3.experts.w1", path: nil), ["blocks.3.experts.w1", "different model config"]),
        (
            .wrongShape(name: "embed.weight", expected: [768, 192], found: [384, 192], path: path),
            [path, "embed.weight", "[768, 192]", "[384, 192]"]
        ),
        (.unsupportedDType(name: "embed.weight", dtype: "F16"), ["embed.weight", "F16", "F32"]),
        (.missingMetadata(key: "model_config", path: path), [path, "model_config"]),
        (.badMetadata(key: "recipe", detail: "expected Int at lr"), ["recipe", "expected Int at lr"]),
        (.writeFailed(path: path, detail: "rename: Permission denied"), [path, "Permission denied"]),
    ]

    @Test("descriptions name the file/tensor/key and carry a hint", arguments: cases)
    func description(error: CheckpointError, mentions: [String]) {
        let text = error.description
        #expect(text.contains("hint:"), "\(text)")
        for needle in mentions {
            #expect(text.contains(needle), "\(text) should mention \(needle)")
        }
        #expect(!text.contains("\n"))
    }
}
