import Foundation
import MoEData

/// A classification folder (torchvision's ImageFolder layout, DESIGN §8.1):
/// `root/<split>/<class>/*.{png,jpg,jpeg}`, or `root/<class>/…` without split folders.
/// Classes are the sorted sub-folder names; files are taken in sorted name order within
/// each class, classes in class order, so the image order does not depend on the file system.
public struct ImageFolder: Sendable, Equatable {
    /// One image file, its class, and its stamp when the scan took one (for the cache key).
    public struct Entry: Sendable, Equatable, Hashable {
        public var path: String
        public var label: Int32
        public var stamp: FileStamp?
        public init(path: String, label: Int32, stamp: FileStamp? = nil) {
            self.path = path
            self.label = label
            self.stamp = stamp
        }
    }

    public var classNames: [String]
    public var train: [Entry]
    /// nil when the folder has no split folders (split it by `testFraction`).
    public var test: [Entry]?

    /// File extensions read as images (case-insensitive).
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]

    /// Scans `root`. When `root/<trainSplit>` is a folder, `root/<testSplit>` must be one too;
    /// its class folders must be classes of the train split (it may lack some).
    /// - Throws: `DataError.fileNotFound` for a missing root or test split;
    ///   `DataError.corrupt` naming the folder for no class folders, a class folder without
    ///   images, or a test class folder the train split does not have.
    public static func scan(root: String, trainSplit: String = "train", testSplit: String = "val") throws
        -> ImageFolder
    {
        guard FileScan.isDirectory(root) else {
            throw DataError.fileNotFound(path: root, hint: "expected a folder root/<split>/<class>/<image>")
        }
        let trainRoot = (root as NSString).appendingPathComponent(trainSplit)
        guard FileScan.isDirectory(trainRoot) else {
            let (names, entries) = try scanClasses(root)
            return ImageFolder(classNames: names, train: entries, test: nil)
        }
        let testRoot = (root as NSString).appendingPathComponent(testSplit)
        guard FileScan.isDirectory(testRoot) else {
            throw DataError.fileNotFound(
                path: testRoot, hint: "\(root) has a '\(trainSplit)' folder, so its test split '\(testSplit)' is needed"
            )
        }
        let (names, train) = try scanClasses(trainRoot)
        let (testNames, test) = try scanClasses(testRoot)
        // The test split may lack classes; its labels are the train split's indices.
        var trainLabel: [String: Int32] = [:]
        for (label, name) in names.enumerated() { trainLabel[name] = Int32(label) }
        let relabelled = try test.map { entry in
            let name = testNames[Int(entry.label)]
            guard let label = trainLabel[name] else {
                throw DataError.corrupt(
                    path: (testRoot as NSString).appendingPathComponent(name),
                    detail: "class folder '\(name)' is not a class of the train split \(names)")
            }
            return Entry(path: entry.path, label: label, stamp: entry.stamp)
        }
        return ImageFolder(classNames: names, train: train, test: relabelled)
    }

    /// The sorted class folders of `folder` and their images.
    static func scanClasses(_ folder: String) throws -> ([String], [Entry]) {
        let names = try FileScan.sortedChildren(folder).filter {
            !$0.hasPrefix(".") && FileScan.isDirectory((folder as NSString).appendingPathComponent($0))
        }
        guard !names.isEmpty else {
            throw DataError.corrupt(path: folder, detail: "no class folders; expected <class>/<image>.png|jpg inside")
        }
        // Class folders are listed on the worker threads (a cache hit on many small images
        // spends a good part of its time listing them); results and errors in class order.
        let listings = ParallelDecoder.decodeEach(names.count, progress: nil) { label in
            try FileScan.stampedImages(in: (folder as NSString).appendingPathComponent(names[label]))
        }
        var entries: [Entry] = []
        for (label, name) in names.enumerated() {
            let classFolder = (folder as NSString).appendingPathComponent(name)
            let files = try listings[label].get()
            guard !files.isEmpty else {
                throw DataError.corrupt(
                    path: classFolder, detail: "class folder '\(name)' holds no .png/.jpg/.jpeg image")
            }
            entries += files.map { Entry(path: $0.path, label: Int32(label), stamp: $0.stamp) }
        }
        return (names, entries)
    }
}

extension ImageFolder {
    /// `arguments` with every folder replaced by the images directly in it (sorted).
    /// - Throws: `DataError.fileNotFound` for a missing path, `DataError.corrupt` for a
    ///   folder without images.
    public static func expand(_ arguments: [String]) throws -> [String] {
        try arguments.flatMap { path -> [String] in
            if FileScan.isDirectory(path) {
                let files = try FileScan.images(in: path)
                guard !files.isEmpty else {
                    throw DataError.corrupt(path: path, detail: "the folder holds no .png/.jpg/.jpeg image")
                }
                return files
            }
            guard FileManager.default.fileExists(atPath: path) else {
                throw DataError.fileNotFound(path: path, hint: "expected a PNG or JPEG file or a folder of them")
            }
            return [path]
        }
    }
}
