import MoEData

/// Greedy per-class non-maximum suppression.
///
/// Boxes are visited by score, highest first (ties by index; NaN scores last). A box is kept
/// unless a box of the **same class** kept before it overlaps it with
/// `IoU > iouThreshold` (`DetectionMetrics.iou`); boxes of different classes never suppress
/// each other. Cost `O(n log n + n · kept)`.
///
/// - Parameters:
///   - boxes: candidate boxes, classes in `box.label`.
///   - scores: one confidence per box.
///   - iouThreshold: overlap above which the lower-scored box is dropped (e.g. 0.5).
///   - maxKept: stop after this many kept boxes (all classes together); nil for no limit.
/// - Returns: indices into `boxes` of the kept boxes, sorted by score, highest first.
/// - Throws: `MetricError.countMismatch` when `scores.count != boxes.count`.
public func nonMaximumSuppression(
    boxes: [Box], scores: [Float], iouThreshold: Float, maxKept: Int? = nil
) throws -> [Int] {
    guard scores.count == boxes.count else {
        throw MetricError.countMismatch(what: "NMS scores", expected: boxes.count, got: scores.count)
    }
    let order = boxes.indices.sorted { a, b in
        let sa = DetectionMetrics.rankScore(scores[a])
        let sb = DetectionMetrics.rankScore(scores[b])
        return sa != sb ? sa > sb : a < b
    }
    let limit = maxKept ?? Int.max
    var kept = [Int]()
    var keptByClass = [Int32: [Int]]()
    for i in order {
        guard kept.count < limit else { break }
        let box = boxes[i]
        let rivals = keptByClass[box.label] ?? []
        if rivals.contains(where: { DetectionMetrics.iou(boxes[$0], box) > iouThreshold }) { continue }
        kept.append(i)
        keptByClass[box.label, default: []].append(i)
    }
    return kept
}

/// `nonMaximumSuppression(boxes:scores:iouThreshold:maxKept:)` over detections: the kept
/// detections, highest score first.
public func nonMaximumSuppression(_ detections: [Detection], iouThreshold: Float, maxKept: Int? = nil) -> [Detection] {
    // Counts match by construction, so this cannot throw.
    let kept = try! nonMaximumSuppression(
        boxes: detections.map(\.box), scores: detections.map(\.score), iouThreshold: iouThreshold, maxKept: maxKept)
    return kept.map { detections[$0] }
}
