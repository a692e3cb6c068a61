import Foundation
import MoEData
import MoETestSupport
import Testing

@testable import MoEDataSources

/// The pieces of a fast cache hit keep the cache's format: the key reads as before, framed
/// zstd round-trips (and older one-frame files still load), listings sort by bytes, and the
/// parallel histogram gives the sequential statistics.
@Suite struct CacheFormatTests {
    @Test("the key is the version line, the settings and one `path\\tsize\\tmtime` line per file")
    func keyLines() throws {
        try withTemporaryDirectory { dir in
            let files = (0..<700).map { dir.appendingPathComponent("f\($0).png").path }
            for (i, f) in files.enumerated() {
                _ = FileManager.default.createFile(atPath: f, contents: Data(count: i % 7))
            }
            let lines = try files.map { f -> String in
                var info = stat()
                try #require(stat(f, &info) == 0)
                return
                    "\(f)\t\(info.st_size)\t\(Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))"
            }
            let expected = (["moe-cache v1", "folder 1x28x28"] + lines).joined(separator: "\n")
            #expect(try PreparedCache.key(files: files, settings: "folder 1x28x28") == expected)
            #expect(try PreparedCache.key(files: [], settings: "s") == "moe-cache v1\ns")

            // The first unreadable file in list order is the one named.
            let missing = files[..<650] + [dir.path + "/gone-1.png"] + files[650...] + [dir.path + "/gone-2.png"]
            let error = #expect(throws: DataError.self) { try PreparedCache.key(files: Array(missing), settings: "") }
            #expect("\(error!)".contains("gone-1.png"))
        }
    }

    @Test(
        "the file name's hash is FNV-1a 64 over 8-byte words, then the last bytes", arguments: [0, 1, 7, 8, 9, 1_001])
    func hashOverWords(length: Int) {
        let text = String((0..<length).map { Character(UnicodeScalar(UInt8(0x21 + $0 % 90))) })
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let bytes = Array(text.utf8)
        for w in stride(from: 0, to: bytes.count - bytes.count % 8, by: 8) {
            h ^= (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[w + $1]) << (8 * $1) }
            h = h &* 0x100_0000_01b3
        }
        for b in bytes[(bytes.count - bytes.count % 8)...] {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        #expect(PreparedCache.hash(text) == String(format: "%016llx", h))
        #expect(PreparedCache.hash(text + "x") != PreparedCache.hash(text))
    }

