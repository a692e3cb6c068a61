import MoETasks
import MoETraining
import Testing

@Suite struct MetricSegmentationTests {
    // 2×3 maps, 3 classes (0 = background):
    //   target      prediction
    //   0 0 1       0 1 1
    //   1 2 2       1 2 0
    // class 0: TP 1, FP 1 (t2→p0), FN 1 (t0→p1) → IoU 1/3
    // class 1: TP 2, FP 1 (t0→p1), FN 0         → IoU 2/3
    // class 2: TP 1, FP 0,          FN 1 (t2→p0) → IoU 1/2
    // mIoU = (1/3 + 2/3 + 1/2) / 3 = 1/2; pixel accuracy = 4/6.
    static let target: [UInt8] = [0, 0, 1, 1, 2, 2]
    static let prediction: [Int32] = [0, 1, 1, 1, 2, 0]

    @Test func handWorkedTwoByThree() throws {
        var m = try SegmentationMetrics(classes: 3)
        try m.update(prediction: Self.prediction, target: Self.target)
        #expect(m.confusion == [1, 1, 0, 0, 2, 0, 1, 0, 1])
        let iou = m.perClassIoU.map { $0! }
        #expect(abs(iou[0] - 1.0 / 3) < 1e-12 && abs(iou[1] - 2.0 / 3) < 1e-12 && abs(iou[2] - 0.5) < 1e-12)
        #expect(abs(m.meanIoU - 0.5) < 1e-12)
        #expect(abs(m.pixelAccuracy - 4.0 / 6) < 1e-12)
        #expect(m.pixelCount == 6)
    }

    @Test("classes absent from both maps do not count", arguments: [3, 5, 11])
    func absentClasses(classes: Int) throws {
        var m = try SegmentationMetrics(classes: classes)
        try m.update(prediction: Self.prediction, target: Self.target)
        #expect(m.perClassIoU.dropFirst(3).allSatisfy { $0 == nil })
        #expect(abs(m.meanIoU - 0.5) < 1e-12)
    }

    @Test func predictedOnlyClassCountsAsZero() throws {
        // Target all 0; prediction [0, 0, 1, 1]: IoU_0 = 2/4, IoU_1 = 0/2 → mIoU 1/4.
        var m = try SegmentationMetrics(classes: 2)
        try m.update(prediction: [0, 0, 1, 1] as [UInt8], target: [0, 0, 0, 0] as [UInt8])
        #expect(m.perClassIoU == [0.5, 0])
        #expect(m.meanIoU == 0.25 && m.pixelAccuracy == 0.5)
    }

    @Test func ignoredPixelsAreNotCounted() throws {
        // target [0, 255, 1, 1], prediction [0, 0, 1, 0], pixel 1 ignored:
        // class 0: TP 1, FP 1 → 1/2; class 1: TP 1, FN 1 → 1/2; accuracy 2/3.
        var m = try SegmentationMetrics(classes: 2, ignoreLabel: 255)
        try m.update(prediction: [0, 0, 1, 0] as [Int32], target: [0, 255, 1, 1] as [UInt8])
        #expect(m.pixelCount == 3)
        #expect(m.perClassIoU == [0.5, 0.5])
        #expect(abs(m.pixelAccuracy - 2.0 / 3) < 1e-12)
        // The prediction at an ignored pixel is not checked either.
        try m.update(prediction: [7] as [Int32], target: [255] as [UInt8])
        #expect(m.pixelCount == 3)
    }

    @Test func accumulatesMergesAndResets() throws {
        var a = try SegmentationMetrics(classes: 3)
        try a.update(prediction: Self.prediction, target: Self.target)
        try a.update(prediction: Self.prediction, target: Self.target)
        var b = try SegmentationMetrics(classes: 3)
        try b.update(prediction: Self.prediction, target: Self.target)
        let copy = b
        try b.merge(copy)
        #expect(a == b)
        #expect(abs(a.meanIoU - 0.5) < 1e-12 && a.pixelCount == 12)
        #expect(throws: MetricError.self) { try a.merge(SegmentationMetrics(classes: 4)) }
        a.reset()
        #expect(a.pixelCount == 0 && a.meanIoU == 0 && a.pixelAccuracy == 0)
    }

    @Test func badInputsThrowWithoutCounting() throws {
        var m = try SegmentationMetrics(classes: 3)
        #expect(throws: MetricError.labelOutOfRange(what: "target", index: 2, label: 3, classes: 3)) {
            try m.update(prediction: [0, 0, 0] as [UInt8], target: [0, 1, 3] as [UInt8])
        }
        #expect(throws: MetricError.labelOutOfRange(what: "prediction", index: 0, label: -1, classes: 3)) {
            try m.update(prediction: [-1] as [Int32], target: [0] as [Int32])
        }
        #expect(throws: MetricError.countMismatch(what: "prediction map", expected: 2, got: 1)) {
            try m.update(prediction: [0] as [Int32], target: [0, 0] as [Int32])
        }
        #expect(m.pixelCount == 0)
        #expect(throws: MetricError.self) { try SegmentationMetrics(classes: 0) }
    }
}
