import Foundation

/// Errors a user can cause when adapting, pruning or expanding a model.
public enum AdaptationError: Error, CustomStringConvertible, Equatable {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let detail): detail
        }
    }
}

/// What one adaptation operation did, recorded in the checkpoint's `history` and printed
/// by the commands (DESIGN §6: trainable parameters, model parameters, FLOPs ratio, metric).
public struct AdaptationRecord: Codable, Sendable, Equatable {
    /// `adapt`, `prune`, `expand`.
    public var operation: String
    public var dataset: String
    /// The operation's settings as text (policy, experts kept or added, K, steps, ...).
    public var settings: [String: String]
    /// Scalars the optimiser could change.
    public var trainableParameters: Int
    /// Scalars of the resulting model.
    public var modelParameters: Int
    /// Scalars of the model the operation started from.
    public var sourceParameters: Int
    /// Forward FLOPs on `dataset` of the result over those of the source architecture
    /// (its full K and all its experts) on the same input.
    public var flopsRatio: Double
    /// The dataset's test metric after the operation (`top1`, `mAP50`, `mIoU`).
    public var metricName: String
    public var metric: Double

    /// One line for the checkpoint's history: "<operation> <dataset> <JSON>".
    public var historyLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return "\(operation) \(dataset) \(json)"
    }

    /// The four numbers every command prints.
    public var summaryLines: [String] {
        [
            "trainable parameters: \(trainableParameters) ("
                + String(format: "%.2f%%", 100 * Double(trainableParameters) / Double(max(modelParameters, 1)))
                + " of the model)",
            "model parameters:     \(modelParameters) (source \(sourceParameters))",
            "FLOPs ratio:          " + String(format: "%.3f", flopsRatio) + " (vs the source model at its K)",
            "\(dataset) \(metricName):" + String(format: " %.2f%%", 100 * metric),
        ]
    }
}
