import CZstd
import Foundation
import MoETensor
import Synchronization

/// The decompression of a stream of independent zstd frames (`PreparedCache` writes them
/// so) into one buffer, frame by frame, by whichever threads call `work()`: the worker
/// pool, or a prefetch thread joined by the caller that waits for its bytes.
final class FrameDecompression: @unchecked Sendable {
    /// Each frame's compressed bytes in `source` and its place in the output.
    let frames: [(input: Range<Int>, output: Range<Int>)]
    /// Decompressed bytes in all.
    let total: Int
    private let source: UnsafeRawBufferPointer
    // Set by `run` before any frame can be claimed; valid until every frame is done.
    nonisolated(unsafe) private var output: UnsafeMutablePointer<UInt8>?
    private let next = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    private let failed = Atomic<Bool>(false)
    private let allDone = DispatchSemaphore(value: 0)

    /// The frame table of `source`; nil unless every frame parses and states its size, and
    /// the content is neither empty nor above `limit` bytes (a damaged header may state any
    /// size, and the output is allocated before a frame is read).
    init?(_ source: UnsafeRawBufferPointer, limit: Int = PreparedCache.decompressionLimit) {
        var frames: [(input: Range<Int>, output: Range<Int>)] = []
        var (offset, total) = (0, 0)
        while offset < source.count {
            let rest = UnsafeRawBufferPointer(rebasing: source[offset...])
            let compressed = ZSTD_findFrameCompressedSize(rest.baseAddress, rest.count)
            let content = ZSTD_getFrameContentSize(rest.baseAddress, rest.count)
            guard ZSTD_isError(compressed) == 0, content != ZSTD_CONTENTSIZE_ERROR,
                content != ZSTD_CONTENTSIZE_UNKNOWN, content <= UInt64(Int.max - total)
            else { return nil }
            frames.append((offset..<(offset + compressed), total..<(total + Int(content))))
            (offset, total) = (offset + compressed, total + Int(content))
        }
        guard total > 0, total <= limit else { return nil }
        (self.frames, self.total, self.source) = (frames, total, source)
    }

    /// The decompressed bytes: allocates the output, calls `share` (which should call
    /// `work()` on this thread and may hand it to others), and waits until every frame is
    /// done; nil if a frame failed to decompress.
    func run(_ share: () -> Void) -> [UInt8]? {
        let raw = [UInt8](unsafeUninitializedCapacity: total) { out, initialized in
            output = out.baseAddress
            share()
            allDone.wait()
            initialized = total
        }
        return failed.load(ordering: .acquiring) ? nil : raw
    }

    /// Claims and decompresses frames until none are left. Safe to call at any time: before
    /// `run` has started, or once every frame is claimed, it returns without touching the
    /// output.
    func work() { claimFrames(decompressing: true) }

    /// Claims the frames left without decompressing them, so `run` returns nil as soon as
    /// the frames in flight are done. Safe to call at any time, as `work()`.
    func cancel() { claimFrames(decompressing: false) }

    private func claimFrames(decompressing: Bool) {
        guard let base = output else { return }  // not started: nothing to claim yet
        while true {
            let f = next.add(1, ordering: .acquiringAndReleasing).oldValue
            guard f < frames.count else { return }
            if decompressing {
                let (input, output) = frames[f]
                let rc = ZSTD_decompress(
                    base + output.lowerBound, output.count, source.baseAddress! + input.lowerBound, input.count)
                if ZSTD_isError(rc) != 0 || rc != output.count { failed.store(true, ordering: .releasing) }
            } else {
                failed.store(true, ordering: .releasing)
            }
            if done.add(1, ordering: .acquiringAndReleasing).newValue == frames.count { allDone.signal() }
        }
    }
}
