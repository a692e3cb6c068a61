import Foundation
import MoEData
import MoETensor
import Testing

/// Loaded once and shared: the real splits installed by `dataset-fashion-mnist`.
let fashionTrain = Result { try FashionMNIST.load(split: .train) }
let fashionTest = Result { try FashionMNIST.load(split: .test) }

@Suite struct FashionMNISTRealDataTests {
    @Test func trainSplitShapeAndLabels() throws {
        let train = try fashionTrain.get()
        #expect(train.count == 60_000)
        #expect(train.channels == 1 && train.height == 28 && train.width == 28)
        #expect(train.pixels.count == 60_000 * 28 * 28)
        #expect(train.classes == 10)
        #expect(train.name == "fashion-mnist-train")
        // First labels of train-labels-idx1-ubyte (read with Python's gzip module).
        #expect(Array(train.labels.prefix(20)) == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9, 5, 5, 7, 9, 1, 0, 6, 4])
        // Balanced: 6000 of every class.
        #expect(train.classCounts() == Array(repeating: 6000, count: 10))
        #expect(train.labels.allSatisfy { (0..<10).contains($0) })
    }

    @Test func testSplitShapeAndLabels() throws {
        let test = try fashionTest.get()
        #expect(test.count == 10_000)
        #expect(test.channels == 1 && test.height == 28 && test.width == 28)
        #expect(Array(test.labels.prefix(10)) == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])
        #expect(test.classCounts() == Array(repeating: 1000, count: 10))
    }

    @Test func normalisationConstantsMatchTrainingData() throws {
        let train = try fashionTrain.get()
        let stats = ImageDataset.statistics(of: train.pixels)
        #expect(abs(stats.mean - FashionMNIST.mean) < 5e-4, "mean \(stats.mean)")
        #expect(abs(stats.std - FashionMNIST.std) < 5e-4, "std \(stats.std)")
        #expect(FashionMNIST.classNames.count == 10)
        #expect(FashionMNIST.classNames[0] == "T-shirt/top" && FashionMNIST.classNames[9] == "Ankle boot")
    }

    @Test func normalisedBatchIsStandardised() throws {
        let train = try fashionTrain.get()
        var sampler = BatchSampler(count: train.count, batchSize: 4096, seed: 1)
        let (images, labels) = train.makeBatch(indices: sampler.next())
        #expect(images.shape == [4096, 1, 28, 28])
        #expect(labels.count == 4096)
        let (mean, std) = meanStd(images.storage)
        #expect(abs(mean) < 0.05, "batch mean \(mean)")
        #expect(abs(std - 1) < 0.05, "batch std \(std)")
        // Exact values: pixel (p / 255 − mean) / std of the right image.
        let i = 12_345
        let (one, oneLabel) = train.makeBatch(indices: [i])
        #expect(oneLabel == [train.labels[i]])
        for j in stride(from: 0, to: 784, by: 37) {
            let expected = (Float(train.pixels[i * 784 + j]) / 255 - FashionMNIST.mean) / FashionMNIST.std
            #expect(abs(one.storage[j] - expected) < 1e-6)
        }
    }

    /// Prints the load time; run `swift test -c release --filter loadTime` for the release figure.
    @Test func loadTime() throws {
        let start = Date()
        let train = try FashionMNIST.load(split: .train)
        let seconds = Date().timeIntervalSince(start)
        print("FashionMNIST train split (\(train.count) images) loaded in \(String(format: "%.3f", seconds)) s")
        #expect(seconds < 10)
    }
}

@Suite struct FashionMNISTFileErrorTests {
    @Test func missingDirectoryNamesPathAndPackage() {
        let error = #expect(throws: DataError.self) {
            try FashionMNIST.load(split: .test, directory: "/nonexistent/fashion")
        }
        guard case .fileNotFound(let path, let hint)? = error else {
            Issue.record("expected .fileNotFound, got \(String(describing: error))")
            return
        }
        #expect(path == "/nonexistent/fashion/t10k-images-idx3-ubyte.gz")
        #expect(hint.contains("apt-get install dataset-fashion-mnist"))
        #expect(error!.description.contains(path) && error!.description.contains("dataset-fashion-mnist"))
    }

    @Test func loadsSmallFixture() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try writeFashionFixture(in: dir, images: 5, labels: 5)
        let d = try FashionMNIST.load(split: .train, directory: dir.path)
        #expect(d.count == 5)
        #expect(d.labels == [0, 1, 2, 3, 4])
        #expect(d.pixels[3] == 21)
    }

    @Test func imageLabelCountMismatch() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try writeFashionFixture(in: dir, images: 5, labels: 4)
        let error = #expect(throws: DataError.self) { try FashionMNIST.load(split: .train, directory: dir.path) }
        guard case .corrupt(let path, let detail)? = error else {
            Issue.record("expected .corrupt, got \(String(describing: error))")
            return
        }
        #expect(path.hasSuffix("train-labels-idx1-ubyte.gz"))
        #expect(detail.contains("4 labels") && detail.contains("5 images"), "\(detail)")
    }

    @Test func labelOutOfRange() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try writeFashionFixture(in: dir, prefix: "t10k", images: 3, labels: 3, labelValue: 10)
        #expect(throws: DataError.self) { try FashionMNIST.load(split: .test, directory: dir.path) }
    }

    @Test func missingLabelsFileNamesIt() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try writeFashionFixture(in: dir, images: 2, labels: 2)
        try FileManager.default.removeItem(atPath: dir.file("train-labels-idx1-ubyte.gz"))
        #expect(
            throws: DataError.fileNotFound(
                path: dir.file("train-labels-idx1-ubyte.gz"),
                hint: "install it with: apt-get install dataset-fashion-mnist")
        ) { try FashionMNIST.load(split: .train, directory: dir.path) }
    }

    @Test func wrongRankIsCorrupt() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try writeFashionFixture(in: dir, images: 2, labels: 2)
        try dir.write(
            "train-images-idx3-ubyte.gz",
            Gzip.compress(idxBytes(dims: [2, 784], values: .init(repeating: 0, count: 1568))))
        #expect(throws: DataError.self) { try FashionMNIST.load(split: .train, directory: dir.path) }
    }
}
