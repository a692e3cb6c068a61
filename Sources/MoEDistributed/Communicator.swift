import CMPI
import Foundation

/// A group of MPI processes (ranks), and the collectives training needs: the only code in
/// the package that calls MPI (DESIGN §11).
///
/// Errors come back as `CommunicatorError` (the communicators use `MPI_ERRORS_RETURN`)
/// instead of aborting the job. Counts above `Int32.max` are sent in pieces. Only the thread
/// that created the world calls MPI (`MPI_THREAD_FUNNELED`); the compute threads never do.
public final class Communicator {
    /// This process's rank in `0..<size`.
    public let rank: Int
    public let size: Int
    let comm: MPI_Comm
    private let ownsHandle: Bool

    /// Whether this process was started by an MPI launcher (`mpirun`, `srun` with PMIx):
    /// without one, `moe` runs in one process and never initialises MPI.
    public static var isLaunchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"].contains { environment[$0] != nil }
    }

    /// All ranks of the job, initialising MPI on first use.
    /// - Throws: `CommunicatorError` when MPI cannot be initialised.
    public static func world() throws -> Communicator {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            let code = MPI_Init_thread(nil, nil, moe_mpi_thread_funneled(), &provided)
            guard code == moe_mpi_success() else {
                throw CommunicatorError(rank: -1, operation: "MPI_Init_thread", message: errorString(code))
            }
        }
        return try Communicator(handle: moe_mpi_comm_world(), owns: false)
    }

    private init(handle: MPI_Comm, owns: Bool) throws {
        comm = handle
        ownsHandle = owns
        var r: Int32 = 0
        var s: Int32 = 0
        MPI_Comm_set_errhandler(handle, moe_mpi_errors_return())
        MPI_Comm_rank(handle, &r)
        MPI_Comm_size(handle, &s)
        rank = Int(r)
        size = Int(s)
    }

    deinit {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if ownsHandle && finalized == 0 {
            var handle: MPI_Comm? = comm
            MPI_Comm_free(&handle)
        }
    }

    /// Ends MPI for this process (after the last collective; every rank must call it).
    public static func finalize() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    /// `values[i] = Σ over ranks of values[i]`, in place, in pieces of at most `pieceCount`.
    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>, pieceCount: Int = Int(Int32.max)) throws {
        try inPieces(values.count, pieceCount) { start, n in
            try check(
                MPI_Allreduce(
                    moe_mpi_in_place(), values.baseAddress! + start, n, moe_mpi_float(), moe_mpi_sum(), comm),
                "MPI_Allreduce of \(values.count) floats")
        }
    }

    /// `values[i] = Σ over ranks of values[i]` for a few doubles (metrics, counts).
    public func allreduceSum(_ values: inout [Double]) throws {
        let count = values.count
        try values.withUnsafeMutableBufferPointer { buffer in
            try inPieces(count, Int(Int32.max)) { start, n in
                try check(
                    MPI_Allreduce(
                        moe_mpi_in_place(), buffer.baseAddress! + start, n, moe_mpi_double(), moe_mpi_sum(), comm),
                    "MPI_Allreduce of \(count) doubles")
            }
        }
    }

    /// Rank `root`'s `bytes` on every rank (other ranks' input is replaced, any length).
    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        var length = [Double(bytes.count)]
        try check(MPI_Bcast(&length, 1, moe_mpi_double(), Int32(clamping: root), comm), "MPI_Bcast of a length")
        let count = Int(length[0])
        if rank != root { bytes = [UInt8](repeating: 0, count: count) }
        try bytes.withUnsafeMutableBufferPointer { buffer in
            try inPieces(count, Int(Int32.max)) { start, n in
                try check(
                    MPI_Bcast(buffer.baseAddress! + start, n, moe_mpi_byte(), Int32(clamping: root), comm),
                    "MPI_Bcast of \(count) bytes")
            }
        }
    }

    /// Personalised all-to-all: `send` holds `sendCounts[d]` floats for each rank d in rank
    /// order; returns what every rank sent here, in rank order, with the count from each.
    /// The counts are exchanged first (`MPI_Alltoall`), then the data (`MPI_Alltoallv`).
    public func allToAll(_ send: [Float], sendCounts: [Int]) throws -> (values: [Float], counts: [Int]) {
        guard sendCounts.count == size, sendCounts.allSatisfy({ $0 >= 0 }), sendCounts.reduce(0, +) == send.count
        else {
            throw CommunicatorError(
                rank: rank, operation: "allToAll",
                message: "\(sendCounts.count) send counts summing to \(sendCounts.reduce(0, +)) for \(size) ranks "
                    + "and \(send.count) values")
        }
        guard send.count <= Int(Int32.max) else {
            throw CommunicatorError(rank: rank, operation: "allToAll", message: "more than 2^31-1 values")
        }
        var outCounts = sendCounts.map { Int32($0) }
        var inCounts = [Int32](repeating: 0, count: size)
        try check(
            MPI_Alltoall(&outCounts, 1, moe_mpi_int(), &inCounts, 1, moe_mpi_int(), comm), "MPI_Alltoall of counts")
        let total = inCounts.reduce(0) { $0 + Int($1) }
        guard total <= Int(Int32.max) else {
            throw CommunicatorError(rank: rank, operation: "allToAll", message: "more than 2^31-1 values to receive")
        }
        var outOffsets = offsets(outCounts)
        var inOffsets = offsets(inCounts)
        var received = [Float](repeating: 0, count: total)
        var sendCopy = send
        try check(
            MPI_Alltoallv(
                &sendCopy, &outCounts, &outOffsets, moe_mpi_float(), &received, &inCounts, &inOffsets,
                moe_mpi_float(), comm),
            "MPI_Alltoallv of \(send.count) floats")
        return (received, inCounts.map(Int.init))
    }

    /// The ranks with the same `color`, ordered by `key` (`MPI_Comm_split`).
    public func split(color: Int, key: Int) throws -> Communicator {
        var handle: MPI_Comm? = moe_mpi_comm_null()
        try check(
            MPI_Comm_split(comm, Int32(clamping: color), Int32(clamping: key), &handle), "MPI_Comm_split")
        return try Communicator(handle: handle!, owns: true)
    }

    /// Waits until every rank arrives.
    public func barrier() throws {
        try check(MPI_Barrier(comm), "MPI_Barrier")
    }

    private func offsets(_ counts: [Int32]) -> [Int32] {
        var running: Int32 = 0
        return counts.map { c in
            defer { running += c }
            return running
        }
    }

    private func inPieces(_ count: Int, _ piece: Int, _ body: (Int, Int32) throws -> Void) throws {
        var start = 0
        while start < count {
            let n = min(count - start, max(piece, 1), Int(Int32.max))
            try body(start, Int32(n))
            start += n
        }
    }

    private func check(_ code: Int32, _ operation: String) throws {
        guard code != moe_mpi_success() else { return }
        throw CommunicatorError(rank: rank, operation: operation, message: Self.errorString(code))
    }

    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(moe_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        return String(decoding: buffer.prefix(Int(max(length, 0))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
