import Foundation
import MoETasks
import MoETensor
import MoETestSupport
import MoETraining
import Testing

/// Random segmentation masks in `-1...classes` with about `ignoreFraction` of pixels −1.
private func randomMasks(count: Int, classes: Int, seed: UInt64, ignoreFraction: Float = 0.15) -> [Int32] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in g.uniform() < ignoreFraction ? -1 : Int32(g.index(below: classes + 1)) }
}

/// Independent Double reference: align_corners=false bilinear upsampling of the cell logits
/// (channel-last cells), then mean CE over non-ignored pixels.
private func naiveLoss(logits: [Float], masks: [Int32], geometry g: TaskGeometry, batch: Int) -> Double {
    let k = g.classes + 1
    func taps(_ o: Int, _ inSize: Int, _ outSize: Int) -> (Int, Int, Double) {
        let src = max(0, (Double(o) + 0.5) * Double(inSize) / Double(outSize) - 0.5)
        let i0 = min(Int(src), inSize - 1)
        return (i0, min(i0 + 1, inSize - 1), src - Double(i0))
    }
    var sum = 0.0
    var n = 0
    for b in 0..<batch {
        for y in 0..<g.imageHeight {
            for x in 0..<g.imageWidth {
                let t = masks[(b * g.imageHeight + y) * g.imageWidth + x]
                if t < 0 { continue }
                let (y0, y1, ly) = taps(y, g.gridHeight, g.imageHeight)
                let (x0, x1, lx) = taps(x, g.gridWidth, g.imageWidth)
                func z(_ i: Int, _ j: Int, _ c: Int) -> Double {
                    Double(logits[(b * g.cells + i * g.gridWidth + j) * k + c])
                }
                let u = (0..<k).map { c in
                    (1 - ly) * ((1 - lx) * z(y0, x0, c) + lx * z(y0, x1, c))
                        + ly * ((1 - lx) * z(y1, x0, c) + lx * z(y1, x1, c))
                }
                let m = u.max()!
                sum += m + log(u.map { exp($0 - m) }.reduce(0, +)) - u[Int(t)]
                n += 1
            }
        }
    }
    return n > 0 ? sum / Double(n) : 0
}

@Suite struct TaskSegmentationTests {
    /// B = 2, C = 3, 3×3 grid of 4-pixel patches; and a non-square 2×3 grid.
    static let geometries = [
        TaskGeometry(classes: 3, imageHeight: 12, imageWidth: 12, patchSize: 4),
        TaskGeometry(classes: 3, imageHeight: 8, imageWidth: 12, patchSize: 4),
    ]

    @Test(arguments: 0..<2)
    func gradientMatchesFiniteDifferences(geometryIndex: Int) throws {
        let g = Self.geometries[geometryIndex]
        let shape = [2, g.cells, g.classes + 1]
        let values = randomTensorValues(count: shape.reduce(1, *), seed: 21 + UInt64(geometryIndex), scale: 2)
        var masks = randomMasks(count: 2 * g.pixels, classes: g.classes, seed: 31)
        for p in 0..<g.imageWidth { masks[p] = -1 }  // an ignored row at least
        let result = try SegmentationTask.loss(logits: Tensor(shape: shape, storage: values), masks: masks, geometry: g)
        #expect(result.gradient.shape == shape)
        let numeric = numericalGradient(at: values) { v in
            Double(try! SegmentationTask.loss(logits: Tensor(shape: shape, storage: v), masks: masks, geometry: g).loss)
        }
        // Gradients are ~1e-2 (1/N per pixel); float32 loss rounding ~1e-7/2h = 5e-6 absolute.
        expectClose(result.gradient.storage, numeric, tolerance: 2e-2, floor: 1e-3)
        // The function itself, against an independent Double upsample + CE.
        let naive = naiveLoss(logits: values, masks: masks, geometry: g, batch: 2)
        #expect(abs(Double(result.loss) - naive) <= 1e-5 * naive, "loss \(result.loss) vs naive \(naive)")
    }

    @Test func spatiallyConstantLogitsPredictTheCellArgmaxEverywhere() {
        let g = Self.geometries[0]
        let k = g.classes + 1
        // Image 0: the same random vector in every cell. Image 1: random cells, but class 2's
        // channel dominates in every cell (a convex combination keeps it the largest).
        let v = randomTensorValues(count: k, seed: 41, scale: 3)
        var logits = [Float]()
        for _ in 0..<g.cells { logits += v }
        var noise = randomTensorValues(count: g.cells * k, seed: 42, scale: 3)
        for cell in 0..<g.cells { noise[cell * k + 2] = 4 + abs(noise[cell * k + 2]) }
        logits += noise
        let prediction = SegmentationTask.predict(
            logits: Tensor(shape: [2, g.cells, k], storage: logits), geometry: g)
        let argmax = Int32(v.indices.max { v[$0] < v[$1] }!)
        #expect(prediction.count == 2 * g.pixels)
        #expect(prediction[0..<g.pixels].allSatisfy { $0 == argmax })
        #expect(prediction[g.pixels...].allSatisfy { $0 == 2 })
    }