    @Test("a file without a stamp gets a line no stamped file matches")
    func missingStamp() {
        let stamp = FileStamp(size: 12, modified: 34)
        #expect(
            PreparedCache.key(paths: ["a", "b"], stamps: [stamp, nil], settings: "s")
                == "moe-cache v1\ns\na\t12\t34\nb\t-\t-")
    }

    @Test(
        "decimal digits as String(_:) writes them", arguments: [0, 7, 10, 99, 1_000_000_007, -42, Int64.max, Int64.min])
    func decimal(value: Int64) {
        var bytes: [UInt8] = []
        PreparedCache.appendDecimal(value, to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == String(value))
    }

    @Test("framed zstd round-trips, in several frames above a frame's size", arguments: [0, 1, 1 << 20, 3 << 20 + 17])
    func frames(count: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let raw = (0..<count).map { i in i % 3 == 0 ? UInt8.random(in: 0...255, using: &generator) : UInt8(i % 5) }
        let compressed = try #require(PreparedCache.compressFrames(raw))
        let decoded = compressed.withUnsafeBytes { PreparedCache.decompressFrames($0) }
        if count == 0 {
            #expect(decoded == nil)  // no record is empty; an empty file is a miss
        } else {
            #expect(decoded == raw)
            // Cut inside the last frame: a miss, never a short record.
            let cut = Array(compressed.dropLast(3))
            #expect(cut.withUnsafeBytes { PreparedCache.decompressFrames($0) } == nil)
        }
    }

    @Test("a one-frame file (as caches were written before frames) still loads")
    func singleFrameFromPython() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("one.zst").path
            try Python.run(
                "import sys, zstandard\n"
                    + "raw = bytes((i * 7 + i // 1000) % 251 for i in range(3 * 1024 * 1024 + 5))\n"
                    + "open(sys.argv[1], 'wb').write(zstandard.ZstdCompressor(level=1).compress(raw))",
                arguments: [path])
            let compressed = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            let raw = (0..<(3 * 1024 * 1024 + 5)).map { (i: Int) -> UInt8 in UInt8((i * 7 + i / 1000) % 251) }
            #expect(compressed.withUnsafeBytes { PreparedCache.decompressFrames($0) } == raw)
        }
    }

    @Test("a FIFO or an empty file in a cache file's place is a miss at once, not a hang")
    func specialCacheFiles() throws {
        try withTemporaryDirectory { dir in
            let cache = PreparedCache(folder: dir.path)
            #expect(mkfifo(cache.path(name: "fifo", key: "k"), 0o644) == 0)
            #expect(cache.load(name: "fifo", key: "k") == nil)
            _ = FileManager.default.createFile(atPath: cache.path(name: "empty", key: "k"), contents: nil)
            #expect(cache.load(name: "empty", key: "k") == nil)
        }
    }

    @Test("folder listings sort by UTF-8 bytes and keep only visible images")
    func listingOrder() throws {
        try withTemporaryDirectory { dir in
            let names = ["b.png", "B.png", "a.png", "a10.jpg", "a2.JPEG", "é.png", ".hidden.png", "notes.txt", "noext"]
            for n in names {
                _ = FileManager.default.createFile(atPath: dir.appendingPathComponent(n).path, contents: nil)
            }
            let listed = try FileScan.images(in: dir.path).map { ($0 as NSString).lastPathComponent }
            #expect(listed == ["B.png", "a.png", "a10.jpg", "a2.JPEG", "b.png", "é.png"])
            #expect(try FileScan.images(in: dir.path + "/").first == dir.path + "/B.png")
            let error = #expect(throws: DataError.self) { try FileScan.sortedChildren(dir.path + "/none") }
            #expect("\(error!)".contains("/none"))
        }
    }

    @Test("stamps taken while listing give the key that stat gives; an unreadable entry is named")
    func stampedListing() throws {
        try withTemporaryDirectory { dir in
            for i in 0..<1_100 {
                _ = FileManager.default.createFile(
                    atPath: dir.appendingPathComponent("img\(i).png").path, contents: Data(count: i % 13))
            }
            let listed = try FileScan.stampedImages(in: dir.path)
            let stamps = listed.compactMap(\.stamp)
            try #require(listed.count == 1_100 && stamps.count == 1_100)
            let paths = listed.map(\.path)
            #expect(paths == (try FileScan.images(in: dir.path)))
            #expect(
                PreparedCache.key(paths: paths, stamps: stamps, settings: "s")
                    == (try PreparedCache.key(files: paths, settings: "s")))
            #expect(try PreparedCache.stamps(of: paths) == stamps)

            // A dangling link looks like an image but cannot be stamped.
            try FileManager.default.createSymbolicLink(
                atPath: dir.appendingPathComponent("zz-dangling.png").path, withDestinationPath: dir.path + "/nowhere")
            let error = #expect(throws: DataError.self) { try FileScan.stampedImages(in: dir.path) }
            #expect("\(error!)".contains("zz-dangling.png"))
        }
    }

    @Test("channel statistics on the worker threads equal a sequential count", arguments: [1, 3])
    func statistics(channels: Int) {
        let prep = ImagePreprocessing(channels: channels, height: 5, width: 7, mode: .centerCrop)
        let count = 1_201
        var generator = SystemRandomNumberGenerator()
        let pixels = (0..<(count * prep.sampleSize)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let images = PreparedImages(
            preprocessing: prep, pixels: pixels, transforms: Array(repeating: nil, count: count))
        let (mean, std) = images.channelStatistics()
        let plane = 35
        for c in 0..<channels {
            var (sum, squares, n) = (0.0, 0.0, 0.0)
            for i in 0..<count {
                for j in 0..<plane {
                    let x = Double(pixels[(i * channels + c) * plane + j]) / 255
                    (sum, squares, n) = (sum + x, squares + x * x, n + 1)
                }
            }
            let m = sum / n
            #expect(abs(Double(mean[c]) - m) < 1e-6)
            #expect(abs(Double(std[c]) - (squares / n - m * m).squareRoot()) < 1e-6)
        }
    }
}
