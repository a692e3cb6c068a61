import MoEData

/// A predicted box (with its class in `box.label`) and its confidence.
public struct Detection: Sendable, Equatable, Codable {
    public var box: Box
    public var score: Float

    public init(box: Box, score: Float) {
        self.box = box
        self.score = score
    }

    /// The predicted class, `box.label`.
    public var label: Int32 { box.label }
}

/// Average precision per class and their mean.
public struct DetectionScores: Sendable, Equatable {
    /// AP of every class with at least one ground-truth box, keyed by label.
    public var perClass: [Int32: Double]
    /// Mean of `perClass` over its classes; 0 when no class has ground truth.
    public var mAP: Double
    /// Ground-truth boxes per class (the classes of `perClass`).
    public var groundTruthCount: [Int32: Int]
}

/// Box detection metrics: IoU and VOC-style average precision (DESIGN §2, detection head).
public enum DetectionMetrics {
    /// Intersection over union of two boxes (labels ignored), with exclusive-max coordinates:
    ///
    ///     I = max(0, min(a.x1, b.x1) − max(a.x0, b.x0)) · max(0, min(a.y1, b.y1) − max(a.y0, b.y0))
    ///     IoU = I / (area(a) + area(b) − I)
    ///
    /// 1 for identical non-empty boxes, 0 for disjoint ones and when the union is empty.
    public static func iou(_ a: Box, _ b: Box) -> Float {
        let w = min(a.x1, b.x1) - max(a.x0, b.x0)
        let h = min(a.y1, b.y1) - max(a.y0, b.y0)
        guard w > 0, h > 0 else { return 0 }
        let intersection = w * h
        let union = a.area + b.area - intersection
        return union > 0 ? intersection / union : 0
    }

