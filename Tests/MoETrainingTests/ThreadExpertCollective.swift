@testable import MoETraining

/// Expert-group collectives (DESIGN §11.2) for thread ranks, built on the group's sum:
/// each rank places its values in its own region of a zero vector, so one sum gathers
/// everyone's values exactly (x + 0 = x), and each rank then takes what its group sends it.
/// Every rank of the world must call each operation, as every rank does in training.
extension ThreadRank: ExpertCollective {
    /// Every rank's `values`, in rank order.
    func allGather(_ values: [Float]) -> [[Float]] {
        var lengths = [Double](repeating: 0, count: size)
        lengths[rank] = Double(values.count)
        lengths = group.exchange(rank: rank, lengths, add: +)
        let counts = lengths.map { Int($0) }
        let start = counts[..<rank].reduce(0, +)
        var flat = [Double](repeating: 0, count: counts.reduce(0, +))
        for (i, v) in values.enumerated() { flat[start + i] = Double(v) }
        flat = group.exchange(rank: rank, flat, add: +)
        var out: [[Float]] = []
        var offset = 0
        for c in counts {
            out.append(flat[offset..<offset + c].map { Float($0) })
            offset += c
        }
        return out
    }

    func expertGroupAllToAll(_ send: [Float], sendCounts: [Int], groupSize p: Int) throws -> (
        values: [Float], counts: [Int]
    ) {
        let all = allGather(sendCounts.map(Float.init) + send)
        let (first, g) = (rank / p * p, rank % p)
        var values: [Float] = []
        var counts: [Int] = []
        for s in first..<first + p {
            let theirCounts = all[s][0..<p].map { Int($0) }
            let start = p + theirCounts[..<g].reduce(0, +)
            values.append(contentsOf: all[s][start..<start + theirCounts[g]])
            counts.append(theirCounts[g])
        }
        return (values, counts)
    }

    func sameExpertsSum(_ values: UnsafeMutableBufferPointer<Float>, groupSize p: Int) throws {
        sum(values, over: (0..<size).filter { $0 % p == rank % p })
    }

    func expertGroupSum(_ values: UnsafeMutableBufferPointer<Float>, groupSize p: Int) throws {
        sum(values, over: Array(rank / p * p..<rank / p * p + p))
    }

    func expertGroupSum(_ values: inout [Double], groupSize p: Int) throws {
        var mine = [Double](repeating: 0, count: size * values.count)
        for (i, v) in values.enumerated() { mine[rank * values.count + i] = v }
        let all = group.exchange(rank: rank, mine, add: +)
        let first = rank / p * p
        for i in values.indices {
            var total = all[first * values.count + i]
            for r in first + 1..<first + p { total += all[r * values.count + i] }
            values[i] = total
        }
    }

    /// `values ← Σ` over `ranks` in rank order, in Float.
    private func sum(_ values: UnsafeMutableBufferPointer<Float>, over ranks: [Int]) {
        let all = allGather(Array(values))
        for i in values.indices {
            var total = all[ranks[0]][i]
            for r in ranks.dropFirst() { total += all[r][i] }
            values[i] = total
        }
    }
}
