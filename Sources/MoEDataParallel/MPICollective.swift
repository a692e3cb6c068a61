import MoEDistributed
import MoETraining

/// An MPI communicator as the trainer's `Collective` (DESIGN §11): the bridge that keeps
/// MPI out of `MoETraining`. `moe pretrain` under `mpirun -np N` hands one to
/// `Trainer.distribute(over:)`. As an `ExpertCollective` (DESIGN §11.2) it splits the world
/// once per group size P into the expert groups (color ⌊rank/P⌋) and the same-expert
/// replicas (color rank mod P), both ordered by world rank.
public final class MPICollective: ExpertCollective {
    public let communicator: Communicator
    private var groups: [Int: (group: Communicator, replicas: Communicator)] = [:]

    public init(_ communicator: Communicator) { self.communicator = communicator }

    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }

    /// `MPI_Allreduce` in place: with the sum commutative and one reduction per element,
    /// every rank receives the same bits.
    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        guard values.count > 0 else { return }
        try communicator.allreduceSum(values)
    }

    public func allreduceSum(_ values: inout [Double]) throws {
        guard !values.isEmpty else { return }
        try communicator.allreduceSum(&values)
    }

    public func expertGroupAllToAll(_ send: [Float], sendCounts: [Int], groupSize p: Int) throws -> (
        values: [Float], counts: [Int]
    ) {
        try communicators(p).group.allToAll(send, sendCounts: sendCounts)
    }

    public func sameExpertsSum(_ values: UnsafeMutableBufferPointer<Float>, groupSize p: Int) throws {
        let replicas = try communicators(p).replicas
        guard values.count > 0, replicas.size > 1 else { return }
        try replicas.allreduceSum(values)
    }

    public func expertGroupSum(_ values: UnsafeMutableBufferPointer<Float>, groupSize p: Int) throws {
        guard values.count > 0 else { return }
        try communicators(p).group.allreduceSum(values)
    }

    public func expertGroupSum(_ values: inout [Double], groupSize p: Int) throws {
        guard !values.isEmpty else { return }
        try communicators(p).group.allreduceSum(&values)
    }

    /// The expert group and same-expert communicators for P (both splits are collective:
    /// every rank reaches the first use of a P at the same call).
    private func communicators(_ p: Int) throws -> (group: Communicator, replicas: Communicator) {
        if let made = groups[p] { return made }
        let group = try communicator.split(color: rank / p, key: rank)
        let replicas = try communicator.split(color: rank % p, key: rank)
        groups[p] = (group, replicas)
        return (group, replicas)
    }
}
