import MoEData
import MoETensor

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Dense single-scale detection on the patch grid (CenterNet/FCOS-like, DESIGN §2).
///
/// Outputs `[B, gh·gw, (C+1) + 4]`: per cell, `C + 1` class logits (channel 0 background,
/// `c + 1` class `c`) followed by `(dx, dy, lw, lh)`, decoded for cell `(i, j)` as
///
///     cx = (j + 0.5 + dx) · P,   cy = (i + 0.5 + dy) · P,
///     w  = P · exp(lw),          h  = P · exp(lh),
///     box = [cx − w/2, cx + w/2) × [cy − h/2, cy + h/2)   (pixels, exclusive max)
public enum DetectionTask {
    /// The smooth-L1 transition point β of the box loss, in box-target units (cells for
    /// dx, dy; log-scale for lw, lh):
    ///
    ///     smoothL1(d) = 0.5 · d² / β   if |d| < β,   |d| − 0.5 · β   otherwise
    ///
    /// β = 1/9 as in Fast/Faster R-CNN.
    public static let smoothL1Beta: Float = 1.0 / 9

    /// Cell-level training targets of a batch (see `assign(boxes:geometry:)`).
    public struct Assignment: Sendable, Equatable {
        /// `[B · gh·gw]`: 0 background, `label + 1` for a positive cell.
        public var classTargets: [Int32]
        /// `[B · gh·gw · 4]`: `(dx, dy, lw, lh)` of the assigned box; 0 for background cells.
        public var boxTargets: [Float]
        /// `[B · gh·gw]`: index into that image's box list of the box the cell was assigned,
        /// −1 for background cells.
        public var assignedBox: [Int32]
        /// Number of positive cells in the batch.
        public var positives: Int
    }

    /// Target assignment with centre sampling (FCOS): a ground-truth box makes positive the
    /// cell containing its centre `(cx, cy) = ((x0 + x1)/2, (y0 + y1)/2)` — `j = ⌊cx / P⌋`,
    /// `i = ⌊cy / P⌋`, clamped to the grid (cells are half-open, so a centre on a border
    /// belongs to the right/lower cell) — and every other cell of the 3×3 block around it
    /// whose centre lies strictly inside the box. With one positive cell per object the
    /// class head learned to call every cell background (about 1 % of cells were positive,
    /// test mAP@0.5 under 1 %); objects here span 3–7 cells. When several boxes claim a
    /// cell, the box of smallest area wins (equal areas: the earlier box in the list).
    /// A positive cell `(i, j)` gets
    ///
    ///     class = label + 1
    ///     dx = cx/P − (j + 0.5),  dy = cy/P − (i + 0.5),  lw = log(w/P),  lh = log(h/P)
    ///
    /// and every other cell class 0 (background) with no box target.
    ///
    /// - Throws: `TaskError.invalidGeometry`; `TaskError.labelOutOfRange` for a box label
    ///   outside `0..<C`; `TaskError.invalidBox` for a box with non-finite coordinates or
    ///   zero width or height.
    public static func assign(boxes: [[Box]], geometry: TaskGeometry) throws -> Assignment {
        try geometry.validate()
        let cells = geometry.cells
        let gw = geometry.gridWidth
        let gh = geometry.gridHeight
        let p = Float(geometry.patchSize)
        var assignment = Assignment(
            classTargets: [Int32](repeating: 0, count: boxes.count * cells),
            boxTargets: [Float](repeating: 0, count: boxes.count * cells * 4),
            assignedBox: [Int32](repeating: -1, count: boxes.count * cells),
            positives: 0)
        var areas = [Float](repeating: 0, count: cells)
        for (b, list) in boxes.enumerated() {
            for (k, box) in list.enumerated() {
                guard box.label >= 0, Int(box.label) < geometry.classes else {
                    throw TaskError.labelOutOfRange(
                        what: "detection boxes of image \(b)", index: k, label: Int(box.label),
                        valid: 0...(geometry.classes - 1))
                }
                guard box.x0.isFinite, box.y0.isFinite, box.x1.isFinite, box.y1.isFinite,
                    box.x1 > box.x0, box.y1 > box.y0
                else {
                    throw TaskError.invalidBox(
                        image: b, index: k, box: "(\(box.x0), \(box.y0), \(box.x1), \(box.y1))")
                }
                let cx = (box.x0 + box.x1) / 2
                let cy = (box.y0 + box.y1) / 2
                let j0 = Int(min(max((cx / p).rounded(.down), 0), Float(gw - 1)))
                let i0 = Int(min(max((cy / p).rounded(.down), 0), Float(gh - 1)))
                let area = (box.x1 - box.x0) * (box.y1 - box.y0)
                for i in max(i0 - 1, 0)...min(i0 + 1, gh - 1) {
                    for j in max(j0 - 1, 0)...min(j0 + 1, gw - 1) {
                        let (xc, yc) = ((Float(j) + 0.5) * p, (Float(i) + 0.5) * p)
                        let inside = xc > box.x0 && xc < box.x1 && yc > box.y0 && yc < box.y1
                        guard (i == i0 && j == j0) || inside else { continue }
                        let cell = i * gw + j
                        let row = b * cells + cell
                        if assignment.assignedBox[row] >= 0 {
                            guard area < areas[cell] else { continue }
                        } else {
                            assignment.positives += 1
                        }
                        areas[cell] = area
                        assignment.assignedBox[row] = Int32(k)
                        assignment.classTargets[row] = box.label + 1
                        assignment.boxTargets[row * 4 + 0] = cx / p - (Float(j) + 0.5)
                        assignment.boxTargets[row * 4 + 1] = cy / p - (Float(i) + 0.5)
                        assignment.boxTargets[row * 4 + 2] = logf((box.x1 - box.x0) / p)
                        assignment.boxTargets[row * 4 + 3] = logf((box.y1 - box.y0) / p)
                    }
                }
            }
        }
        return assignment
    }

