/// An error one rank of a data-parallel run hit, named by its rank (the ranks print their
/// errors to the same terminal).
struct RankFailure: Error, CustomStringConvertible {
    var rank: Int
    var size: Int
    var underlying: any Error

    var description: String { "rank \(rank) of \(size): \(underlying)" }
}
