import MoEData
import MoETensor
import Testing

@Suite struct ImageDatasetTests {
    func tiny() throws -> ImageDataset {
        // 4 images of 2×2×3 (C×H×W), pixel value = image * 12 + offset.
        let pixels = (0..<48).map { UInt8($0 * 5) }
        return try ImageDataset(
            name: "tiny", channels: 2, height: 2, width: 3, pixels: pixels,
            labels: [3, 1, 0, 2], classes: 4, mean: 0.5, std: 0.25)
    }

    @Test func initValidates() {
        #expect(throws: DataError.self) {
            try ImageDataset(
                name: "x", channels: 1, height: 2, width: 2, pixels: [0, 0, 0], labels: [0], classes: 2, mean: 0, std: 1
            )
        }
        #expect(throws: DataError.self) {
            try ImageDataset(
                name: "x", channels: 1, height: 1, width: 1, pixels: [0], labels: [2], classes: 2, mean: 0, std: 1)
        }
        #expect(throws: DataError.self) {
            try ImageDataset(
                name: "x", channels: 1, height: 1, width: 1, pixels: [0], labels: [0], classes: 2, mean: 0, std: 0)
        }
        #expect(throws: DataError.self) {
            try ImageDataset(
                name: "x", channels: 0, height: 1, width: 1, pixels: [], labels: [], classes: 2, mean: 0, std: 1)
        }
    }

    @Test func makeBatchGathersAndNormalises() throws {
        let d = try tiny()
        #expect(d.count == 4 && d.sampleSize == 12)
        let (images, labels) = d.makeBatch(indices: [2, 0])
        #expect(images.shape == [2, 2, 2, 3])
        #expect(labels == [0, 3])
        for j in 0..<12 {
            #expect(abs(images.storage[j] - (Float(d.pixels[24 + j]) / 255 - 0.5) / 0.25) < 1e-6)
            #expect(abs(images.storage[12 + j] - (Float(d.pixels[j]) / 255 - 0.5) / 0.25) < 1e-6)
        }
        let slice = [9, 1, 3, 9][1..<3]
        #expect(d.makeBatch(indices: slice) == d.makeBatch(indices: [1, 3]))
        #expect(d.makeBatch(indices: 1..<3) == d.makeBatch(indices: [1, 2]))
    }

    @Test func makeBatchIntoReusesAndResizesBuffers() throws {
        let d = try tiny()
        var images = Tensor(shape: [1])
        var labels: [Int32] = []
        d.makeBatch(indices: [3, 1], into: &images, labels: &labels)
        #expect(images == d.makeBatch(indices: [3, 1]).images)
        #expect(labels == [2, 1])
        let before = images.withUnsafePointer { UInt(bitPattern: $0) }
        d.makeBatch(indices: [0, 2][...], into: &images, labels: &labels)
        let after = images.withUnsafePointer { UInt(bitPattern: $0) }
        #expect(before == after, "storage reused when the shape matches")
        #expect(images == d.makeBatch(indices: [0, 2]).images && labels == [3, 0])
        d.makeBatch(indices: 1..<4, into: &images, labels: &labels)
        #expect(images == d.makeBatch(indices: [1, 2, 3]).images && labels == [1, 0, 2])
    }

    @Test func subsetAndStatistics() throws {
        let d = try tiny()
        let s = d.subset([3, 3, 0], name: "sub")
        #expect(s.name == "sub" && s.count == 3 && s.labels == [2, 2, 3])
        #expect(Array(s.pixels[0..<12]) == Array(d.pixels[36..<48]))
        #expect(Array(s.pixels[24..<36]) == Array(d.pixels[0..<12]))
        let stats = ImageDataset.statistics(of: [0, 255, 0, 255])
        #expect(abs(stats.mean - 0.5) < 1e-6 && abs(stats.std - 0.5) < 1e-6)
    }

    @Test func evaluationBatchesCoverEverythingInOrder() {
        #expect(evaluationBatches(count: 10, batchSize: 4) == [0..<4, 4..<8, 8..<10])
        #expect(evaluationBatches(count: 8, batchSize: 4) == [0..<4, 4..<8])
        #expect(evaluationBatches(count: 3, batchSize: 10) == [0..<3])
        #expect(evaluationBatches(count: 0, batchSize: 10).isEmpty)
        #expect(evaluationBatches(count: 10_000, batchSize: 256).reduce(0) { $0 + $1.count } == 10_000)
    }
}
