import MoEData
import MoETasks
import MoETraining
import Testing

/// A box of class `label` from pixel corners.
private func box(_ x0: Float, _ y0: Float, _ x1: Float, _ y1: Float, _ label: Int32 = 0) -> Box {
    Box(x0: x0, y0: y0, x1: x1, y1: y1, label: label)
}

private func det(_ b: Box, _ score: Float) -> Detection { Detection(box: b, score: score) }

@Suite struct MetricDetectionTests {
    static let iouCases: [(Box, Box, Float)] = [
        (box(0, 0, 4, 4), box(0, 0, 4, 4), 1),  // identical
        (box(0, 0, 2, 2), box(5, 5, 7, 7), 0),  // disjoint
        (box(0, 0, 2, 2), box(2, 0, 4, 2), 0),  // touching edges share no area
        (box(0, 0, 2, 1), box(1, 0, 3, 1), 1.0 / 3),  // half overlap: I = 1, U = 2 + 2 − 1 = 3
        (box(0, 0, 4, 4), box(1, 1, 3, 3), 0.25),  // contained: 4 / 16
        (box(0, 0, 10, 10), box(5, 0, 15, 10), 50.0 / 150),  // I = 5·10, U = 100 + 100 − 50
        (box(0, 0, 0, 5), box(0, 0, 0, 5), 0),  // empty boxes
    ]

    @Test("IoU of known boxes", arguments: iouCases.indices)
    func iou(case index: Int) {
        let (a, b, expected) = Self.iouCases[index]
        #expect(abs(DetectionMetrics.iou(a, b) - expected) < 1e-6)
        #expect(abs(DetectionMetrics.iou(b, a) - expected) < 1e-6)
    }

    @Test func perfectDetectionsScoreOne() throws {
        let truth = [[box(0, 0, 10, 10, 0), box(20, 20, 30, 28, 1)], [box(5, 5, 9, 9, 0)], []]
        let detections = truth.map { $0.enumerated().map { det($1, 0.5 + Float($0) * 0.1) } }
        let scores = try DetectionMetrics.averagePrecision(groundTruth: truth, detections: detections)
        #expect(scores.perClass == [0: 1, 1: 1])
        #expect(scores.mAP == 1)
        #expect(scores.groundTruthCount == [0: 2, 1: 1])
    }

    @Test func falsePositiveRankedFirst() throws {
        // One object; ranked: FP (0.9), TP (0.8).
        //   recall    = [0, 1],   precision = [0, 1/2]
        //   with sentinels r = [0, 0, 1, 1], p = [0, 0, 1/2, 0] → envelope p = [1/2, 1/2, 1/2, 0]
        //   AP = (0 − 0)·p1 + (1 − 0)·p2 + (1 − 1)·p3 = 1/2
        let truth = [[box(0, 0, 10, 10)]]
        let detections = [[det(box(50, 50, 60, 60), 0.9), det(box(1, 0, 10, 10), 0.8)]]
        let scores = try DetectionMetrics.averagePrecision(groundTruth: truth, detections: detections)
        #expect(abs(scores.perClass[0]! - 0.5) < 1e-12)
        #expect(abs(scores.mAP - 0.5) < 1e-12)
    }

    @Test func envelopeOverAFalsePositiveInTheMiddle() throws {
        // Two objects in two images; ranked TP (0.9), FP (0.8, IoU < 0.5), TP (0.7).
        //   recall = [1/2, 1/2, 1], precision = [1, 1/2, 2/3]
        //   envelope: precision at recall 1/2 → max(1, 1/2, 2/3) = 1, at recall 1 → 2/3
        //   AP = 1/2 · 1 + 1/2 · 2/3 = 5/6
        let truth = [[box(0, 0, 10, 10)], [box(0, 0, 10, 10)]]
        let detections = [
            [det(box(0, 0, 10, 10), 0.9)],
            [det(box(0, 0, 10, 4), 0.8), det(box(0, 0, 10, 9), 0.7)],  // IoU 0.4, then 0.9
        ]
        let scores = try DetectionMetrics.averagePrecision(groundTruth: truth, detections: detections)
        #expect(abs(scores.perClass[0]! - 5.0 / 6) < 1e-12)
    }

