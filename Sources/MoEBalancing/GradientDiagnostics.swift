import MoEOptim

/// Gradient-conflict diagnostics over per-task shared gradients (DESIGN §5): for the whole
/// backbone and for each layer group, each task's gradient norm, and for each pair of tasks
/// the cosine similarity, the gradient magnitude similarity GMS = 2‖g_i‖‖g_j‖/(‖g_i‖²+‖g_j‖²)
/// and the fraction of parameters whose two task gradients have opposite signs.
public struct GradientDiagnostics: Sendable, Equatable {
    /// One group's statistics.
    public struct Group: Sendable, Equatable {
        public var name: String
        public var norms: [Double]
        /// Pairs (i, j), i < j, in lexicographic order.
        public var cosine: [Double]
        public var magnitudeSimilarity: [Double]
        public var conflictFraction: [Double]
    }

    public var tasks: [String]
    /// `backbone` first, then the layer groups.
    public var groups: [Group]

    /// Statistics of the rows restricted to index ranges `ranges` (one group).
    public static func group(name: String, rows: [[Float]], ranges: [Range<Int>]) -> Group {
        let t = rows.count
        var gram = Array(repeating: Array(repeating: 0.0, count: t), count: t)
        var conflicts = Array(repeating: Array(repeating: 0, count: t), count: t)
        var total = 0
        for r in ranges {
            total += r.count
            for i in 0..<t {
                rows[i].withUnsafeBufferPointer { a in
                    for j in i..<t {
                        rows[j].withUnsafeBufferPointer { b in
                            var s = 0.0
                            var c = 0
                            for k in r {
                                let x = a[k]
                                let y = b[k]
                                s += Double(x) * Double(y)
                                if x * y < 0 { c += 1 }
                            }
                            gram[i][j] += s
                            conflicts[i][j] += c
                        }
                    }
                }
            }
        }
        let norms = (0..<t).map { gram[$0][$0].squareRoot() }
        var cosine: [Double] = []
        var gms: [Double] = []
        var conflict: [Double] = []
        for i in 0..<t {
            for j in (i + 1)..<t where j < t {
                let ni = norms[i]
                let nj = norms[j]
                cosine.append(ni > 0 && nj > 0 ? gram[i][j] / (ni * nj) : 0)
                let sq = ni * ni + nj * nj
                gms.append(sq > 0 ? 2 * ni * nj / sq : 0)
                conflict.append(total > 0 ? Double(conflicts[i][j]) / Double(total) : 0)
            }
        }
        return Group(name: name, norms: norms, cosine: cosine, magnitudeSimilarity: gms, conflictFraction: conflict)
    }

    /// Diagnostics of per-task shared gradients laid out by `layout`.
    public static func compute(rows: [[Float]], layout: TaskParameterLayout) -> GradientDiagnostics {
        var groups = [group(name: "backbone", rows: rows, ranges: [0..<layout.sharedCount])]
        for (name, slices) in layout.layers {
            let ranges = slices.map { layout.shared[$0].offset..<(layout.shared[$0].offset + layout.shared[$0].count) }
            groups.append(group(name: name, rows: rows, ranges: ranges))
        }
        return GradientDiagnostics(tasks: layout.datasets, groups: groups)
    }

    /// Pair labels `a/b` in the order of the pairwise arrays.
    public var pairNames: [String] {
        var names: [String] = []
        for i in tasks.indices { for j in tasks.indices where j > i { names.append("\(tasks[i])/\(tasks[j])") } }
        return names
    }

    /// A JSON-lines record (`event: grad`).
    public func record(step: Int) -> [String: Any] {
        var layers: [String: Any] = [:]
        for g in groups {
            layers[g.name] = [
                "norm": Dictionary(uniqueKeysWithValues: zip(tasks, g.norms)),
                "cosine": Dictionary(uniqueKeysWithValues: zip(pairNames, g.cosine)),
                "gms": Dictionary(uniqueKeysWithValues: zip(pairNames, g.magnitudeSimilarity)),
                "conflict": Dictionary(uniqueKeysWithValues: zip(pairNames, g.conflictFraction)),
            ]
        }
        return ["event": "grad", "step": step, "layers": layers]
    }
}
