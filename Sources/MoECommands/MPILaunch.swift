import ArgumentParser
import MoEDataParallel
import MoEDistributed

/// How a command runs under an MPI launcher (DESIGN §11): without one it never touches
/// MPI; under `mpirun -np N` every rank runs the command on `Communicator.world()`, ranks
/// other than 0 print nothing, and an error names the rank that hit it.
enum MPILaunch {
    /// Runs `body` with the world's collective under a launcher, with nil otherwise.
    ///
    /// A failing rank of N > 1 exits without `MPI_Finalize`, so `mpirun` ends the others
    /// (which may be waiting in a collective); an `ExitCode` (e.g. 130 after Ctrl-C, which
    /// every rank reaches at the same step) finalizes first.
    static func run(_ body: (MPICollective?) throws -> Void) throws {
        guard Communicator.isLaunchedByMPI else { return try body(nil) }
        let collective = try MPICollective(Communicator.world())
        isSecondaryRank = collective.rank != 0
        do {
            try body(collective)
        } catch let exit as ExitCode {
            Communicator.finalize()
            throw exit
        } catch {
            guard collective.size > 1 else { throw error }
            throw RankFailure(rank: collective.rank, size: collective.size, underlying: error)
        }
        Communicator.finalize()
    }
}