    @Test func missedObject() throws {
        // Two objects, one found: recall = [1/2], precision = [1] → AP = 1/2 · 1 = 1/2.
        let truth = [[box(0, 0, 10, 10), box(20, 0, 30, 10)]]
        let detections = [[det(box(0, 0, 10, 10), 0.6)]]
        let scores = try DetectionMetrics.averagePrecision(groundTruth: truth, detections: detections)
        #expect(abs(scores.perClass[0]! - 0.5) < 1e-12)
        // A class with ground truth but no detections at all scores 0.
        let none = try DetectionMetrics.averagePrecision(groundTruth: truth, detections: [[]])
        #expect(none.perClass == [0: 0] && none.mAP == 0)
    }

    @Test func duplicateDetectionIsAFalsePositive() throws {
        // Objects A and B; ranked A (0.9), A again (0.8), B (0.7): TP, FP, TP, so as above
        // recall = [1/2, 1/2, 1], precision = [1, 1/2, 2/3] and AP = 5/6. Without the
        // duplicate AP would be 1.
        let a = box(0, 0, 10, 10)
        let b = box(30, 30, 40, 40)
        let truth = [[a, b]]
        let withDuplicate = [[det(a, 0.9), det(box(0, 0, 10, 9), 0.8), det(b, 0.7)]]
        let scores = try DetectionMetrics.averagePrecision(groundTruth: truth, detections: withDuplicate)
        #expect(abs(scores.perClass[0]! - 5.0 / 6) < 1e-12)
        let clean = try DetectionMetrics.averagePrecision(groundTruth: truth, detections: [[det(a, 0.9), det(b, 0.7)]])
        #expect(clean.perClass[0] == 1)
        // A duplicate ranked after every true positive leaves AP at 1: recall is already 1.
        let late = [[det(a, 0.9), det(b, 0.7), det(a, 0.1)]]
        #expect(try DetectionMetrics.averagePrecision(groundTruth: truth, detections: late).perClass[0] == 1)
    }

    @Test func meanOverClassesWithGroundTruth() throws {
        // Class 0: AP 1. Class 1: FP first then TP → AP 1/2 (see falsePositiveRankedFirst).
        // Class 2 has only a detection (no ground truth) and is not scored. mAP = 3/4.
        let truth = [[box(0, 0, 10, 10, 0)], [box(0, 0, 10, 10, 1)]]
        let detections = [
            [det(box(0, 0, 10, 10, 0), 0.9), det(box(0, 0, 10, 10, 1), 0.95), det(box(0, 0, 5, 5, 2), 0.99)],
            [det(box(0, 0, 10, 10, 1), 0.5)],
        ]
        let scores = try DetectionMetrics.averagePrecision(groundTruth: truth, detections: detections)
        #expect(scores.perClass.keys.sorted() == [0, 1])
        #expect(scores.perClass[0] == 1)
        #expect(abs(scores.perClass[1]! - 0.5) < 1e-12)
        #expect(abs(scores.mAP - 0.75) < 1e-12)
        // A detection of the right place but the wrong class is a false positive of its class.
        let wrongClass = [[det(box(0, 0, 10, 10, 1), 0.9)], [det(box(0, 0, 10, 10, 0), 0.9)]]
        let swapped = try DetectionMetrics.averagePrecision(groundTruth: truth, detections: wrongClass)
        #expect(swapped.perClass == [0: 0, 1: 0])
    }

