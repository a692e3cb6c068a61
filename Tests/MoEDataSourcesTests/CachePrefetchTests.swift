import Foundation
import MoEData
import MoEImage
import MoETestSupport
import Testing

@testable import MoEDataSources

/// A cache file decompressed ahead of its key gives what a plain load gives, and a guess
/// the key does not name is never used.
@Suite struct CachePrefetchTests {
    /// A classification split of `count` 28×28 gray images whose pixels depend on `seed`;
    /// 700 images make a file of several zstd frames.
    static func split(count: Int, seed: Int) -> LoadedSplit {
        let prep = ImagePreprocessing(channels: 1, height: 28, width: 28, mode: .centerCrop)
        let pixels = (0..<(count * 784)).map { UInt8(truncatingIfNeeded: ($0 * 31 + seed) % 253 + ($0 / 784) % 3) }
        let images = PreparedImages(
            preprocessing: prep, pixels: pixels, transforms: [LetterboxTransform?](repeating: nil, count: count))
        return LoadedSplit(images: images, targets: .labels((0..<count).map { Int32(($0 + seed) % 10) }))
    }

    @Test("the prefetched file loads as the file itself does", arguments: [3, 700, 3_000])
    func prefetchedEqualsPlain(count: Int) throws {
        try withTemporaryDirectory { dir in
            let cache = PreparedCache(folder: dir.path)
            try #require(cache.store(Self.split(count: count, seed: 1), name: "d-train", key: "key 1") == nil)
            try #require(cache.store(Self.split(count: 5, seed: 2), name: "d-test", key: "key 2") == nil)
            let prefetch = try #require(CachePrefetch(cache: cache, names: ["d-train", "d-test"]))
            let plain = try #require(cache.load(name: "d-train", key: "key 1"))
            let fetched = try #require(cache.load(name: "d-train", key: "key 1", prefetched: prefetch))
            #expect(fetched.images.pixels == plain.images.pixels && fetched.targets == plain.targets)
            #expect(fetched.images.pixels == Self.split(count: count, seed: 1).images.pixels)
            // Asked again, the bytes are there at once.
            #expect(cache.load(name: "d-train", key: "key 1", prefetched: prefetch)?.count == count)
            #expect(cache.load(name: "d-test", key: "key 2", prefetched: prefetch)?.count == 5)
        }
    }

    @Test("a guess the key does not name is not used: the older file, a damaged one, none at all")
    func wrongGuesses() throws {
        try withTemporaryDirectory { dir in
            let cache = PreparedCache(folder: dir.path)
            #expect(CachePrefetch(cache: cache, names: ["d-train"]) == nil)  // nothing to prefetch
            #expect(CachePrefetch(cache: PreparedCache(folder: dir.path + "/none"), names: ["d-train"]) == nil)
            try #require(cache.store(Self.split(count: 40, seed: 1), name: "d-train", key: "old") == nil)
            try #require(cache.store(Self.split(count: 50, seed: 2), name: "d-train", key: "new") == nil)
            // The older file made the newest: it is the guess, and the key names the other.
            let old = cache.path(name: "d-train", key: "old")
            try FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: old)
            let new = cache.path(name: "d-train", key: "new")
            let minuteAgo = Date(timeIntervalSinceNow: -60)
            try FileManager.default.setAttributes([.modificationDate: minuteAgo], ofItemAtPath: new)
            let prefetch = try #require(CachePrefetch(cache: cache, names: ["d-train"]))
            #expect(cache.load(name: "d-train", key: "new", prefetched: prefetch)?.count == 50)
            #expect(cache.load(name: "d-train", key: "old", prefetched: prefetch)?.count == 40)

            // A damaged guess is a miss, as the damaged file itself is.
            try Data("not zstd".utf8).write(to: URL(fileURLWithPath: old))
            let damaged = try #require(CachePrefetch(cache: cache, names: ["d-train"]))
            #expect(cache.load(name: "d-train", key: "old", prefetched: damaged) == nil)
            #expect(cache.load(name: "d-train", key: "new", prefetched: damaged)?.count == 50)
        }
    }

    @Test("a file above the memory budget is not prefetched (that split streams); it still loads")
    func budget() throws {
        try withTemporaryDirectory { dir in
            let cache = PreparedCache(folder: dir.path)
            try #require(cache.store(Self.split(count: 100, seed: 1), name: "d-train", key: "k") == nil)
            let path = cache.path(name: "d-train", key: "k")
            let small = try #require(CachePrefetch(cache: cache, names: ["d-train"], budget: 78_400))
            #expect(small.bytes(name: "d-train", path: path) == nil)
            #expect(cache.load(name: "d-train", key: "k", prefetched: small)?.count == 100)
            let ample = try #require(CachePrefetch(cache: cache, names: ["d-train"], budget: 1 << 20))
            #expect(ample.bytes(name: "d-train", path: path)?.count ?? 0 > 78_400)
        }
    }

    @Test(
        "only <name>-<16 hex digits>.zst is a split's cache file",
        arguments: [
            ("d-train-0123456789abcdef.zst", true), ("d-train-0123456789ABCDEF.zst", false),
            ("d-train-0123456789abcde.zst", false), ("d-train-x-0123456789abcdef.zst", false),
            ("d-train-0123456789abcdef.stream", false), ("d-test-0123456789abcdef.zst", false),
        ])
    func cacheFileNames(file: String, matches: Bool) {
        #expect(CachePrefetch.isCacheFile(file, of: "d-train") == matches)
    }

    @Test("a frame header stating more bytes than the machine has is a miss, not an allocation trap")
    func hugeStatedSize() throws {
        // Magic, a descriptor with an 8-byte content size (single segment), 2^40, then one
        // last RLE block of 1,000 bytes of 7.
        var frame: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD, 0xE0]
        frame += withUnsafeBytes(of: UInt64(1 << 40).littleEndian, Array.init)
        let header = UInt32(1_000 << 3 | 1 << 1 | 1)
        frame += [UInt8(header & 0xFF), UInt8(header >> 8 & 0xFF), UInt8(header >> 16), 7]
        #expect(frame.withUnsafeBytes { FrameDecompression($0) } == nil)
        #expect(frame.withUnsafeBytes { FrameDecompression($0, limit: .max)?.total } == 1 << 40)
        #expect(frame.withUnsafeBytes { PreparedCache.decompressFrames($0) } == nil)
    }

    @Test("frames claimed by several threads at once decompress to the stream's bytes")
    func framesOnManyThreads() throws {
        let raw = (0..<(5 << 20 + 3)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        let compressed = try #require(PreparedCache.compressFrames(raw))
        try compressed.withUnsafeBytes { bytes in
            let job = try #require(FrameDecompression(bytes))
            #expect(job.frames.count == 6)
            let decoded = job.run {
                let helpers = (0..<3).map { _ in Thread { job.work() } }
                for helper in helpers { helper.start() }
                job.work()
            }
            #expect(decoded == raw)
            job.work()  // after the end: claims nothing, touches nothing
            job.cancel()

            // Cancelled: the frames left are claimed undone, and the result is nil.
            let cancelled = try #require(FrameDecompression(bytes))
            #expect(
                cancelled.run {
                    cancelled.cancel()
                    cancelled.work()
                } == nil)
        }
    }
}
