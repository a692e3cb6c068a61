/// The personalised all-to-all among the P ranks of one expert-parallel group
/// (DESIGN §11.2), so that `MoEModel` stays free of MPI: `MoETraining` adapts its
/// collective to it, tests use in-process thread ranks.
///
/// Group rank g holds (runs) experts `[g·E/P, (g+1)·E/P)` of every MoE layer's bank. Every
/// rank of the group calls `exchange` in the same order (it is a collective operation).
public protocol ExpertExchange: AnyObject {
    /// P: the ranks that together hold one copy of every expert.
    var groupSize: Int { get }
    /// g in `0..<groupSize`: this rank's place in its group.
    var groupRank: Int { get }
    /// `send` holds `sendCounts[d]` floats for each group rank d, in group-rank order;
    /// returns what every group rank sent here, in group-rank order, with the count from each.
    func exchange(_ send: [Float], sendCounts: [Int]) throws -> (values: [Float], counts: [Int])
}
