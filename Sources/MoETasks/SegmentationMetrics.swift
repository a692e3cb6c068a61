/// Semantic-segmentation scores from an accumulated confusion matrix (DESIGN §2).
///
/// `confusion[t · classes + p]` counts pixels of target class `t` predicted as `p`; pixels
/// whose target is `ignoreLabel` are skipped. With `TP_c = confusion[c, c]`,
/// `FP_c = Σ_t confusion[t, c] − TP_c` and `FN_c = Σ_p confusion[c, p] − TP_c`:
///
///     IoU_c = TP_c / (TP_c + FP_c + FN_c)
///     mIoU  = mean of IoU_c over the classes present, i.e. with TP_c + FP_c + FN_c > 0
///     pixel accuracy = Σ_c TP_c / Σ confusion
///
/// Background is an ordinary class (label 0 in scene masks). A class that appears in
/// neither targets nor predictions has no IoU (`perClassIoU[c] == nil`) and does not count
/// in the mean; a class that is only predicted has IoU 0 and does count. Both scores are 0
/// before any pixel was counted.
public struct SegmentationMetrics: Sendable, Equatable {
    /// Number of classes, labels `0..<classes`.
    public let classes: Int
    /// Target label whose pixels are not scored (e.g. 255), or nil.
    public let ignoreLabel: Int?
    /// Row-major `[classes, classes]` counts, rows = target, columns = prediction.
    public private(set) var confusion: [Int]

    /// An empty accumulator.
    /// - Throws: `MetricError.invalid` when `classes < 1`.
    public init(classes: Int, ignoreLabel: Int? = nil) throws {
        guard classes >= 1 else {
            throw MetricError.invalid(detail: "segmentation needs at least 1 class, got \(classes)")
        }
        self.classes = classes
        self.ignoreLabel = ignoreLabel
        self.confusion = [Int](repeating: 0, count: classes * classes)
    }

    /// An accumulator holding `confusion` (row-major `[classes, classes]`, e.g. counts
    /// summed over the ranks of a distributed evaluation).
    /// - Throws: `MetricError.invalid` when `classes < 1`, `confusion` is not `classes²`
    ///   long or holds a negative count.
    public init(classes: Int, ignoreLabel: Int? = nil, confusion: [Int]) throws {
        try self.init(classes: classes, ignoreLabel: ignoreLabel)
        guard confusion.count == classes * classes, confusion.allSatisfy({ $0 >= 0 }) else {
            throw MetricError.invalid(
                detail: "a confusion matrix over \(classes) classes needs \(classes * classes) non-negative counts, "
                    + "got \(confusion.count)")
        }
        self.confusion = confusion
    }

    /// Counts one (or a batch of) label maps: `prediction[i]` against `target[i]`.
    ///
    /// The update is atomic: on error nothing is counted.
    /// - Throws: `MetricError.countMismatch` for maps of different sizes;
    ///   `MetricError.labelOutOfRange` for a target label (other than `ignoreLabel`) or a
    ///   prediction label (at a non-ignored pixel) outside `0..<classes`.
    public mutating func update<P: BinaryInteger, T: BinaryInteger>(prediction: [P], target: [T]) throws {
        guard prediction.count == target.count else {
            throw MetricError.countMismatch(what: "prediction map", expected: target.count, got: prediction.count)
        }
        let k = classes
        var counts = [Int](repeating: 0, count: k * k)
        for i in 0..<target.count {
            let t = Int(truncatingIfNeeded: target[i])
            if let ignore = ignoreLabel, t == ignore { continue }
            guard t >= 0, t < k else {
                throw MetricError.labelOutOfRange(what: "target", index: i, label: t, classes: k)
            }
            let p = Int(truncatingIfNeeded: prediction[i])
            guard p >= 0, p < k else {
                throw MetricError.labelOutOfRange(what: "prediction", index: i, label: p, classes: k)
            }
            counts[t * k + p] += 1
        }
        for j in 0..<counts.count { confusion[j] += counts[j] }
    }

    /// Adds another accumulator's counts (e.g. from another worker).
    /// - Throws: `MetricError.invalid` when the class counts or ignore labels differ.
    public mutating func merge(_ other: SegmentationMetrics) throws {
        guard other.classes == classes, other.ignoreLabel == ignoreLabel else {
            throw MetricError.invalid(
                detail: "cannot merge segmentation metrics over \(other.classes) classes (ignore "
                    + "\(other.ignoreLabel.map(String.init) ?? "none")) into \(classes) (ignore "
                    + "\(ignoreLabel.map(String.init) ?? "none"))")
        }
        for j in 0..<confusion.count { confusion[j] += other.confusion[j] }
    }

    /// Forgets all counts.
    public mutating func reset() {
        confusion = [Int](repeating: 0, count: classes * classes)
    }

    /// Pixels counted so far (ignored ones excluded).
    public var pixelCount: Int { confusion.reduce(0, +) }

    /// `IoU_c` for every class, nil for a class absent from both targets and predictions.
    public var perClassIoU: [Double?] {
        let k = classes
        var rowSum = [Int](repeating: 0, count: k)
        var columnSum = rowSum
        for t in 0..<k {
            for p in 0..<k {
                rowSum[t] += confusion[t * k + p]
                columnSum[p] += confusion[t * k + p]
            }
        }
        return (0..<k).map { c in
            let tp = confusion[c * k + c]
            let union = rowSum[c] + columnSum[c] - tp
            return union > 0 ? Double(tp) / Double(union) : nil
        }
    }

    /// Mean IoU over the classes present (see the type's documentation); 0 when none is.
    public var meanIoU: Double {
        let present = perClassIoU.compactMap { $0 }
        return present.isEmpty ? 0 : present.reduce(0, +) / Double(present.count)
    }

    /// Fraction of counted pixels predicted correctly; 0 when none was counted.
    public var pixelAccuracy: Double {
        let total = pixelCount
        guard total > 0 else { return 0 }
        let correct = (0..<classes).reduce(0) { $0 + confusion[$1 * classes + $1] }
        return Double(correct) / Double(total)
    }
}