    @Test func stricterThresholdRejectsLooseBoxes() throws {
        let truth = [[box(0, 0, 10, 10)]]
        let detections = [[det(box(0, 0, 10, 6), 0.9)]]  // IoU 0.6
        #expect(try DetectionMetrics.averagePrecision(groundTruth: truth, detections: detections).mAP == 1)
        #expect(
            try DetectionMetrics.averagePrecision(groundTruth: truth, detections: detections, iouThreshold: 0.75)
                .mAP == 0)
    }

    @Test func mismatchedInputsThrow() {
        #expect(throws: MetricError.countMismatch(what: "detections per image", expected: 2, got: 1)) {
            try DetectionMetrics.averagePrecision(groundTruth: [[], []], detections: [[]])
        }
        #expect(throws: MetricError.self) {
            try DetectionMetrics.averagePrecision(groundTruth: [[]], detections: [[]], iouThreshold: 0)
        }
    }

    @Test func allPointInterpolationByHand() {
        #expect(DetectionMetrics.averagePrecision(recall: [], precision: []) == 0)
        // r = [0.25, 0.5, 0.5, 0.75], p = [1, 1, 2/3, 3/4] → envelope [1, 1, 3/4, 3/4]:
        // AP = 0.25·1 + 0.25·1 + 0.25·3/4 = 0.6875.
        let ap = DetectionMetrics.averagePrecision(recall: [0.25, 0.5, 0.5, 0.75], precision: [1, 1, 2.0 / 3, 0.75])
        #expect(abs(ap - 0.6875) < 1e-12)
    }
}

@Suite struct MetricNMSTests {
    // Index: box, class, score.
    //   0: (0,0)-(10,10) c0 0.90    IoU(0,4) = 50/150 = 1/3
    //   1: (1,1)-(11,11) c0 0.80    IoU(1,0) = 81/119 ≈ 0.68, IoU(1,4) = 54/146 ≈ 0.37
    //   2: (20,20)-(30,30) c0 0.70  overlaps nothing
    //   3: (0,0)-(10,10) c1 0.85    same place as 0 but another class
    //   4: (5,0)-(15,10) c0 0.95
    static let boxes = [
        box(0, 0, 10, 10, 0), box(1, 1, 11, 11, 0), box(20, 20, 30, 30, 0), box(0, 0, 10, 10, 1),
        box(5, 0, 15, 10, 0),
    ]
    static let scores: [Float] = [0.9, 0.8, 0.7, 0.85, 0.95]

    @Test(
        "known suppressions",
        arguments: [
            (Float(0.5), [4, 0, 3, 2]),  // 1 is dropped by 0 (0.68)
            (Float(0.3), [4, 3, 2]),  // 0 dropped by 4 (1/3), 1 by 4 (0.37)
            (Float(0.7), [4, 0, 3, 1, 2]),  // nothing overlaps above 0.7
        ])
    func suppress(threshold: Float, expected: [Int]) throws {
        let kept = try nonMaximumSuppression(boxes: Self.boxes, scores: Self.scores, iouThreshold: threshold)
        #expect(kept == expected)
    }

    @Test func limitsTiesAndErrors() throws {
        #expect(
            try nonMaximumSuppression(boxes: Self.boxes, scores: Self.scores, iouThreshold: 0.5, maxKept: 2) == [4, 0])
        // Equal scores keep index order; NaN ranks last.
        let same = [box(0, 0, 1, 1), box(0, 0, 1, 1), box(5, 5, 6, 6)]
        #expect(try nonMaximumSuppression(boxes: same, scores: [0.5, 0.5, .nan], iouThreshold: 0.5) == [0, 2])
        #expect(throws: MetricError.self) { try nonMaximumSuppression(boxes: same, scores: [1], iouThreshold: 0.5) }
        let detections = zip(Self.boxes, Self.scores).map { det($0, $1) }
        #expect(nonMaximumSuppression(detections, iouThreshold: 0.5).map(\.score) == [0.95, 0.9, 0.85, 0.7])
        #expect(nonMaximumSuppression([], iouThreshold: 0.5).isEmpty)
    }
}
