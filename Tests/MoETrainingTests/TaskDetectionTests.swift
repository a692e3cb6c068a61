import Foundation
import MoEData
import MoETasks
import MoETensor
import MoETestSupport
import MoETraining
import Testing

private func box(_ x0: Float, _ y0: Float, _ x1: Float, _ y1: Float, _ label: Int32) -> Box {
    Box(x0: x0, y0: y0, x1: x1, y1: y1, label: label)
}

/// Outputs that a perfect model would produce for `boxes`: logit `large` on each cell's
/// target class (background elsewhere), 0 on the other classes, and the exact box targets.
private func idealOutputs(boxes: [[Box]], geometry g: TaskGeometry, large: Float = 20) throws -> Tensor {
    let a = try DetectionTask.assign(boxes: boxes, geometry: g)
    let k = g.classes + 1
    var outputs = Tensor(shape: [boxes.count, g.cells, k + 4])
    for r in 0..<(boxes.count * g.cells) {
        outputs[r * (k + 4) + Int(a.classTargets[r])] = large
        for q in 0..<4 { outputs[r * (k + 4) + k + q] = a.boxTargets[r * 4 + q] }
    }
    return outputs
}

@Suite struct TaskDetectionTests {
    /// C = 3, 3×3 grid of 8-pixel cells.
    static let tiny = TaskGeometry(classes: 3, imageHeight: 24, imageWidth: 24, patchSize: 8)

