import MoEModel

/// The collectives expert-parallel training needs beyond data parallelism (DESIGN §11.2).
///
/// With P ranks per expert group, the N ranks form N/P groups of consecutive ranks
/// (`⌊rank/P⌋·P ..< ⌊rank/P⌋·P + P`); group rank g = rank mod P holds experts
/// `[g·E/P, (g+1)·E/P)`, and the N/P ranks with the same g hold the same experts.
/// Every method is collective over the ranks it names, called in the same order.
public protocol ExpertCollective: Collective {
    /// Personalised all-to-all among the P ranks of this rank's group: `send` holds
    /// `sendCounts[d]` floats for group rank d; returns what each group rank sent here, in
    /// group-rank order, with the count from each (counts are exchanged first).
    func expertGroupAllToAll(_ send: [Float], sendCounts: [Int], groupSize p: Int) throws -> (
        values: [Float], counts: [Int]
    )
    /// `values[i] ← Σ values[i]` over the N/P ranks with the same `rank mod P` (the ranks
    /// holding the same experts), in place.
    func sameExpertsSum(_ values: UnsafeMutableBufferPointer<Float>, groupSize p: Int) throws
    /// `values[i] ← Σ values[i]` over the P ranks of this rank's group, in place.
    func expertGroupSum(_ values: UnsafeMutableBufferPointer<Float>, groupSize p: Int) throws
    /// `values[i] ← Σ values[i]` over the P ranks of this rank's group, for a few doubles
    /// (the sharded experts' squared gradient norm).
    func expertGroupSum(_ values: inout [Double], groupSize p: Int) throws
}

/// A rank's expert group as the model's `ExpertExchange`.
final class ExpertGroupExchange: ExpertExchange {
    let collective: any ExpertCollective
    let groupSize: Int

    init(_ collective: any ExpertCollective, groupSize: Int) {
        self.collective = collective
        self.groupSize = groupSize
    }

    var groupRank: Int { collective.rank % groupSize }

    func exchange(_ send: [Float], sendCounts: [Int]) throws -> (values: [Float], counts: [Int]) {
        try collective.expertGroupAllToAll(send, sendCounts: sendCounts, groupSize: groupSize)
    }
}