    /// Classification plus box-regression loss with the targets of `assign(boxes:geometry:)`:
    ///
    ///     cls = (1 / (B·gh·gw)) Σ_{all cells} CE(softmax(class logits), class target)
    ///     box = (1 / max(1, #positives)) Σ_{positive cells} Σ_{q ∈ dx,dy,lw,lh} smoothL1(out_q − target_q)
    ///     L   = cls + boxWeight · box
    ///
    /// with `smoothL1` of `smoothL1Beta` (β = 1/9). Box outputs of background cells get no
    /// gradient. `parts` holds `"cls"` and the unweighted `"box"`.
    ///
    /// - Parameters:
    ///   - outputs: `[B, gh·gw, C+1+4]`.
    ///   - boxes: ground truth of each of the `B` images.
    /// - Throws: `TaskError.shapeMismatch` when `outputs` is not `[boxes.count, gh·gw, C+5]`,
    ///   and the errors of `assign(boxes:geometry:)`.
    public static func loss(
        outputs: Tensor, boxes: [[Box]], geometry: TaskGeometry, boxWeight: Float = 1
    ) throws -> TaskLossResult {
        try geometry.validate()
        let classes = geometry.classes + 1
        let stride = classes + 4
        let cells = geometry.cells
        let expected = [boxes.count, cells, stride]
        guard outputs.shape == expected else {
            throw TaskError.shapeMismatch(
                what: "detection outputs [B, gh·gw, C+1+4] (B = images with boxes)", expected: expected,
                found: outputs.shape)
        }
        let assignment = try assign(boxes: boxes, geometry: geometry)
        let rows = boxes.count * cells
        var gradient = Tensor(shape: outputs.shape)
        guard rows > 0 else { return TaskLossResult(loss: 0, gradient: gradient, parts: ["cls": 0, "box": 0]) }

        // Class logits gathered into contiguous rows for the cross-entropy kernel.
        var logits = uninitializedFloats(rows * classes)
        var probs = uninitializedFloats(rows * classes)
        var losses = uninitializedFloats(rows)
        var dlogits = [Float](repeating: 0, count: rows * classes)
        let beta = smoothL1Beta
        let positives = Float(max(1, assignment.positives))
        var clsSum = 0.0
        var boxSum = 0.0
        outputs.withUnsafePointer { out in
            gradient.withUnsafeMutablePointer { grad in
                logits.withUnsafeMutableBufferPointer { zBuf in
                    let z = zBuf.baseAddress!
                    for r in 0..<rows {
                        for k in 0..<classes { z[r * classes + k] = out[r * stride + k] }
                    }
                    assignment.classTargets.withUnsafeBufferPointer { t in
                        probs.withUnsafeMutableBufferPointer { p in
                            losses.withUnsafeMutableBufferPointer { l in
                                crossEntropyForward(
                                    losses: l.baseAddress!, probs: p.baseAddress!, logits: z,
                                    targets: t.baseAddress!, rows: rows, classes: classes)
                                for r in 0..<rows { clsSum += Double(l[r]) }
                            }
                            dlogits.withUnsafeMutableBufferPointer { d in
                                crossEntropyBackward(
                                    dlogits: d.baseAddress!, probs: p.baseAddress!, targets: t.baseAddress!,
                                    scale: 1 / Float(rows), rows: rows, classes: classes)
                                for r in 0..<rows {
                                    for k in 0..<classes { grad[r * stride + k] = d[r * classes + k] }
                                }
                            }
                        }
                    }
                }
                for r in 0..<rows where assignment.classTargets[r] > 0 {
                    for q in 0..<4 {
                        let d = out[r * stride + classes + q] - assignment.boxTargets[r * 4 + q]
                        let magnitude = abs(d)
                        let value: Float
                        let slope: Float
                        if magnitude < beta {
                            value = 0.5 * d * d / beta
                            slope = d / beta
                        } else {
                            value = magnitude - 0.5 * beta
                            slope = d > 0 ? 1 : -1
                        }
                        boxSum += Double(value)
                        grad[r * stride + classes + q] = boxWeight * slope / positives
                    }
                }
            }
        }
        let cls = Float(clsSum / Double(rows))
        let box = Float(boxSum / Double(positives))
        return TaskLossResult(loss: cls + boxWeight * box, gradient: gradient, parts: ["cls": cls, "box": box])
    }

