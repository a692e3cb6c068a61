import Foundation
import MoEData
import MoEDataSources
import MoERecipe

/// The prepared-image cache and memory budget of one own-image dataset (DESIGN §8.1).
struct OwnImageCache {
    let recipe: DatasetRecipe
    let preprocessing: ImagePreprocessing
    /// `cache`, `<path>/.moe-cache` by default, nil for `cache: none`.
    let folder: String?
    /// Bytes allowed for one prepared split: `memoryBudget` MiB, else physical memory / 4.
    let budget: Int
    /// The splits' newest cache files, decompressing beside the key's computation.
    let prefetch: CachePrefetch?

    /// Starts the prefetch: build this once the dataset is listed, just before `split`.
    init(recipe: DatasetRecipe, preprocessing: ImagePreprocessing) {
        self.recipe = recipe
        self.preprocessing = preprocessing
        folder =
            recipe.cache == "none"
            ? nil : recipe.cache ?? recipe.path.map { ($0 as NSString).appendingPathComponent(".moe-cache") }
        budget =
            recipe.memoryBudget.map { $0.multipliedReportingOverflow(by: 1 << 20).partialValue }
            ?? Int(clamping: ProcessInfo.processInfo.physicalMemory / 4)
        let names = ["train", "test"].map { "\(recipe.name)-\($0)" }
        prefetch = folder.flatMap { [budget] in
            CachePrefetch(cache: PreparedCache(folder: $0), names: names, budget: budget)
        }
    }

    /// The split `split` of `count` images, read from the cache when `files` (with sizes
    /// and modification times) and the settings match, else decoded by `decode` (given the
    /// range of images to decode) and stored. A split above the memory budget is streamed:
    /// decoded chunk by chunk into an uncompressed file that batches then read through a
    /// mapping (`StreamedSplitFile`; a temporary file with `cache: none`).
    /// - Throws: what `decode` throws; `DataError.invalid` when a streamed file cannot be
    ///   written.
    func split(
        _ split: String, count: Int, files: [String], stamps: [FileStamp?] = [], extra: String,
        decode: (Range<Int>) throws -> LoadedSplit
    ) throws -> LoadedSplit {
        let plane = preprocessing.height * preprocessing.width
        let perImage = preprocessing.sampleSize + (recipe.task == .segmentation ? plane : 0)
        let (bytes, overflow) = count.multipliedReportingOverflow(by: perImage)
        guard !overflow else {
            throw DataError.invalid(detail: "dataset \(recipe.name): its \(split) split is too large to address")
        }
        let streamed = bytes > budget
        let p = preprocessing
        let settings =
            "\(recipe.source.rawValue) \(recipe.task.rawValue) \(p.channels)x\(p.height)x\(p.width) \(p.mode.rawValue) \(extra)"
        let name = "\(recipe.name)-\(split)"
        let start = Date()
        guard let folder else {
            guard streamed else { return try decode(0..<count) }
            let path = (NSTemporaryDirectory() as NSString).appendingPathComponent(
                "moe-stream-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            defer { unlink(path) }  // the mapping stays readable
            return try stream(split, bytes: bytes, to: path, key: settings, count: count, decode: decode)
        }
        let key = try Self.key(files, stamps: stamps, settings: settings)
        let cache = PreparedCache(folder: folder)
        if streamed {
            let path = cache.streamPath(name: name, key: key)
            if let hit = StreamedSplitFile.load(path: path, key: key), hit.count == count {
                report(
                    String(
                        format: "%@ %@: %d images streamed from %@ (%.2f s)", recipe.name, split, count, path,
                        Date().timeIntervalSince(start)))
                return hit
            }
            try createFolder(folder)
            return try stream(split, bytes: bytes, to: path, key: key, count: count, decode: decode)
        }
        if let hit = cache.load(name: name, key: key, prefetched: prefetch), hit.count == count {
            report(
                String(
                    format: "%@ %@: %d images from the cache (%.2f s)", recipe.name, split, count,
                    Date().timeIntervalSince(start)))
            return hit
        }
        var loaded = try decode(0..<count)
        loaded.statistics = loaded.images.channelStatistics()  // stored, so a hit skips the pass
        if let why = cache.store(loaded, name: name, key: key) {
            report("warning: \(why); continuing without a cache")
        }
        return loaded
    }

    /// The cache key of `files`, from the stamps their listing took when every file has one.
    static func key(_ files: [String], stamps: [FileStamp?], settings: String) throws -> String {
        guard stamps.count == files.count, !stamps.contains(nil) else {
            return try PreparedCache.key(files: files, settings: settings)
        }
        return PreparedCache.key(paths: files, stamps: stamps, settings: settings)
    }

    /// Decodes into the streamed file at `path`, in chunks of at most an eighth of the budget.
    private func stream(
        _ split: String, bytes: Int, to path: String, key: String, count: Int,
        decode: (Range<Int>) throws -> LoadedSplit
    ) throws -> LoadedSplit {
        report(
            "dataset \(recipe.name): its \(split) split needs \(bytes >> 20) MiB of prepared images, above the memory "
                + "budget of \(budget >> 20) MiB; streaming it from \(path)")
        let chunk = max(1, min(count, budget / 8 / max(bytes / max(count, 1), 1)))
        return try StreamedSplitFile.write(
            path: path, key: key, count: count, preprocessing: preprocessing, masks: recipe.task == .segmentation,
            chunk: chunk, decode: decode)
    }

    private func report(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