    @Test func perfectLargeLogitsGiveZeroLossAndExactPrediction() throws {
        // Image 0: class depends on the cell row (horizontal stripes); image 1 on the column.
        // Between two cells of different classes the upsampled margin is ≥ 0.25·L.
        let g = TaskGeometry(classes: 3, imageHeight: 16, imageWidth: 12, patchSize: 4)
        let k = g.classes + 1
        let stripe: [Int32] = [2, 0, 3, 1]
        let large: Float = 200
        var logits = [Float](repeating: -large, count: 2 * g.cells * k)
        var masks = [Int32](repeating: 0, count: 2 * g.pixels)
        for b in 0..<2 {
            for i in 0..<g.gridHeight {
                for j in 0..<g.gridWidth {
                    let label = Int(stripe[b == 0 ? i : j])
                    logits[(b * g.cells + i * g.gridWidth + j) * k + label] = large
                }
            }
            for y in 0..<g.imageHeight {
                for x in 0..<g.imageWidth {
                    masks[(b * g.imageHeight + y) * g.imageWidth + x] = stripe[b == 0 ? y / 4 : x / 4]
                }
            }
        }
        let tensor = Tensor(shape: [2, g.cells, k], storage: logits)
        let result = try SegmentationTask.loss(logits: tensor, masks: masks, geometry: g)
        #expect(result.loss >= 0 && result.loss < 1e-6, "loss \(result.loss)")
        #expect(result.gradient.storage.allSatisfy { abs($0) < 1e-6 })
        #expect(SegmentationTask.predict(logits: tensor, geometry: g) == masks)
        // Sanity: the same logits against shifted labels are far from zero loss.
        let wrong = masks.map { ($0 + 1) % Int32(k) }
        #expect(try SegmentationTask.loss(logits: tensor, masks: wrong, geometry: g).loss > 10)
    }

    @Test func ignoredPixelsDoNotContribute() throws {
        let g = Self.geometries[0]
        let k = g.classes + 1
        let values = randomTensorValues(count: 2 * g.cells * k, seed: 51, scale: 2)
        let masks0 = randomMasks(count: g.pixels, classes: g.classes, seed: 52, ignoreFraction: 0.3)
        // Image 1 entirely ignored: whatever its logits, the result is image 0's alone.
        let ignored = [Int32](repeating: -1, count: g.pixels)
        let single = try SegmentationTask.loss(
            logits: Tensor(shape: [1, g.cells, k], storage: Array(values[0..<(g.cells * k)])),
            masks: masks0, geometry: g)
        for seed: UInt64 in [53, 54] {
            var v = values
            let other = randomTensorValues(count: g.cells * k, seed: seed, scale: 5)
            v.replaceSubrange((g.cells * k)..., with: other)
            let both = try SegmentationTask.loss(
                logits: Tensor(shape: [2, g.cells, k], storage: v), masks: masks0 + ignored, geometry: g)
            #expect(abs(both.loss - single.loss) <= 1e-6 * single.loss, "\(both.loss) vs \(single.loss)")
            expectClose(
                Array(both.gradient.storage[0..<(g.cells * k)]), single.gradient.storage, tolerance: 1e-5, floor: 1e-6)
            #expect(both.gradient.storage[(g.cells * k)...].allSatisfy { $0 == 0 })
        }
        // A batch with every pixel ignored: loss 0, zero gradient.
        let none = try SegmentationTask.loss(
            logits: Tensor(shape: [1, g.cells, k], storage: Array(values[0..<(g.cells * k)])), masks: ignored,
            geometry: g)
        #expect(none.loss == 0 && none.gradient.storage.allSatisfy { $0 == 0 })
    }

    @Test func shapeAndLabelErrors() {
        let g = Self.geometries[0]
        let masks = [Int32](repeating: 0, count: 2 * g.pixels)
        do {
            _ = try SegmentationTask.loss(logits: Tensor(shape: [2, 9, 5]), masks: masks, geometry: g)
            Issue.record("no error for 5 channels")
        } catch {
            #expect("\(error)".contains("[2, 9, 4]") && "\(error)".contains("[2, 9, 5]"), "\(error)")
        }
        do {
            _ = try SegmentationTask.loss(
                logits: Tensor(shape: [2, 9, 4]), masks: Array(masks.dropLast()), geometry: g)
            Issue.record("no error for a short mask")
        } catch {
            #expect(
                error as? TaskError == .shapeMismatch(what: "segmentation masks (B·H·W)", expected: [288], found: [287])
            )
        }
        for bad: Int32 in [4, -2] {
            var m = masks
            m[17] = bad
            #expect(
                throws: TaskError.labelOutOfRange(what: "segmentation masks", index: 17, label: Int(bad), valid: -1...3)
            ) {
                try SegmentationTask.loss(logits: Tensor(shape: [2, 9, 4]), masks: m, geometry: g)
            }
        }
        let odd = TaskGeometry(classes: 3, imageHeight: 13, imageWidth: 12, patchSize: 4)
        #expect(throws: TaskError.self) {
            try SegmentationTask.loss(
                logits: Tensor(shape: [1, 9, 4]), masks: [Int32](repeating: 0, count: 156), geometry: odd)
        }
    }
}
