import MoEData
import MoEImage

#if canImport(Glibc)
import Glibc
#endif

/// The byte layout of a cached `LoadedSplit` (little-endian, before zstd):
///
///     "MOECACHE" | u32 version | u64 n + key (UTF-8) | i32 channels, height, width | u8 mode
///     | u64 count | u64 n + pixels | count × (u8 present, 6 × i32 transform)
///     | u8 targets: 0 labels (count × i32) | 1 masks (u64 n + bytes)
///                  | 2 boxes (count × (u32 k, k × (4 × f32, i32)))
///     | u8 k | k × (f32 mean, f32 std)     (version 2: the pixels' channel statistics, k = 0 or C)
///
/// `decode` returns nil for anything that does not parse exactly (a stale or damaged cache
/// is rebuilt, never trusted). A streamed split (`StreamedSplitFile`) keeps its pixels and
/// masks outside: its blobs are empty here and the mapped bytes come in as `external`.
enum CacheCodec {
    static let magic = Array("MOECACHE".utf8)
    /// Written: 2. Version 1 (no statistics) still reads.
    static let version: UInt32 = 2

    static func encode(_ split: LoadedSplit, key: String, external: Bool = false) -> [UInt8] {
        var w = ByteWriter()
        w.bytes(magic)
        w.u32(version)
        w.blob(ByteStore(Array(key.utf8)))
        let p = split.images.preprocessing
        for v in [p.channels, p.height, p.width] { w.u32(UInt32(truncatingIfNeeded: v)) }
        w.u8(p.mode == .centerCrop ? 0 : 1)
        w.u64(UInt64(split.count))
        w.blob(external ? ByteStore([]) : split.images.pixels)
        for t in split.images.transforms {
            w.u8(t == nil ? 0 : 1)
            let values = t.map {
                [$0.sourceWidth, $0.sourceHeight, $0.contentWidth, $0.contentHeight, $0.offsetX, $0.offsetY]
            }
            for v in values ?? [Int](repeating: 0, count: 6) { w.u32(UInt32(truncatingIfNeeded: v)) }
        }
        switch split.targets {
        case .labels(let labels):
            w.u8(0)
            for l in labels { w.u32(UInt32(bitPattern: l)) }
        case .masks(let masks):
            w.u8(1)
            w.blob(external ? ByteStore([]) : masks)
        case .boxes(let boxes):
            w.u8(2)
            for image in boxes {
                w.u32(UInt32(image.count))
                for b in image {
                    for v in [b.x0, b.y0, b.x1, b.y1] { w.u32(v.bitPattern) }
                    w.u32(UInt32(bitPattern: b.label))
                }
            }
        }
        let statistics = split.statistics.map { Array(zip($0.mean, $0.std)) } ?? []
        let stored = statistics.count == p.channels ? statistics : []
        w.u8(UInt8(stored.count))
        for (mean, std) in stored {
            w.u32(mean.bitPattern)
            w.u32(std.bitPattern)
        }
        return w.data
    }

