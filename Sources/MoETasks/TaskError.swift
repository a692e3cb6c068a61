/// Inputs that a task loss or decoder cannot use.
public enum TaskError: Error, CustomStringConvertible, Equatable {
    /// A tensor or array has another shape than the geometry and batch imply, e.g.
    /// segmentation logits `[2, 9, 5]` where `[2, 9, 4]` was expected. Flat arrays (labels,
    /// masks, per-image box lists) are reported as one-dimensional shapes `[count]`.
    case shapeMismatch(what: String, expected: [Int], found: [Int])
    /// `what[index]` holds `label`, which is not in `valid`.
    case labelOutOfRange(what: String, index: Int, label: Int, valid: ClosedRange<Int>)
    /// A ground-truth box that cannot be encoded (non-finite coordinates or an empty
    /// extent): box `index` of image `image`.
    case invalidBox(image: Int, index: Int, box: String)
    /// The geometry itself is impossible (e.g. an image side not a multiple of the patch).
    case invalidGeometry(detail: String)
    /// A dataset's data gave targets of another task than the dataset's head.
    case targetsMismatch(dataset: String, task: String)

    /// A one-line, human-readable message.
    public var description: String {
        switch self {
        case .shapeMismatch(let what, let expected, let found):
            "\(what): expected shape \(expected), found \(found)"
        case .labelOutOfRange(let what, let index, let label, let valid):
            "\(what)[\(index)] holds label \(label), outside \(valid.lowerBound)...\(valid.upperBound)"
        case .invalidBox(let image, let index, let box):
            "box \(index) of image \(image) is empty or not finite: \(box)"
        case .invalidGeometry(let detail): detail
        case .targetsMismatch(let dataset, let task):
            "dataset '\(dataset)' is a \(task) dataset but its data gave other targets"
        }
    }
}
