import Foundation
import MoEDistributed

// Self-check of the MPI binding, run by the tests under `mpirun -np N`: every collective
// against values each rank can compute alone. Prints "rank r/N: ok" or the first mismatch
// and exits 1. `--die-rank R`: rank R kills itself (SIGKILL) while the others wait in a
// collective, to show that the launcher ends the job instead of hanging.

func require(_ ok: Bool, _ what: String, rank: Int) {
    guard ok else {
        FileHandle.standardError.write(Data("rank \(rank): \(what)\n".utf8))
        exit(1)
    }
}

let world = try Communicator.world()
let (rank, size) = (world.rank, world.size)
let arguments = CommandLine.arguments
if let i = arguments.firstIndex(of: "--die-rank"), i + 1 < arguments.count, let victim = Int(arguments[i + 1]) {
    try world.barrier()
    if rank == victim { kill(getpid(), SIGKILL) }
    var values = [Float](repeating: 1, count: 16)
    try values.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
    print("rank \(rank)/\(size): survived a dead rank (unexpected)")
    exit(2)
}

// Allreduce: rank r contributes (r + 1)·(i + 1); sent in pieces of 7 to cover piecing.
var values = (0..<100).map { Float((rank + 1) * ($0 + 1)) }
try values.withUnsafeMutableBufferPointer { try world.allreduceSum($0, pieceCount: 7) }
let ranksSum = Float(size * (size + 1) / 2)
require(values == (0..<100).map { ranksSum * Float($0 + 1) }, "allreduce float mismatch", rank: rank)
var doubles = [Double(rank), 1]
try world.allreduceSum(&doubles)
require(doubles == [Double(size * (size - 1) / 2), Double(size)], "allreduce double mismatch", rank: rank)

// Broadcast: rank 0's bytes reach everyone.
var bytes = rank == 0 ? Array("broadcast from rank 0".utf8) : []
try world.broadcast(&bytes, root: 0)
require(String(decoding: bytes, as: UTF8.self) == "broadcast from rank 0", "broadcast mismatch", rank: rank)

// All-to-all: rank r sends d + 1 copies of 100·r + d to rank d.
let counts = (0..<size).map { $0 + 1 }
let send = (0..<size).flatMap { d in [Float](repeating: Float(100 * rank + d), count: d + 1) }
let (received, receivedCounts) = try world.allToAll(send, sendCounts: counts)
require(receivedCounts == [Int](repeating: rank + 1, count: size), "all-to-all counts", rank: rank)
let expected = (0..<size).flatMap { s in [Float](repeating: Float(100 * s + rank), count: rank + 1) }
require(received == expected, "all-to-all values", rank: rank)

// Split by parity: each half sums its own ranks.
let half = try world.split(color: rank % 2, key: rank)
var mine = [Double(rank)]
try half.allreduceSum(&mine)
let members = (0..<size).filter { $0 % 2 == rank % 2 }
require(half.size == members.count && mine[0] == Double(members.reduce(0, +)), "split mismatch", rank: rank)

// Errors come back, naming the rank: a root outside the communicator.
do {
    var junk: [UInt8] = []
    try world.broadcast(&junk, root: size + 3)
    require(false, "broadcast to an invalid root did not fail", rank: rank)
} catch let error as CommunicatorError {
    require(error.rank == rank && error.description.contains("MPI rank \(rank)"), "error text: \(error)", rank: rank)
}

try world.barrier()
print("rank \(rank)/\(size): ok")
Communicator.finalize()
