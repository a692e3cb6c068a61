import MoEDistributed
import MoETraining

/// An MPI communicator as the trainer's `Collective` (DESIGN §11): the bridge that keeps
/// MPI out of `MoETraining`. `moe pretrain` under `mpirun -np N` hands one to
/// `Trainer.distribute(over:)`.
public final class MPICollective: Collective {
    public let communicator: Communicator

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
}
