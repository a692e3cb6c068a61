import Foundation
import MoETensor

/// A step's time and matrix work broken down by kernel class, from `Profiler` totals over
/// `steps` profiled steps of known wall time.
///
/// For each row (a `Profiler.Label`):
///
///     time     = exclusive seconds / steps
///     share    = time / step time            (the rows and `other` sum to 100 %)
///     FLOPs    = declared FLOPs / steps      (matrix products only; 2 per multiply-add)
///     FLOP share = FLOPs / Σ FLOPs,   GFLOP/s = FLOPs / time / 1e9
///
/// `other` is the step time no region claimed (embedding, residual adds, buffer zeroing,
/// Swift glue) plus any region labelled `.other`.
public struct ProfileTable: Sendable {
    /// One line of the table.
    public struct Row: Sendable {
        public var kind: Profiler.Kind
        public var detail: String
        public var secondsPerStep: Double
        public var flopsPerStep: Double
        public var callsPerStep: Double
    }

    public var title: String
    /// Mean wall time of a profiled step.
    public var stepSeconds: Double
    public var steps: Int
    /// Median step time of the same step with the profiler off, when measured.
    public var unprofiledStepSeconds: Double?
    /// Per-label rows, in report order (GEMMs by shape first), `other` last.
    public var rows: [Row]

    /// Builds the table from `Profiler.stop()`'s totals over `steps` steps that took
    /// `wallSeconds` in all.
    public init(title: String, totals: [Profiler.Label: Profiler.Total], steps: Int, wallSeconds: Double) {
        self.title = title
        self.steps = max(steps, 1)
        stepSeconds = wallSeconds / Double(self.steps)
        let n = Double(self.steps)
        var rows = totals.sorted { $0.key < $1.key }.map { label, total in
            Row(
                kind: label.kind, detail: label.detail, secondsPerStep: total.seconds / n,
                flopsPerStep: total.flops / n, callsPerStep: Double(total.calls) / n)
        }
        // Regions labelled `.other` go last, then the time no region claimed.
        let claimed = rows.map(\.secondsPerStep).reduce(0, +)
        rows = rows.filter { $0.kind != .other } + rows.filter { $0.kind == .other }
        rows.append(
            Row(
                kind: .other, detail: "unattributed (embedding, residuals, glue)",
                secondsPerStep: max(0, stepSeconds - claimed), flopsPerStep: 0, callsPerStep: 0))
        self.rows = rows
    }

    /// Σ FLOPs of one step.
    public var flopsPerStep: Double { rows.map(\.flopsPerStep).reduce(0, +) }

    /// One row per kernel class present (every class in `Profiler.Kind` order), summed.
    public var classRows: [Row] {
        Profiler.Kind.allCases.compactMap { kind in
            let members = rows.filter { $0.kind == kind }
            guard !members.isEmpty else { return nil }
            return Row(
                kind: kind, detail: "", secondsPerStep: members.map(\.secondsPerStep).reduce(0, +),
                flopsPerStep: members.map(\.flopsPerStep).reduce(0, +),
                callsPerStep: members.map(\.callsPerStep).reduce(0, +))
        }
    }

    /// The table as text: a per-class summary, then every row (GEMMs by shape), each with
    /// ms/step, share of step time, GFLOP/step, share of FLOPs and GFLOP/s.
    public func lines() -> [String] {
        let total = flopsPerStep
        func line(_ name: String, _ r: Row) -> String {
            let flops =
                r.flopsPerStep > 0
                ? String(
                    format: "%8.3f %6.1f%% %8.1f", r.flopsPerStep / 1e9, 100 * r.flopsPerStep / max(total, 1),
                    r.secondsPerStep > 0 ? r.flopsPerStep / r.secondsPerStep / 1e9 : 0)
                : String(repeating: " ", count: 7) + "-" + String(repeating: " ", count: 7) + "-"
                    + String(repeating: " ", count: 8) + "-"
            return pad(name, 50)
                + String(format: "%9.2f %6.1f%%", 1e3 * r.secondsPerStep, 100 * r.secondsPerStep / stepSeconds)
                + flops
        }
        let header = pad("", 50) + "  ms/step    time   GFLOP   FLOPs  GFLOP/s"
        let unprofiled = unprofiledStepSeconds.map { String(format: "; %.2f ms unprofiled (median)", 1e3 * $0) } ?? ""
        var out = [
            String(
                format: "%@: %.2f ms/step (mean of %d profiled steps%@), %.3f GFLOP/step, threads %d", title,
                1e3 * stepSeconds, steps, unprofiled, total / 1e9, Parallel.threads),
            header,
        ]
        out += classRows.map { line("  " + $0.kind.rawValue, $0) }
        out.append("  by shape / op:")
        out += rows.map { line("    " + $0.kind.rawValue + ($0.detail.isEmpty ? "" : ": " + $0.detail), $0) }
        return out
    }

    private func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
    }
}