    @Test func boxIsAssignedToTheCellOfItsCentreAndNeighboursInsideIt() throws {
        // Image 0: centre (17, 7) → cell (i 0, j 2) = 2; of its 3×3 neighbours only cell
        // (0, 1), centre (12, 4), lies strictly inside the box. Image 1: centre (8, 12) lies on
        // the borders x = 8 and y = 12 → cell (1, 1) = 4 (half-open cells); no neighbour's
        // centre is strictly inside (x = 4 and x = 12 are on the box's edges).
        let boxes = [[box(11, 2, 23, 12, 2)], [box(4, 4, 12, 20, 0)]]
        let a = try DetectionTask.assign(boxes: boxes, geometry: Self.tiny)
        #expect(a.positives == 3)
        var classes = [Int32](repeating: 0, count: 18)
        classes[1] = 3
        classes[2] = 3
        classes[9 + 4] = 1
        #expect(a.classTargets == classes)
        #expect(a.assignedBox.enumerated().allSatisfy { $1 == ([1, 2, 13].contains($0) ? 0 : -1) })
        let expected: [(Int, [Float])] = [
            (1, [17.0 / 8 - 1.5, 7.0 / 8 - 0.5, 0.405_465_1, 0.223_143_55]),  // 0.625, 0.375, log 1.5, log 1.25
            (2, [17.0 / 8 - 2.5, 7.0 / 8 - 0.5, 0.405_465_1, 0.223_143_55]),  // −0.375, 0.375, log 1.5, log 1.25
            (13, [-0.5, 0, 0, 0.693_147_2]),  // 8/8 − 1.5, 12/8 − 1.5, log 1, log 2
        ]
        for (row, targets) in expected {
            for q in 0..<4 { #expect(abs(a.boxTargets[row * 4 + q] - targets[q]) < 1e-6, "row \(row) q \(q)") }
        }
        let others = (0..<18).filter { ![1, 2, 13].contains($0) }.flatMap { r in
            (0..<4).map { a.boxTargets[r * 4 + $0] }
        }
        #expect(others.allSatisfy { $0 == 0 })
    }

    @Test func smallerBoxWinsASharedCell() throws {
        let big = box(0, 0, 16, 16, 0)  // centre (8, 8), area 256: cells 0, 1, 3, 4
        let small = box(6, 6, 10, 12, 1)  // centre (8, 9), area 24: cell 4 only
        for (list, smallIndex) in [([big, small], 1), ([small, big], 0)] {
            let a = try DetectionTask.assign(boxes: [list], geometry: Self.tiny)
            #expect(a.positives == 4)
            #expect([0, 1, 3].allSatisfy { a.classTargets[$0] == 1 })
            #expect(a.classTargets[4] == 2)
            #expect(a.assignedBox[4] == Int32(smallIndex))
            #expect(abs(a.boxTargets[4 * 4 + 1] - (9.0 / 8 - 1.5)) < 1e-6)
            #expect(abs(a.boxTargets[4 * 4 + 2] - log(4.0 / 8)) < 1e-6)
        }
    }

    @Test(arguments: [Float(1), 2.5])
    func gradientMatchesFiniteDifferences(boxWeight: Float) throws {
        let g = Self.tiny
        let k = g.classes + 1
        // Image 0: two objects; image 1: no object at all.
        let boxes = [[box(11, 2, 23, 12, 2), box(1, 9, 9, 22, 0)], []]
        let a = try DetectionTask.assign(boxes: boxes, geometry: g)
        #expect(a.positives == 4)  // cells 1, 2 (first box) and 3, 6 (second)
        var values = randomTensorValues(count: 2 * g.cells * (k + 4), seed: 61, scale: 2)
        // Positive cells' box outputs at target + offset: both smooth-L1 branches, ≥ 4h from
        // the kink at β = 1/9 (central differences are exact on each branch).
        let offsets: [Float] = [
            0.05, -0.06, 0.3, -0.8, -0.04, 0.5, -0.25, 0.02,
            0.4, -0.05, 0.06, -0.3, 0.9, -0.6, 0.05, 0.2,
        ]
        var used = 0
        for r in 0..<(2 * g.cells) where a.classTargets[r] > 0 {
            for q in 0..<4 {
                values[r * (k + 4) + k + q] = a.boxTargets[r * 4 + q] + offsets[used]
                used += 1
            }
        }
        let shape = [2, g.cells, k + 4]
        let result = try DetectionTask.loss(
            outputs: Tensor(shape: shape, storage: values), boxes: boxes, geometry: g, boxWeight: boxWeight)
        let numeric = numericalGradient(at: values) { v in
            Double(
                try! DetectionTask.loss(
                    outputs: Tensor(shape: shape, storage: v), boxes: boxes, geometry: g, boxWeight: boxWeight
                ).loss)
        }
        expectClose(result.gradient.storage, numeric, tolerance: 2e-2, floor: 1e-3)

        // The parts by hand: box = Σ smoothL1(offset) / 4 positives.
        let beta: Float = 1.0 / 9
        let box = offsets.map { abs($0) < beta ? 0.5 * $0 * $0 / beta : abs($0) - 0.5 * beta }.reduce(0, +) / 4
        #expect(abs(result.parts["box"]! - box) < 1e-5)
        #expect(abs(result.loss - (result.parts["cls"]! + boxWeight * box)) < 1e-5)
        // Box outputs of background cells get no gradient.
        for r in 0..<(2 * g.cells) where a.classTargets[r] == 0 {
            #expect((0..<4).allSatisfy { result.gradient[r * (k + 4) + k + $0] == 0 })
        }
    }

    @Test func decodeOfIdealOutputsReturnsTheGroundTruth() throws {
        let g = TaskGeometry(classes: 10, imageHeight: 48, imageWidth: 48, patchSize: 8)
        let truth: [[Box]] = [
            [box(2, 3, 15, 20, 4), box(30, 5, 46, 17, 1), box(20, 28, 44, 47, 4)],
            [box(0, 0, 48, 48, 9), box(5, 5, 9, 9, 9), box(33, 1, 40, 14, 0)],
            [],
        ]
        let outputs = try idealOutputs(boxes: truth, geometry: g)
        let detections = DetectionTask.decode(outputs: outputs, geometry: g)
        #expect(detections.count == 3)
        for (image, list) in truth.enumerated() {
            #expect(detections[image].count == list.count, "image \(image): \(detections[image])")
            for gt in list {
                let match = detections[image].first {
                    $0.label == gt.label && abs($0.box.x0 - gt.x0) < 1e-3 && abs($0.box.y0 - gt.y0) < 1e-3
                        && abs($0.box.x1 - gt.x1) < 1e-3 && abs($0.box.y1 - gt.y1) < 1e-3
                }
                #expect(match != nil, "no detection for \(gt) in \(detections[image])")
                #expect((match?.score ?? 0) > 0.99)
            }
        }
        let scores = try DetectionMetrics.averagePrecision(groundTruth: truth, detections: detections)
        #expect(scores.mAP == 1)
        // And the loss of ideal outputs is ≈ 0.
        let loss = try DetectionTask.loss(outputs: outputs, boxes: truth, geometry: g)
        #expect(loss.loss < 1e-6 && loss.parts["box"]! < 1e-6, "\(loss.parts)")
    }

    @Test func decodeThresholdsClipsSuppressesAndLimits() throws {
        let g = Self.tiny
        let k = g.classes + 1
        var outputs = Tensor(shape: [1, g.cells, k + 4])
        func set(cell: Int, logits: [Float], box: [Float]) {
            for c in 0..<k { outputs[cell * (k + 4) + c] = logits[c] }
            for q in 0..<4 { outputs[cell * (k + 4) + k + q] = box[q] }
        }
        for cell in 0..<g.cells { set(cell: cell, logits: [10, 0, 0, 0], box: [0, 0, 0, 0]) }
        // Cell 0 predicts a box of 8·e² ≈ 59 pixels centred at (4, 4): clipped to the image.
        set(cell: 0, logits: [0, 6, 0, 0], box: [0, 0, 2, 2])
        // Cells 4 and 5 predict the same class-1 box (IoU 1): NMS keeps the higher score.
        set(cell: 4, logits: [0, 0, 5, 0], box: [0.5, 0, 0, 0])
        set(cell: 5, logits: [0, 0, 4, 0], box: [-0.5, 0, 0, 0])
        // Cell 8: class 2 at softmax e^0.5 / (3 + e^0.5) ≈ 0.355 — below a 0.4 threshold.
        set(cell: 8, logits: [0, 0, 0, 0.5], box: [0, 0, 0, 0])
        let all = DetectionTask.decode(outputs: outputs, geometry: g, scoreThreshold: 0.4)[0]
        #expect(all.count == 2, "\(all)")
        #expect(all.map(\.label) == [0, 1])  // highest score first
        #expect(all[0].box == box(0, 0, 24, 24, 0))
        #expect(all[1].box == box(12, 8, 20, 16, 1))  // cx = (1 + 0.5 + 0.5)·8 = 16, w = h = 8
        #expect(abs(all[1].score - Float(exp(5.0) / (exp(5.0) + 3))) < 1e-5)
        #expect(
            DetectionTask.decode(outputs: outputs, geometry: g, scoreThreshold: 0.4, maxDetections: 1)[0] == [all[0]])
        #expect(DetectionTask.decode(outputs: outputs, geometry: g, scoreThreshold: 0.3)[0].count == 3)
    }

