import MoETasks

/// Δm (DESIGN §5): Δm = 100/T · Σ_t (−1)^{l_t} (M_m,t − M_s,t) / M_s,t in percent, with
/// l_t = 1 where lower is better, so a positive Δm means the multi-task model beats the
/// single-task baselines (LibMTL's sign, task-averaged, one primary metric per task).
public enum DeltaM {
    /// One task's primary metric of the multi-task and the single-task model.
    public struct Entry: Sendable, Equatable {
        public var task: String
        public var multiTask: Double
        public var singleTask: Double
        public var higherIsBetter: Bool

        public init(task: String, multiTask: Double, singleTask: Double, higherIsBetter: Bool = true) {
            self.task = task
            self.multiTask = multiTask
            self.singleTask = singleTask
            self.higherIsBetter = higherIsBetter
        }

        /// This task's signed relative change in percent.
        public var relativeChange: Double {
            let d = (multiTask - singleTask) / singleTask * 100
            return higherIsBetter ? d : -d
        }
    }

    /// Δm in percent over `entries` (each baseline metric must be non-zero).
    public static func compute(_ entries: [Entry]) -> Double {
        precondition(
            !entries.isEmpty && entries.allSatisfy { $0.singleTask != 0 },
            "Δm needs at least one task and non-zero baselines")
        return entries.map(\.relativeChange).reduce(0, +) / Double(entries.count)
    }
}

extension DeltaM {
    /// Entries for every dataset present in both maps, by name, on each task's primary
    /// metric (top-1, mAP@0.5, mIoU: all higher-is-better).
    public static func entries(
        multiTask: [String: TaskMetrics], singleTask: [String: TaskMetrics]
    ) -> [Entry] {
        multiTask.keys.sorted().compactMap { name in
            guard let m = multiTask[name], let s = singleTask[name], s.primary != 0 else { return nil }
            return Entry(task: name, multiTask: m.primary, singleTask: s.primary)
        }
    }
}
