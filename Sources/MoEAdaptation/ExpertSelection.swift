import MoETensor

/// Which experts of each MoE layer to pick (to unfreeze, or to keep when pruning), from
/// measured usage: per MoE layer, the share of a dataset's token assignments each expert got.
public enum ExpertSelection: String, Sendable, CaseIterable, Codable {
    /// Uniformly at random (seeded), ignoring usage.
    case random
    /// The most used experts (ties: lower index first).
    case mostUsed = "most-used"
    /// The least used experts (ties: lower index first).
    case leastUsed = "least-used"

    /// `count` experts per layer, each list in increasing index order.
    /// usage: [L][E] → [L][count]
    public func choose(count: Int, usage: [[Double]], seed: UInt64) -> [[Int]] {
        var rng = SeededGenerator(seed: seed &+ 0xE4)
        return usage.map { row in
            let order: [Int]
            switch self {
            case .random:
                order = rng.permutation(row.count)
            case .mostUsed:
                order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
            case .leastUsed:
                order = row.indices.sorted { row[$0] < row[$1] || (row[$0] == row[$1] && $0 < $1) }
            }
            return Array(order.prefix(count)).sorted()
        }
    }

    /// Pruning by threshold: per layer, the experts whose usage share is at least
    /// `threshold` (a fraction); every layer keeps the same number, the largest such count
    /// over the layers but at least `minimum`, taken by usage.
    public static func aboveThreshold(_ threshold: Double, usage: [[Double]], minimum: Int) -> [[Int]] {
        let n = max(minimum, usage.map { $0.filter { $0 >= threshold }.count }.max() ?? 0)
        return ExpertSelection.mostUsed.choose(count: n, usage: usage, seed: 0)
    }
}