    /// VOC all-point interpolated AP of every class and their mean (mAP@`iouThreshold`).
    ///
    /// For each class `c` separately:
    /// 1. all detections of class `c` over all images are sorted by score, highest first
    ///    (ties keep image order, then the order within the image; NaN scores rank last);
    /// 2. greedily, each detection is matched to the *unmatched* ground-truth box of class
    ///    `c` in the same image with the largest IoU, if that IoU is `>= iouThreshold`
    ///    (true positive, the box becomes matched); otherwise it is a false positive, so a
    ///    second detection of an already matched object is a false positive;
    /// 3. after the k-th detection, `recall_k = TP_k / G` and `precision_k = TP_k / k`, with
    ///    `G` the number of ground-truth boxes of class `c`;
    /// 4. `AP = averagePrecision(recall:precision:)` (monotone envelope, area under the
    ///    step curve over all recall points).
    ///
    /// A class with ground truth but no detection has AP 0. Classes without ground truth are
    /// not scored (their detections are ignored), and `mAP` is the mean over the classes
    /// that have ground truth. (The VOC devkit matches against any ground-truth box and uses
    /// `IoU > 0.5`; the two differ only for exact ties and for a detection overlapping a
    /// matched and an unmatched object.)
    ///
    /// - Parameters:
    ///   - groundTruth: per image, its ground-truth boxes.
    ///   - detections: per image (same order and count), its detections.
    /// - Throws: `MetricError.countMismatch` when the two lists have different lengths,
    ///   `MetricError.invalid` for a threshold outside `(0, 1]`.
    public static func averagePrecision(
        groundTruth: [[Box]], detections: [[Detection]], iouThreshold: Float = 0.5
    ) throws -> DetectionScores {
        guard groundTruth.count == detections.count else {
            throw MetricError.countMismatch(
                what: "detections per image", expected: groundTruth.count, got: detections.count)
        }
        guard iouThreshold > 0, iouThreshold <= 1 else {
            throw MetricError.invalid(detail: "IoU threshold \(iouThreshold) must be in (0, 1]")
        }

        // Ground truth per class: image → indices into groundTruth[image].
        var truthByClass = [Int32: [Int: [Int]]]()
        var truthCount = [Int32: Int]()
        for (image, boxes) in groundTruth.enumerated() {
            for (j, box) in boxes.enumerated() {
                truthByClass[box.label, default: [:]][image, default: []].append(j)
                truthCount[box.label, default: 0] += 1
            }
        }
        // Detections per class, as (image, index) in image order.
        var detectionsByClass = [Int32: [(image: Int, index: Int)]]()
        for (image, list) in detections.enumerated() {
            for (j, d) in list.enumerated() where truthCount[d.label] != nil {
                detectionsByClass[d.label, default: []].append((image, j))
            }
        }

        var perClass = [Int32: Double]()
        for (label, total) in truthCount {
            let candidates = detectionsByClass[label] ?? []
            // Stable sort by score, highest first; NaN ranks last.
            let order = candidates.indices.sorted { p, q in
                let sp = rankScore(detections[candidates[p].image][candidates[p].index].score)
                let sq = rankScore(detections[candidates[q].image][candidates[q].index].score)
                return sp != sq ? sp > sq : p < q
            }
            let truths = truthByClass[label] ?? [:]
            var matched = [Int: [Bool]]()  // image → matched flag per entry of truths[image]
            var tp = 0
            var fp = 0
            var recall = [Double]()
            var precision = [Double]()
            recall.reserveCapacity(order.count)
            precision.reserveCapacity(order.count)
            for position in order {
                let (image, index) = candidates[position]
                let box = detections[image][index].box
                var best = -1
                var bestIoU: Float = -1
                if let indices = truths[image] {
                    var flags = matched[image] ?? [Bool](repeating: false, count: indices.count)
                    for (k, g) in indices.enumerated() where !flags[k] {
                        let overlap = iou(box, groundTruth[image][g])
                        if overlap > bestIoU {
                            bestIoU = overlap
                            best = k
                        }
                    }
                    if best >= 0, bestIoU >= iouThreshold {
                        flags[best] = true
                        tp += 1
                    } else {
                        fp += 1
                    }
                    matched[image] = flags
                } else {
                    fp += 1
                }
                recall.append(Double(tp) / Double(total))
                precision.append(Double(tp) / Double(tp + fp))
            }
            perClass[label] = averagePrecision(recall: recall, precision: precision)
        }
        let mAP = perClass.isEmpty ? 0 : perClass.values.reduce(0, +) / Double(perClass.count)
        return DetectionScores(perClass: perClass, mAP: mAP, groundTruthCount: truthCount)
    }

    /// VOC all-point interpolated average precision of a ranked list.
    ///
    /// With sentinels `r = [0, recall…, 1]` and `p = [0, precision…, 0]`, the precision is
    /// made monotone from the right, `p[i] = max(p[i], p[i+1])`, and
    ///
    ///     AP = Σ over i with r[i+1] ≠ r[i] of (r[i+1] − r[i]) · p[i+1]
    ///
    /// `recall` must be non-decreasing (as it is along a ranked list); both arrays have one
    /// entry per ranked detection. Empty input gives 0.
    public static func averagePrecision(recall: [Double], precision: [Double]) -> Double {
        let n = min(recall.count, precision.count)
        guard n > 0 else { return 0 }
        var r = [Double](repeating: 0, count: n + 2)
        var p = [Double](repeating: 0, count: n + 2)
        for i in 0..<n {
            r[i + 1] = recall[i]
            p[i + 1] = precision[i]
        }
        r[n + 1] = 1
        for i in stride(from: n, through: 0, by: -1) {
            p[i] = max(p[i], p[i + 1])
        }
        var ap = 0.0
        for i in 0...n where r[i + 1] != r[i] {
            ap += (r[i + 1] - r[i]) * p[i + 1]
        }
        return ap
    }

    /// Scores ordered with NaN below every number.
    static func rankScore(_ s: Float) -> Float { s.isNaN ? -.infinity : s }
}
