import Foundation

/// Immutable bytes, held in memory or mapped read-only from a file.
///
/// A split larger than its memory budget is streamed from its cache file (DESIGN §8.1): the
/// bytes are a window of a `MappedFile`, and the kernel pages in only what batches touch and
/// drops those pages again under memory pressure.
public final class ByteStore: Sendable, Equatable {
    private enum Storage {
        case memory([UInt8], offset: Int)
        case mapped(MappedFile, offset: Int)
    }

    private let storage: Storage
    /// Number of bytes.
    public let count: Int

    /// Bytes held in memory.
    public init(_ bytes: [UInt8]) {
        storage = .memory(bytes, offset: 0)
        count = bytes.count
    }

    /// The bytes of `range` in `bytes`, shared rather than copied (a cache's pixels inside
    /// its decompressed record).
    /// - Precondition: `range` lies inside `bytes` (checked by the caller's parser).
    init(sharing bytes: [UInt8], range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count, "range outside the bytes")
        storage = .memory(bytes, offset: range.lowerBound)
        count = range.count
    }

    /// `count` bytes of `file` from `offset`.
    /// - Precondition: the window lies inside the mapping (checked by the caller's parser).
    init(mapped file: MappedFile, offset: Int, count: Int) {
        precondition(offset >= 0 && count >= 0 && offset <= file.length - count, "window outside the mapping")
        storage = .mapped(file, offset: offset)
        self.count = count
    }

    /// Whether the bytes are read from a file mapping rather than held in memory.
    public var isMapped: Bool {
        if case .mapped = storage { return true }
        return false
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        switch storage {
        case .memory(let bytes, let offset):
            return try bytes.withUnsafeBufferPointer {
                try body(UnsafeBufferPointer(rebasing: $0[offset..<(offset + count)]))
            }
        case .mapped(let file, let offset):
            return try body(UnsafeBufferPointer(start: file.base.advanced(by: offset), count: count))
        }
    }

    /// A copy of the bytes in `range`.
    public subscript(range: Range<Int>) -> [UInt8] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range \(range) outside 0..<\(count)")
        return withUnsafeBufferPointer { Array(UnsafeBufferPointer(rebasing: $0[range])) }
    }

    public static func == (a: ByteStore, b: ByteStore) -> Bool {
        a.count == b.count
            && a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in x.elementsEqual(y) } }
    }
}
