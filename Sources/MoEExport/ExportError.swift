/// Why a model cannot be exported as asked; every case names the value at fault.
public enum ExportError: Error, CustomStringConvertible, Equatable {
    case unsupportedOpset(Int, supported: ClosedRange<Int>)
    case topK(Int, dataset: String, allowed: Int)
    case denseTopK(dataset: String)
    case referenceImages(dataset: String, expected: [Int], got: [Int])

    public var description: String {
        switch self {
        case .unsupportedOpset(let opset, let supported):
            "--opset \(opset) is not supported; use \(supported.lowerBound)...\(supported.upperBound)"
        case .topK(let k, let dataset, let allowed):
            "--top-k \(k) is outside 1...\(allowed): dataset '\(dataset)' may use \(allowed) experts in its most "
                + "restricted MoE layer"
        case .denseTopK(let dataset):
            "--top-k needs an MoE model; the model of dataset '\(dataset)' is dense"
        case .referenceImages(let dataset, let expected, let got):
            "reference images for dataset '\(dataset)' must have shape \(expected), got \(got)"
        }
    }
}
