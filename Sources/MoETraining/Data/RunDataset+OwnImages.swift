import Foundation
import MoEData
import MoEDataSources
import MoEImage
import MoEModel
import MoERecipe
import MoETensor

extension RunDataset {
    /// The preprocessing of an own-image dataset (DESIGN §8.1): `size` (default the model's
    /// `imageSize` square), `model.channels`, centre crop for classification, letterbox else.
    public static func preprocessing(_ recipe: DatasetRecipe, model: ModelConfig) -> ImagePreprocessing {
        let size = recipe.size ?? InputSize(height: model.imageSize, width: model.imageSize)
        return ImagePreprocessing(
            channels: model.channels, height: size.height, width: size.width,
            mode: recipe.task == .classification ? .centerCrop : .letterbox)
    }

    /// Loads a folder, coco or masks dataset: scans the layout, decodes both splits in
    /// parallel, and normalises with `normalize` or the train split's per-channel statistics.
    static func loadOwnImages(_ recipe: DatasetRecipe, seed: UInt64, model: ModelConfig) throws -> RunDataset {
        guard let root = recipe.path else {
            throw DataError.invalid(detail: "dataset \(recipe.name): source \(recipe.source.rawValue) needs a path")
        }
        let start = Date()
        let prep = preprocessing(recipe, model: model)
        let (trainName, testName) = (recipe.trainSplit ?? "train", recipe.testSplit ?? "val")
        let progress = (train: "\(recipe.name) train", test: "\(recipe.name) test")
        // Built after each layout is listed (its prefetch would compete with the listing).
        let makeCache = { OwnImageCache(recipe: recipe, preprocessing: prep) }
        var names: [String]
        var train: LoadedSplit
        var test: LoadedSplit
        switch recipe.source {
        case .coco:
            (names, train, test) = try loadCOCO(
                root: root, splits: (trainName, testName), cache: makeCache, preprocessing: prep, progress: progress)
        case .masks:
            let classes = recipe.classes ?? 1
            let folder = try MaskFolder.scan(root: root, trainSplit: trainName, testSplit: testName)
            let (trainPairs, testPairs) = try splitIfNeeded(folder.train, folder.test, recipe, seed: seed)
            names = recipe.classNames ?? (1...classes).map { "class\($0)" }
            let cache = makeCache()
            let files = { (pairs: [MaskFolder.Pair]) in pairs.flatMap { [$0.image, $0.mask] } }
            train = try cache.split(
                "train", count: trainPairs.count, files: files(trainPairs), extra: "classes \(classes)"
            ) { range in
                try .segmentation(
                    Array(trainPairs[range]), classes: classes, preprocessing: prep, progress: progress.train)
            }
            test = try cache.split("test", count: testPairs.count, files: files(testPairs), extra: "classes \(classes)")
            { range in
                try .segmentation(
                    Array(testPairs[range]), classes: classes, preprocessing: prep, progress: progress.test)
            }
        default:
            let folder = try ImageFolder.scan(root: root, trainSplit: trainName, testSplit: testName)
            let (trainEntries, testEntries) = try splitIfNeeded(folder.train, folder.test, recipe, seed: seed)
            names = folder.classNames
            let cache = makeCache()
            let extra = "classes " + names.joined(separator: "\u{1F}")
            train = try cache.split(
                "train", count: trainEntries.count, files: trainEntries.map(\.path), stamps: trainEntries.map(\.stamp),
                extra: extra
            ) { range in
                try .classification(Array(trainEntries[range]), preprocessing: prep, progress: progress.train)
            }
            test = try cache.split(
                "test", count: testEntries.count, files: testEntries.map(\.path), stamps: testEntries.map(\.stamp),
                extra: extra
            ) { range in
                try .classification(Array(testEntries[range]), preprocessing: prep, progress: progress.test)
            }
        }
        // `normalize`, else what a checkpoint's spec stored (eval, adapt: the statistics the
        // head was trained with, even if files changed since), else the train split's.
        let stored = model.datasets.first { $0.name == recipe.name }
        let measured = train.statistics ?? train.images.channelStatistics()
        let mean = recipe.normalize?.mean ?? stored?.inputMean ?? measured.mean
        // A constant-valued training split has std 0; it is left unscaled (std 1).
        let std = recipe.normalize?.std ?? stored?.inputStd ?? measured.std.map { $0 > 0 ? $0 : 1 }
        // The whole load (listing, cache key, decode or cache read, statistics): what a
        // cache hit is measured against.
        FileHandle.standardError.write(
            Data(
                String(
                    format: "%@: %d train and %d test images ready in %.3f s\n", recipe.name, train.count, test.count,
                    Date().timeIntervalSince(start)
                ).utf8))
        return RunDataset(
            recipe: recipe,
            train: PreparedSplit(train, classes: names.count, mean: mean, std: std),
            test: PreparedSplit(test, classes: names.count, mean: mean, std: std),
            classNames: names, inputMean: mean, inputStd: std)
    }

    /// The train and test splits of a coco dataset: `root/annotations/<split>.json` with
    /// images in `root/images/<split>/`; both files must list the same category ids.
    static func loadCOCO(
        root: String, splits: (train: String, test: String), cache makeCache: () -> OwnImageCache,
        preprocessing: ImagePreprocessing, progress: (train: String, test: String)
    ) throws -> ([String], LoadedSplit, LoadedSplit) {
        let path = { (split: String) in
            (
                annotations: (root as NSString).appendingPathComponent("annotations/\(split).json"),
                images: (root as NSString).appendingPathComponent("images/\(split)")
            )
        }
        let (trainFiles, testFiles) = (path(splits.train), path(splits.test))
        let trainSet = try COCODetection.load(annotations: trainFiles.annotations, images: trainFiles.images)
        let testSet = try COCODetection.load(annotations: testFiles.annotations, images: testFiles.images)
        guard testSet.categoryIDs == trainSet.categoryIDs else {
            throw DataError.corrupt(
                path: testFiles.annotations,
                detail:
                    "categories \(testSet.categoryIDs) differ from \(trainFiles.annotations)'s \(trainSet.categoryIDs)"
            )
        }
        let cache = makeCache()
        let prepared = { (split: String, set: COCODetection, annotations: String, label: String) in
            try cache.split(
                split, count: set.entries.count, files: [annotations] + set.entries.map(\.path), extra: ""
            ) { range in
                try .detection(
                    Array(set.entries[range]), annotations: annotations, preprocessing: preprocessing, progress: label)
            }
        }
        let train = try prepared("train", trainSet, trainFiles.annotations, progress.train)
        let test = try prepared("test", testSet, testFiles.annotations, progress.test)
        return (trainSet.classNames, train, test)
    }

    /// The given test split, or the items split seeded: a random `testFraction` of them
    /// (rounded, at least 1) is the test split, both halves kept in their original order.
    static func splitIfNeeded<T>(_ items: [T], _ test: [T]?, _ recipe: DatasetRecipe, seed: UInt64) throws
        -> ([T], [T])
    {
        if let test { return (items, test) }
        let testCount = Int((Double(items.count) * recipe.testFraction).rounded())
        guard items.count >= 2, testCount >= 1, testCount < items.count else {
            throw DataError.invalid(
                detail: "dataset \(recipe.name): \(items.count) images cannot be split by testFraction "
                    + "\(recipe.testFraction) into non-empty train and test splits; add images or split folders")
        }
        var generator = SeededGenerator(seed: seed)
        let order = generator.permutation(items.count)
        return (order[testCount...].sorted().map { items[$0] }, order[..<testCount].sorted().map { items[$0] })
    }
}