    static func decode(
        _ data: [UInt8], key: String, external: (pixels: ByteStore, masks: ByteStore?)? = nil
    ) -> LoadedSplit? {
        var r = ByteReader(data: data)
        // The key is compared and the pixels shared in place: copies of them cost a large
        // part of a cache hit.
        guard r.bytes(magic.count) == magic, let format = r.u32(), (1...version).contains(format),
            let keyRange = r.blobRange(),
            sameBytes(data, keyRange, key),
            let c = r.int32(), let h = r.int32(), let w = r.int32(), let mode = r.u8(), let count = r.count(),
            let blob = r.blobRange(), external == nil || blob.isEmpty
        else { return nil }
        let pixels = external?.pixels ?? ByteStore(sharing: data, range: blob)
        guard (1...4).contains(c), (1...65_536).contains(h), (1...65_536).contains(w), mode <= 1 else { return nil }
        let prep = ImagePreprocessing(channels: c, height: h, width: w, mode: mode == 0 ? .centerCrop : .letterbox)
        let expected = count.multipliedReportingOverflow(by: prep.sampleSize)
        guard !expected.overflow, pixels.count == expected.partialValue else { return nil }
        var transforms: [LetterboxTransform?] = []
        guard count <= r.remaining / 25 else { return nil }  // 1 + 6 × 4 bytes an image
        transforms.reserveCapacity(count)
        var v = [Int](repeating: 0, count: 6)
        for _ in 0..<count {
            guard let present = r.u8() else { return nil }
            for j in 0..<6 {
                guard let value = r.int32() else { return nil }
                v[j] = value
            }
            transforms.append(
                present == 0
                    ? nil
                    : LetterboxTransform(
                        sourceWidth: v[0], sourceHeight: v[1], contentWidth: v[2], contentHeight: v[3], offsetX: v[4],
                        offsetY: v[5]))
        }
        let targets: LoadedSplit.Targets
        switch r.u8() {
        case 0:
            let labels = (0..<count).compactMap { _ in r.u32().map { Int32(bitPattern: $0) } }
            guard labels.count == count else { return nil }
            targets = .labels(labels)
        case 1:
            guard let blob = r.blobRange(),
                let masks = external.map({ $0.masks }) ?? ByteStore(sharing: data, range: blob),
                external == nil || blob.isEmpty, masks.count == count * h * w  // ≤ pixels.count
            else { return nil }
            targets = .masks(masks)
        case 2:
            var boxes: [[Box]] = []
            for _ in 0..<count {
                guard let k = r.u32(), Int(k) <= r.remaining / 20 else { return nil }
                var image: [Box] = []
                for _ in 0..<k {
                    let f = (0..<4).compactMap { _ in r.u32().map(Float.init(bitPattern:)) }
                    guard f.count == 4, let label = r.u32() else { return nil }
                    image.append(Box(x0: f[0], y0: f[1], x1: f[2], y1: f[3], label: Int32(bitPattern: label)))
                }
                boxes.append(image)
            }
            targets = .boxes(boxes)
        default:
            return nil
        }
        var statistics: (mean: [Float], std: [Float])?
        if format >= 2 {
            guard let k = r.u8().map(Int.init), k == 0 || k == c else { return nil }
            let pairs = (0..<k).compactMap { _ in
                r.u32().flatMap { mean in r.u32().map { (Float(bitPattern: mean), Float(bitPattern: $0)) } }
            }
            guard pairs.count == k else { return nil }
            if k > 0 { statistics = (pairs.map(\.0), pairs.map(\.1)) }
        }
        guard r.remaining == 0 else { return nil }
        return LoadedSplit(
            images: PreparedImages(preprocessing: prep, pixels: pixels, transforms: transforms), targets: targets,
            statistics: statistics)
    }
}

/// Whether `data[range]` holds exactly the UTF-8 bytes of `text` (by `memcmp`: a cache's key
/// lists every file, and a generic comparison of it cost more than decompressing).
func sameBytes(_ data: [UInt8], _ range: Range<Int>, _ text: String) -> Bool {
    var text = text
    return text.withUTF8 { bytes in
        bytes.count == range.count
            && (bytes.isEmpty
                || data.withUnsafeBufferPointer {
                    memcmp($0.baseAddress! + range.lowerBound, bytes.baseAddress!, bytes.count) == 0
                })
    }
}

/// Little-endian appends.
struct ByteWriter {
    var data: [UInt8] = []
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func bytes(_ b: [UInt8]) { data.append(contentsOf: b) }
    mutating func blob(_ b: ByteStore) {
        u64(UInt64(b.count))
        b.withUnsafeBufferPointer { data.append(contentsOf: $0) }
    }
}

/// Little-endian reads that return nil past the end.
struct ByteReader {
    let data: [UInt8]
    var offset = 0
    var remaining: Int { data.count - offset }

    mutating func bytes(_ n: Int) -> [UInt8]? {
        guard n >= 0, n <= remaining else { return nil }
        defer { offset += n }
        return Array(data[offset..<(offset + n)])
    }
    mutating func u8() -> UInt8? { little(UInt8.self) }
    mutating func u32() -> UInt32? { little(UInt32.self) }
    mutating func u64() -> UInt64? { little(UInt64.self) }

    /// A little-endian integer read in place (no copy: a cache holds several per image).
    private mutating func little<T: FixedWidthInteger>(_: T.Type) -> T? {
        let n = MemoryLayout<T>.size
        guard n <= remaining else { return nil }
        defer { offset += n }
        return data.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
    mutating func int32() -> Int? { u32().map { Int(Int32(bitPattern: $0)) } }
    /// Where the next length-prefixed blob lies in `data` (skipped, not copied).
    mutating func blobRange() -> Range<Int>? {
        guard let n = u64(), n <= UInt64(remaining) else { return nil }
        defer { offset += Int(n) }
        return offset..<(offset + Int(n))
    }
}

extension ByteReader {
    /// A u64 count as Int (nil when it does not fit).
    mutating func count() -> Int? { u64().flatMap { $0 <= UInt64(Int.max) ? Int($0) : nil } }
}
