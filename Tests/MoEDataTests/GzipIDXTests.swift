import Foundation
import MoEData
import Testing

@Suite struct GzipTests {
    @Test func roundTripThroughZlibDeflate() throws {
        var generator = SeededGenerator64(seed: 7)
        let original = (0..<100_000).map { _ in UInt8(truncatingIfNeeded: generator.next() % 13) }
        let compressed = try Gzip.compress(original)
        #expect(compressed.count < original.count)
        #expect(Array(compressed.prefix(2)) == [0x1F, 0x8B])
        #expect(try Gzip.decompress(compressed, path: "memory") == original)
        // Level 0 (stored blocks) expands the data, so the size hint path must grow.
        #expect(try Gzip.decompress(Gzip.compress(original, level: 0), path: "memory") == original)
    }

    @Test func emptyPayloadAndConcatenatedMembers() throws {
        #expect(try Gzip.decompress(Gzip.compress([]), path: "memory") == [])
        let a: [UInt8] = Array("hello, ".utf8)
        let b: [UInt8] = Array("world".utf8)
        let joined = try Gzip.compress(a) + Gzip.compress(b)
        #expect(try Gzip.decompress(joined, path: "memory") == a + b)
        // Trailing zero padding is tolerated, trailing garbage is not.
        #expect(try Gzip.decompress(Gzip.compress(a) + [0, 0, 0], path: "memory") == a)
        #expect(throws: DataError.self) { try Gzip.decompress(Gzip.compress(a) + [1, 2, 3], path: "memory") }
    }

    @Test func readFileGunzipsOnlyGzip() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let payload: [UInt8] = Array("plain text\n".utf8)
        try dir.write("plain.txt", payload)
        try dir.write("packed.txt.gz", Gzip.compress(payload))
        #expect(try Gzip.readFile(dir.file("plain.txt")) == payload)
        #expect(try Gzip.readFile(dir.file("packed.txt.gz")) == payload)
    }

    @Test func badGzipFile() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        // Not gzip at all, but named .gz.
        try dir.write("bad.gz", Array("this is not gzip".utf8))
        let error = #expect(throws: DataError.self) { try Gzip.readFile(dir.file("bad.gz")) }
        guard case .corrupt(let path, _)? = error else {
            Issue.record("expected .corrupt, got \(String(describing: error))")
            return
        }
        #expect(path == dir.file("bad.gz"))
        // Right magic, garbage deflate stream.
        var mangled = try Gzip.compress(Array(repeating: 42, count: 1000))
        for i in 10..<(mangled.count - 8) { mangled[i] = 0xFF }
        try dir.write("mangled.gz", mangled)
        #expect(throws: DataError.self) { try Gzip.readFile(dir.file("mangled.gz")) }
    }

    @Test func truncatedGzip() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let payload = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 * 31 % 251) }
        let full = try Gzip.compress(payload)
        try dir.write("cut.gz", Array(full.prefix(full.count / 2)))
        let error = #expect(throws: DataError.self) { try Gzip.readFile(dir.file("cut.gz")) }
        #expect(error?.description.contains("truncated") == true, "\(String(describing: error))")
        #expect(error?.description.contains(dir.file("cut.gz")) == true)
    }

    @Test func missingFile() {
        let error = #expect(throws: DataError.self) { try Gzip.readFile("/nonexistent/moe/file.gz") }
        guard case .fileNotFound(let path, _)? = error else {
            Issue.record("expected .fileNotFound, got \(String(describing: error))")
            return
        }
        #expect(path == "/nonexistent/moe/file.gz")
    }
}

@Suite struct IDXTests {
    @Test func readsPlainAndGzippedIDX() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let values = (0..<(3 * 4 * 5)).map { UInt8($0) }
        let bytes = idxBytes(dims: [3, 4, 5], values: values)
        try dir.write("a.idx", bytes)
        try dir.write("a.idx.gz", Gzip.compress(bytes))
        for name in ["a.idx", "a.idx.gz"] {
            let array = try IDXArray.read(path: dir.file(name))
            #expect(array.dims == [3, 4, 5])
            #expect(array.bytes == values)
        }
    }

    @Test func rejectsBadMagicTypeAndSize() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let values = [UInt8](repeating: 1, count: 6)
        let cases: [(String, [UInt8], String)] = [
            ("magic.gz", idxBytes(dims: [2, 3], values: values, magic0: 0x12), "magic"),
            ("type.gz", idxBytes(dims: [2, 3], values: values, type: 0x0D), "type"),
            ("short.gz", idxBytes(dims: [2, 3], values: Array(values.prefix(5))), "need 6 bytes"),
            ("long.gz", idxBytes(dims: [2, 3], values: values + [9]), "need 6 bytes"),
            ("header.gz", [0, 0, 8, 3, 0, 0], "header"),
            ("rank0.gz", [0, 0, 8, 0], "rank"),
        ]
        for (name, bytes, expected) in cases {
            try dir.write(name, Gzip.compress(bytes))
            let error = #expect(throws: DataError.self, "\(name)") { try IDXArray.read(path: dir.file(name)) }
            guard case .corrupt(let path, let detail)? = error else {
                Issue.record("\(name): expected .corrupt, got \(String(describing: error))")
                continue
            }
            #expect(path == dir.file(name))
            #expect(detail.contains(expected), "\(name): \(detail)")
        }
    }
}

/// A tiny local generator so this file does not depend on MoETensor's API beyond re-exports.
struct SeededGenerator64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
