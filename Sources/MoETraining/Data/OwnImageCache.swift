import Foundation
import MoEData
import MoEDataSources
import MoERecipe

/// The prepared-image cache and memory budget of one own-image dataset (DESIGN §8.1).
struct OwnImageCache {
    let recipe: DatasetRecipe
    let preprocessing: ImagePreprocessing

    /// `cache`, `<path>/.moe-cache` by default, nil for `cache: none`.
    var folder: String? {
        if recipe.cache == "none" { return nil }
        return recipe.cache ?? recipe.path.map { ($0 as NSString).appendingPathComponent(".moe-cache") }
    }

    /// Bytes allowed for one prepared split: `memoryBudget` MiB, else physical memory / 4.
    var budget: Int {
        if let mib = recipe.memoryBudget { return mib.multipliedReportingOverflow(by: 1 << 20).partialValue }
        return Int(clamping: ProcessInfo.processInfo.physicalMemory / 4)
    }

    /// The split `split` of `count` images, read from the cache when `files` (with sizes
    /// and modification times) and the settings match, else decoded by `decode` and stored.
    /// - Throws: `DataError.invalid` when the prepared split would exceed the budget (there
    ///   is no streaming from the cache yet); what `decode` throws.
    func split(
        _ split: String, count: Int, files: [String], extra: String, decode: () throws -> LoadedSplit
    ) throws -> LoadedSplit {
        let perImage =
            preprocessing.sampleSize + (recipe.task == .segmentation ? preprocessing.height * preprocessing.width : 0)
        let (bytes, overflow) = count.multipliedReportingOverflow(by: perImage)
        guard !overflow, bytes <= budget else {
            throw DataError.invalid(
                detail:
                    "dataset \(recipe.name): its \(split) split needs \(overflow ? "more than Int.max" : "\(bytes >> 20) MiB") "
                    + "of prepared images, above the memory budget of \(budget >> 20) MiB; lower datasets.\(recipe.name).size "
                    + "or raise datasets.\(recipe.name).memoryBudget (streaming from the cache is not implemented)")
        }
        guard let folder else { return try decode() }
        let p = preprocessing
        let settings =
            "\(recipe.source.rawValue) \(recipe.task.rawValue) \(p.channels)x\(p.height)x\(p.width) \(p.mode.rawValue) \(extra)"
        let key = try PreparedCache.key(files: files, settings: settings)
        let cache = PreparedCache(folder: folder)
        let name = "\(recipe.name)-\(split)"
        let start = Date()
        if let hit = cache.load(name: name, key: key), hit.count == count {
            FileHandle.standardError.write(
                Data(
                    String(
                        format: "%@ %@: %d images from the cache (%.2f s)\n", recipe.name, split, count,
                        Date().timeIntervalSince(start)
                    ).utf8))
            return hit
        }
        let loaded = try decode()
        if let why = cache.store(loaded, name: name, key: key) {
            FileHandle.standardError.write(Data("warning: \(why); continuing without a cache\n".utf8))
        }
        return loaded
    }
}
