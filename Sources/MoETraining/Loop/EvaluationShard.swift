import MoEData
import MoETasks

/// One rank's part of a distributed evaluation (DESIGN §11.3) and the collectives that
/// turn the ranks' partial results into the whole test split's.
///
/// Rank r of N evaluates the contiguous examples `[r·n/N, (r+1)·n/N)` of the n test
/// examples, in batches of at most the evaluation batch size. Sufficient statistics (counts,
/// loss sums, confusion matrices) are summed; lists (detections) are gathered in rank order,
/// which is example order, so every rank ends with the one-process result.
struct EvaluationShard {
    let collective: any Collective

    /// The examples of `0..<count` this rank evaluates (empty when `count < size` leaves
    /// it none).
    func examples(of count: Int) -> Range<Int> {
        let n = collective.size
        let r = collective.rank
        return (r * count / n)..<((r + 1) * count / n)
    }

    /// Consecutive batches of at most `batchSize` over `examples`, the last one partial.
    static func batches(_ examples: Range<Int>, batchSize: Int) -> [Range<Int>] {
        stride(from: examples.lowerBound, to: examples.upperBound, by: batchSize).map {
            $0..<min($0 + batchSize, examples.upperBound)
        }
    }

    /// `Σ_ranks values` (element-wise; one process: `values`).
    func sum(_ values: [Double]) throws -> [Double] {
        guard collective.size > 1 else { return values }
        var total = values
        try collective.allreduceSum(&total)
        return total
    }

    /// Every rank's `values` concatenated in rank order, on every rank.
    ///
    /// Built from sums alone (the `Collective` has no gather): one sum of a one-hot vector
    /// of lengths, then one sum of a buffer where each rank fills its own segment and leaves
    /// the others zero. `x + 0 = x` exactly, so the values arrive bit for bit (a −0 becomes
    /// +0, which compares equal).
    func gather(_ values: [Double]) throws -> [Double] {
        guard collective.size > 1 else { return values }
        var lengths = [Double](repeating: 0, count: collective.size)
        lengths[collective.rank] = Double(values.count)
        try collective.allreduceSum(&lengths)
        let counts = lengths.map { Int($0) }
        let offset = counts[..<collective.rank].reduce(0, +)
        var buffer = [Double](repeating: 0, count: counts.reduce(0, +))
        buffer.replaceSubrange(offset..<(offset + values.count), with: values)
        try collective.allreduceSum(&buffer)
        return buffer
    }

    /// Every rank's per-image ground truth and detections, in example order.
    func gather(truth: [[Box]], detections: [[Detection]]) throws -> (truth: [[Box]], detections: [[Detection]]) {
        guard collective.size > 1 else { return (truth, detections) }
        var flat: [Double] = []
        for (boxes, found) in zip(truth, detections) {
            flat.append(Double(boxes.count))
            for b in boxes { flat += [Double(b.x0), Double(b.y0), Double(b.x1), Double(b.y1), Double(b.label)] }
            flat.append(Double(found.count))
            for d in found {
                let b = d.box
                flat += [Double(b.x0), Double(b.y0), Double(b.x1), Double(b.y1), Double(b.label), Double(d.score)]
            }
        }
        let all = try gather(flat)
        var allTruth: [[Box]] = []
        var allFound: [[Detection]] = []
        var i = 0
        func box(_ at: Int) -> Box {
            Box(
                x0: Float(all[at]), y0: Float(all[at + 1]), x1: Float(all[at + 2]), y1: Float(all[at + 3]),
                label: Int32(all[at + 4]))
        }
        while i < all.count {
            let boxes = Int(all[i])
            allTruth.append((0..<boxes).map { box(i + 1 + 5 * $0) })
            i += 1 + 5 * boxes
            let found = Int(all[i])
            allFound.append((0..<found).map { Detection(box: box(i + 1 + 6 * $0), score: Float(all[i + 6 + 6 * $0])) })
            i += 1 + 6 * found
        }
        return (allTruth, allFound)
    }

    /// The confusion matrices of every rank summed (counts are exact in a Double below 2⁵³).
    func sum(_ metrics: SegmentationMetrics) throws -> SegmentationMetrics {
        guard collective.size > 1 else { return metrics }
        let total = try sum(metrics.confusion.map(Double.init))
        return try SegmentationMetrics(
            classes: metrics.classes, ignoreLabel: metrics.ignoreLabel, confusion: total.map { Int($0) })
    }
}
