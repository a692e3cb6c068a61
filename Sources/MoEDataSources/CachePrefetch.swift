import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Cache files decompressed on a thread of their own while the caller computes the cache
/// key (DESIGN §8.1). The key's file name is known only once every input file is stamped
/// and the key is built, but unless the data changed it names the file written last for
/// the split, so that file is decompressed beside the key's work (started after the
/// listing, which keeps both cores busy on its own). `PreparedCache.load` takes the bytes
/// when the key names the file prefetched and reads the file anew otherwise, so a wrong
/// guess costs only work done beside the key's.
public final class CachePrefetch: @unchecked Sendable {
    /// One split's guess: its file, its decompression once started, and the bytes.
    private final class Slot: @unchecked Sendable {
        let path: String
        let started = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        // Each written by the prefetch thread before the semaphore after it is signalled,
        // read only after a wait on that semaphore.
        var job: FrameDecompression?
        var raw: [UInt8]?
        init(path: String) { self.path = path }
    }

    private let slots: [String: Slot]

    /// Starts decompressing, for each of `names` in order, the newest `<name>-<hash>.zst`
    /// in `cache.folder` unless it holds more than `budget` bytes (a split that large is
    /// streamed, not held in memory); nil when no name has such a file.
    public init?(cache: PreparedCache, names: [String], budget: Int = .max) {
        let existing = (try? FileScan.sortedChildren(cache.folder)) ?? []
        let guesses = names.compactMap { name in
            Self.newest(of: existing.filter { Self.isCacheFile($0, of: name) }, in: cache.folder).map { (name, $0) }
        }
        guard !guesses.isEmpty else { return nil }
        let ordered = guesses.map { Slot(path: $0.1) }
        slots = Dictionary(uniqueKeysWithValues: zip(guesses.map(\.0), ordered))
        // Off the worker pool, which the caller's key computation uses; the caller joins in
        // when it needs the bytes before they are done.
        let thread = Thread {
            for slot in ordered {
                let file = try? MappedFile(path: slot.path)
                file?.withBytes { bytes in
                    guard let job = FrameDecompression(bytes), job.total <= budget else { return }
                    slot.raw = job.run {
                        slot.job = job
                        slot.started.signal()
                        job.work()
                    }
                }
                if slot.job == nil { slot.started.signal() }
                slot.finished.signal()
            }
        }
        thread.start()
    }

    /// The decompressed bytes of `path` when it is the file prefetched for `name` (helping
    /// the thread with the frames left, then waiting for it); nil for another file, or
    /// bytes that did not decompress. A guess for `name` that `path` shows wrong is
    /// cancelled and dropped first, so a rebuild never holds a stale split beside its own.
    func bytes(name: String, path: String) -> [UInt8]? {
        guard let slot = slots[name] else { return nil }
        slot.started.wait()
        slot.started.signal()  // a later wait returns at once (also below)
        if slot.path == path { slot.job?.work() } else { slot.job?.cancel() }
        slot.finished.wait()
        slot.finished.signal()
        guard slot.path == path else {
            slot.raw = nil
            return nil
        }
        return slot.raw
    }

    /// Whether `file` is `<name>-<16 hex digits>.zst`, the name `PreparedCache` gives a
    /// split's file.
    static func isCacheFile(_ file: String, of name: String) -> Bool {
        let prefix = name + "-"
        guard file.hasPrefix(prefix), file.hasSuffix(".zst") else { return false }
        let hash = file.utf8.dropFirst(prefix.utf8.count).dropLast(4)
        return hash.count == 16 && hash.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The path of the most recently modified of `files` in `folder`.
    private static func newest(of files: [String], in folder: String) -> String? {
        var info = stat()
        return
            files
            .map { (folder as NSString).appendingPathComponent($0) }
            .compactMap { path -> (String, Int64)? in
                stat(path, &info) == 0 ? (path, FileStamp(info).modified) : nil
            }
            .max { $0.1 < $1.1 }?.0
    }
}
