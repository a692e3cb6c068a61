import Foundation

/// GradSplit's relation matrix from pairwise runs [GS]: R[t][s] = (M_{t|t,s} − M_t) / M_t,
/// the relative change of task t's primary metric when trained jointly with task s instead of
/// alone (same steps); the mask m[t][s] = 1 when R[t][s] ≥ τ (τ = −0.01: at most 1 % worse),
/// else 0, and m[t][t] = 1. Row t is the channel group of task t, column s the task whose
/// gradient it may take.
public enum TaskRelations {
    /// The relative changes R (diagonal 0) from single-task metrics and `joint[t][s]`.
    public static func relativeChanges(single: [Double], joint: [[Double]]) -> [[Double]] {
        single.indices.map { t in
            single.indices.map { s in
                t == s || single[t] == 0 ? 0 : (joint[t][s] - single[t]) / single[t]
            }
        }
    }

    /// The 0/1 mask for threshold `tau`.
    public static func mask(_ changes: [[Double]], tau: Double = -0.01) -> [[Float]] {
        changes.indices.map { t in changes[t].indices.map { s in s == t || changes[t][s] >= tau ? 1 : 0 } }
    }

    /// A recipe fragment selecting gradsplit with `mask`, commented with the changes.
    public static func yaml(datasets: [String], changes: [[Double]], mask: [[Float]], tau: Double) -> String {
        var lines = [
            "# moe relations: relative change of each row's metric when trained with the column's",
            "# task (pairwise joint vs single-task runs); τ = \(tau)",
            "#   " + datasets.joined(separator: "  "),
        ]
        for (t, row) in changes.enumerated() {
            lines.append("#   \(datasets[t]): " + row.map { String(format: "%+.4f", $0) }.joined(separator: " "))
        }
        lines.append("balancing:")
        lines.append("  method: gradsplit")
        let rows = mask.map { "[" + $0.map { String(Int($0)) }.joined(separator: ", ") + "]" }
        lines.append("  relations: [" + rows.joined(separator: ", ") + "]")
        return lines.joined(separator: "\n") + "\n"
    }
}
