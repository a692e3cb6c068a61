/// Zalando's Fashion-MNIST: 70 000 grayscale 28×28 images of clothing in 10 classes
/// (60 000 train, 10 000 test), read from the IDX files of the Debian package
/// `dataset-fashion-mnist`.
public enum FashionMNIST {
    /// Where `dataset-fashion-mnist` installs the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// Mean of `p / 255` over the training images (0.28604).
    public static let mean: Float = 0.2860
    /// Standard deviation of `p / 255` over the training images (0.35302).
    public static let std: Float = 0.3530
    /// Class names, indexed by label.
    public static let classNames: [String] = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
    /// Tells a user how to get the files when they are missing.
    public static let installHint = "install it with: apt-get install dataset-fashion-mnist"

    /// The two standard splits.
    public enum Split: String, Sendable, Codable {
        /// 60 000 training images (`train-*-ubyte.gz`).
        case train
        /// 10 000 test images (`t10k-*-ubyte.gz`).
        case test

        /// The file-name prefix used by the dataset.
        var filePrefix: String { self == .train ? "train" : "t10k" }
    }

    /// Paths of the image and label files of `split` in `directory`: the `.gz` files, or
    /// the uncompressed ones when only those exist.
    public static func paths(split: Split, directory: String = defaultDirectory) -> (images: String, labels: String) {
        func path(_ kind: String) -> String {
            let base = "\(directory)/\(split.filePrefix)-\(kind)-ubyte"
            if !fileExists(base + ".gz") && fileExists(base) { return base }
            return base + ".gz"
        }
        return (path("images-idx3"), path("labels-idx1"))
    }

    /// Loads one split into memory (one channel, 28×28, labels 0..<10), normalised with
    /// the training-set `mean` and `std` for both splits.
    ///
    /// - Throws: `DataError.fileNotFound` naming the path and the package to install;
    ///   `DataError.corrupt` for a bad gzip stream, bad IDX header or size, an image file
    ///   that is not rank 3 or a label file that is not rank 1, different image and label
    ///   counts, or a label outside 0..<10.
    public static func load(split: Split, directory: String = defaultDirectory) throws -> ImageDataset {
        let (imagesPath, labelsPath) = paths(split: split, directory: directory)
        let images = try withInstallHint(installHint) { try IDXArray.read(path: imagesPath) }
        let labels = try withInstallHint(installHint) { try IDXArray.read(path: labelsPath) }
        guard images.dims.count == 3 else {
            throw DataError.corrupt(
                path: imagesPath, detail: "expected rank-3 images [count, height, width], got dims \(images.dims)")
        }
        guard labels.dims.count == 1 else {
            throw DataError.corrupt(path: labelsPath, detail: "expected rank-1 labels [count], got dims \(labels.dims)")
        }
        guard images.dims[0] == labels.dims[0] else {
            throw DataError.corrupt(
                path: labelsPath,
                detail: "\(labels.dims[0]) labels but \(imagesPath) holds \(images.dims[0]) images")
        }
        guard images.dims[1] > 0, images.dims[2] > 0 else {
            throw DataError.corrupt(path: imagesPath, detail: "empty image extent in dims \(images.dims)")
        }
        if let bad = labels.bytes.firstIndex(where: { $0 >= classNames.count }) {
            throw DataError.corrupt(
                path: labelsPath,
                detail: "label \(labels.bytes[bad]) at index \(bad) is outside 0..<\(classNames.count)")
        }
        let labels32 = labels.bytes.map { Int32($0) }
        do {
            return try ImageDataset(
                name: "fashion-mnist-\(split.rawValue)", channels: 1,
                height: images.dims[1], width: images.dims[2],
                pixels: images.bytes, labels: labels32, classes: classNames.count, mean: mean, std: std)
        } catch let DataError.invalid(detail) {
            throw DataError.corrupt(path: imagesPath, detail: detail)
        }
    }
}

/// Runs `body`, replacing the generic hint of a `fileNotFound` error with `hint`.
func withInstallHint<T>(_ hint: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch DataError.fileNotFound(let path, _) {
        throw DataError.fileNotFound(path: path, hint: hint)
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Whether a file (of any kind) exists at `path`.
func fileExists(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0
}
