/// Inputs that an evaluation metric cannot score.
public enum MetricError: Error, CustomStringConvertible, Equatable {
    /// Two inputs that must be parallel have different lengths, e.g. ground truth for 10
    /// images but detections for 9, or a prediction map of another size than its target.
    case countMismatch(what: String, expected: Int, got: Int)
    /// A label outside the classes being scored (and not the ignore label).
    case labelOutOfRange(what: String, index: Int, label: Int, classes: Int)
    /// A parameter outside its domain (e.g. a negative class count).
    case invalid(detail: String)

    /// A one-line, human-readable message.
    public var description: String {
        switch self {
        case .countMismatch(let what, let expected, let got):
            "\(what): expected \(expected) entries, got \(got)"
        case .labelOutOfRange(let what, let index, let label, let classes):
            "\(what)[\(index)] holds label \(label), outside 0..<\(classes)"
        case .invalid(let detail): detail
        }
    }
}
