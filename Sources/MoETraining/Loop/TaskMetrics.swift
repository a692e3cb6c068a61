import MoEModel

/// Test metrics of one dataset: named values plus the task's headline metric
/// (top-1 for classification, mAP@0.5 for detection, mIoU for segmentation).
public struct TaskMetrics: Codable, Sendable, Equatable {
    public var task: TaskKind
    public var count: Int
    /// e.g. `top1`, `top5`, `loss`; `mAP50`; `mIoU`, `pixelAccuracy`.
    public var values: [String: Double]

    public init(task: TaskKind, count: Int, values: [String: Double]) {
        self.task = task
        self.count = count
        self.values = values
    }

    /// The name of the headline metric of a task.
    public static func primaryName(_ task: TaskKind) -> String {
        switch task {
        case .classification: "top1"
        case .detection: "mAP50"
        case .segmentation: "mIoU"
        }
    }

    public var primaryName: String { Self.primaryName(task) }
    public var primary: Double { values[primaryName] ?? 0 }

    /// "top-1 81.23%  top-5 99.60%" and the like.
    public var summary: String {
        let order = ["top1", "top5", "mAP50", "mIoU", "pixelAccuracy", "loss"]
        let labels = ["top1": "top-1", "top5": "top-5", "mAP50": "mAP@0.5", "mIoU": "mIoU",
                      "pixelAccuracy": "pixel acc", "loss": "loss"]
        return order.compactMap { key in
            guard let v = values[key] else { return nil }
            let text = key == "loss" ? String(format: "%.4f", v) : String(format: "%.2f%%", 100 * v)
            return "\(labels[key] ?? key) \(text)"
        }.joined(separator: "  ")
    }
}