    /// Detections of every image, highest score first.
    ///
    /// Per image: for each cell, the best non-background class `c` (largest logit among
    /// channels `1...C`) with score `softmax(class logits)[c]` (over all `C + 1` channels,
    /// background included); cells with `score ≥ scoreThreshold` decode their box as in the
    /// type's documentation, clipped to `[0, W] × [0, H]` (cells whose clipped box is empty
    /// or whose box values are not finite are dropped), labelled `c − 1`. Then greedy
    /// per-class NMS (`nonMaximumSuppression`, drop when IoU > `nmsIoU`) keeps at most
    /// `maxDetections` boxes, which are the highest-scored survivors.
    ///
    /// `outputs` must be `[B, gh·gw, C+1+4]` for a valid geometry (a precondition; `loss`
    /// reports the same problems as errors).
    public static func decode(
        outputs: Tensor, geometry: TaskGeometry, scoreThreshold: Float = 0.05, nmsIoU: Float = 0.5,
        maxDetections: Int = 100
    ) -> [[Detection]] {
        do { try geometry.validate() } catch { preconditionFailure("DetectionTask.decode: \(error)") }
        let classes = geometry.classes + 1
        let stride = classes + 4
        let cells = geometry.cells
        let batch = outputs.shape.first ?? 0
        precondition(
            outputs.shape == [batch, cells, stride],
            "DetectionTask.decode: "
                + TaskError.shapeMismatch(
                    what: "detection outputs [B, gh·gw, C+1+4]", expected: [batch, cells, stride], found: outputs.shape
                ).description)
        guard maxDetections > 0 else { return [[Detection]](repeating: [], count: batch) }
        let p = Float(geometry.patchSize)
        let width = Float(geometry.imageWidth)
        let height = Float(geometry.imageHeight)
        let gw = geometry.gridWidth
        return outputs.withUnsafePointer { out in
            (0..<batch).map { b in
                var candidates = [Detection]()
                for cell in 0..<cells {
                    let row = out + (b * cells + cell) * stride
                    var maxLogit = row[0]
                    var best = 1
                    for k in 1..<classes {
                        maxLogit = max(maxLogit, row[k])
                        if row[k] > row[best] { best = k }
                    }
                    var sum: Float = 0
                    for k in 0..<classes { sum += expf(row[k] - maxLogit) }
                    let score = expf(row[best] - maxLogit) / sum
                    guard score >= scoreThreshold else { continue }  // also drops NaN
                    let dx = row[classes]
                    let dy = row[classes + 1]
                    let lw = row[classes + 2]
                    let lh = row[classes + 3]
                    guard dx.isFinite, dy.isFinite, !lw.isNaN, !lh.isNaN else { continue }
                    let (x0, y0, x1, y1) = cellBox(
                        cell: cell, dx: dx, dy: dy, lw: lw, lh: lh, gridWidth: gw, patch: p, width: width,
                        height: height)
                    guard x1 > x0, y1 > y0 else { continue }
                    candidates.append(
                        Detection(box: Box(x0: x0, y0: y0, x1: x1, y1: y1, label: Int32(best - 1)), score: score))
                }
                return nonMaximumSuppression(candidates, iouThreshold: nmsIoU, maxKept: maxDetections)
            }
        }
    }

