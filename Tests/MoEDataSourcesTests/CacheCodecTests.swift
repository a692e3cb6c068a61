import MoEData
import MoEImage
import Testing

@testable import MoEDataSources

/// Cache files round-trip exactly (statistics included, version-1 files still read), and
/// damaged ones are rejected without trapping.
@Suite struct CacheCodecTests {
    static let split: LoadedSplit = {
        let prep = ImagePreprocessing(channels: 3, height: 4, width: 6, mode: .letterbox)
        let t = LetterboxTransform(fitting: ImageSize(width: 12, height: 5), into: ImageSize(width: 6, height: 4))
        let images = PreparedImages(
            preprocessing: prep, pixels: (0..<(2 * 72)).map { UInt8($0 % 251) }, transforms: [t, t])
        return LoadedSplit(
            images: images, targets: .boxes([[Box(x0: 1, y0: 1, x1: 3, y1: 2, label: 1)], []]))
    }()

    @Test func roundTripsAndRejectsDamage() throws {
        let bytes = CacheCodec.encode(Self.split, key: "k")
        let back = try #require(CacheCodec.decode(bytes, key: "k"))
        #expect(back.images.pixels == Self.split.images.pixels && back.targets == Self.split.targets)
        #expect(back.images.transforms == Self.split.images.transforms)
        #expect(CacheCodec.decode(bytes, key: "other") == nil)
        for n in stride(from: 0, to: bytes.count, by: 3) {
            #expect(CacheCodec.decode(Array(bytes.prefix(n)), key: "k") == nil)
        }
        // Flipped bytes anywhere: a result or nil, never a trap.
        for i in 0..<bytes.count {
            for value: UInt8 in [0, 0x7F, 0xFF] {
                var damaged = bytes
                damaged[i] = value
                _ = CacheCodec.decode(damaged, key: "k")
            }
        }
    }

    @Test("the pixels' statistics round-trip; without them (or from a version-1 file) they are nil")
    func statistics() throws {
        var split = Self.split
        split.statistics = split.images.channelStatistics()
        let back = try #require(CacheCodec.decode(CacheCodec.encode(split, key: "k"), key: "k"))
        #expect(back.statistics?.mean == split.statistics?.mean && back.statistics?.std == split.statistics?.std)

        let plain = CacheCodec.encode(Self.split, key: "k")
        #expect(try #require(CacheCodec.decode(plain, key: "k")).statistics == nil)
        // Version 1 ended after the targets: the same bytes without the statistics count.
        var version1 = Array(plain.dropLast())
        version1[8] = 1
        let old = try #require(CacheCodec.decode(version1, key: "k"))
        #expect(old.statistics == nil && old.images.pixels == Self.split.images.pixels)
        var future = plain
        future[8] = UInt8(CacheCodec.version + 1)
        #expect(CacheCodec.decode(future, key: "k") == nil)
        // Statistics for another channel count do not parse.
        var wrong = split
        wrong.statistics = ([0.5], [0.25])
        #expect(try #require(CacheCodec.decode(CacheCodec.encode(wrong, key: "k"), key: "k")).statistics == nil)
    }
}