    @Test func shapeAndBoxErrors() {
        let g = Self.tiny
        let boxes: [[Box]] = [[box(1, 1, 5, 5, 0)], []]
        do {
            _ = try DetectionTask.loss(outputs: Tensor(shape: [2, 9, 7]), boxes: boxes, geometry: g)
            Issue.record("no error for 7 output channels")
        } catch {
            #expect("\(error)".contains("[2, 9, 8]") && "\(error)".contains("[2, 9, 7]"), "\(error)")
        }
        do {
            _ = try DetectionTask.loss(outputs: Tensor(shape: [2, 9, 8]), boxes: boxes + [[]], geometry: g)
            Issue.record("no error for 3 box lists and a batch of 2")
        } catch {
            #expect("\(error)".contains("[3, 9, 8]") && "\(error)".contains("[2, 9, 8]"), "\(error)")
        }
        #expect(throws: TaskError.labelOutOfRange(what: "detection boxes of image 1", index: 0, label: 3, valid: 0...2))
        {
            try DetectionTask.loss(outputs: Tensor(shape: [2, 9, 8]), boxes: [[], [box(1, 1, 5, 5, 3)]], geometry: g)
        }
        #expect(throws: TaskError.invalidBox(image: 0, index: 1, box: "(4.0, 1.0, 4.0, 5.0)")) {
            try DetectionTask.loss(
                outputs: Tensor(shape: [2, 9, 8]), boxes: [[box(1, 1, 5, 5, 0), box(4, 1, 4, 5, 0)], []], geometry: g)
        }
    }
}