    /// The box of `cell` (row-major, `gridWidth` cells a row) for offsets (dx, dy) and log
    /// sizes (lw, lh): centre ((j + ½ + dx)·P, (i + ½ + dy)·P), size P·(e^lw, e^lh), clipped
    /// to [0, width] × [0, height]; (x0, y0, x1, y1).
    @inline(__always)
    static func cellBox(
        cell: Int, dx: Float, dy: Float, lw: Float, lh: Float, gridWidth gw: Int, patch p: Float, width: Float,
        height: Float
    ) -> (Float, Float, Float, Float) {
        let i = cell / gw
        let j = cell % gw
        let cx = (Float(j) + 0.5 + dx) * p
        let cy = (Float(i) + 0.5 + dy) * p
        let halfW = p * expf(lw) / 2
        let halfH = p * expf(lh) / 2
        return (max(0, cx - halfW), max(0, cy - halfH), min(width, cx + halfW), min(height, cy + halfH))
    }

    /// Every cell's class scores and box before thresholding and NMS (what an exported
    /// detection graph outputs): `scores [B, cells, C]`, `scores[c]` = softmax over all
    /// C + 1 class logits at channel c + 1 (the score `decode` gives its best class), and
    /// `boxes [B, cells, 4]` = `cellBox` (x0, y0, x1, y1), not filtered.
    public static func scoresAndBoxes(outputs: Tensor, geometry: TaskGeometry) throws -> (scores: Tensor, boxes: Tensor)
    {
        try geometry.validate()
        let classes = geometry.classes + 1
        let (stride, cells) = (classes + 4, geometry.cells)
        let batch = outputs.shape.first ?? 0
        guard outputs.shape == [batch, cells, stride] else {
            throw TaskError.shapeMismatch(
                what: "detection outputs [B, gh·gw, C+1+4]", expected: [batch, cells, stride], found: outputs.shape)
        }
        var scores = Tensor(shape: [batch, cells, classes - 1])
        var boxes = Tensor(shape: [batch, cells, 4])
        let (p, width, height) = (Float(geometry.patchSize), Float(geometry.imageWidth), Float(geometry.imageHeight))
        for r in 0..<(batch * cells) {
            let row = Array(outputs.storage[(r * stride)..<((r + 1) * stride)])
            let maxLogit = row[0..<classes].max() ?? 0
            var sum: Float = 0
            for k in 0..<classes { sum += expf(row[k] - maxLogit) }
            for c in 1..<classes { scores.storage[r * (classes - 1) + c - 1] = expf(row[c] - maxLogit) / sum }
            let (x0, y0, x1, y1) = cellBox(
                cell: r % cells, dx: row[classes], dy: row[classes + 1], lw: row[classes + 2], lh: row[classes + 3],
                gridWidth: geometry.gridWidth, patch: p, width: width, height: height)
            boxes.storage.replaceSubrange((r * 4)..<(r * 4 + 4), with: [x0, y0, x1, y1])
        }
        return (scores, boxes)
    }
}
