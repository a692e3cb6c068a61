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

    /// Encoded flat: `{"task": "classification", "count": 10000, "top1": 0.81, ...}`.
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(task, forKey: Key(stringValue: "task"))
        try c.encode(count, forKey: Key(stringValue: "count"))
        for (name, value) in values { try c.encode(value, forKey: Key(stringValue: name)) }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        task = try c.decode(TaskKind.self, forKey: Key(stringValue: "task"))
        count = try c.decode(Int.self, forKey: Key(stringValue: "count"))
        values = [:]
        for key in c.allKeys where key.stringValue != "task" && key.stringValue != "count" {
            values[key.stringValue] = try c.decode(Double.self, forKey: key)
        }
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
        let labels = [
            "top1": "top-1", "top5": "top-5", "mAP50": "mAP@0.5", "mIoU": "mIoU",
            "pixelAccuracy": "pixel acc", "loss": "loss",
        ]
        return order.compactMap { key in
            guard let v = values[key] else { return nil }
            let text = key == "loss" ? String(format: "%.4f", v) : String(format: "%.2f%%", 100 * v)
            return "\(labels[key] ?? key) \(text)"
        }.joined(separator: "  ")
    }
}
