import Foundation

@testable import MoETraining

/// N in-process "ranks" on threads that sum through shared memory: every allreduce waits
/// for all ranks, then each receives the same sum, taken in rank order (as MPI would give
/// every rank the same bits).
final class ThreadGroup: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var slots: [[Double]?]
    private var result: [Double] = []
    private var arrived = 0
    private var departed = 0
    private var departing = false

    init(size: Int) {
        self.size = size
        slots = Array(repeating: nil, count: size)
    }

    /// The element-wise sum of every rank's `values`, summed with `add` in rank order.
    func exchange(rank: Int, _ values: [Double], add: (Double, Double) -> Double) -> [Double] {
        condition.lock()
        defer { condition.unlock() }
        while departing { condition.wait() }
        slots[rank] = values
        arrived += 1
        if arrived == size {
            var sum = slots[0]!
            for r in 1..<size {
                for i in sum.indices { sum[i] = add(sum[i], slots[r]![i]) }
            }
            result = sum
            departing = true
            condition.broadcast()
        } else {
            while !departing { condition.wait() }
        }
        let out = result
        departed += 1
        if departed == size {
            (arrived, departed, departing) = (0, 0, false)
            slots = Array(repeating: nil, count: size)
            condition.broadcast()
        }
        return out
    }

    /// One rank's view of the group.
    func rank(_ r: Int) -> ThreadRank { ThreadRank(group: self, rank: r) }

    /// Runs `body(r)` for every rank on its own thread and waits; rethrows the first error.
    func run(_ body: @escaping @Sendable (Int) throws -> Void) throws {
        let done = DispatchGroup()
        let errors = ErrorBox()
        for r in 0..<size {
            done.enter()
            let thread = Thread {
                do { try body(r) } catch { errors.record(error) }
                done.leave()
            }
            thread.stackSize = 64 << 20
            thread.start()
        }
        done.wait()
        if let error = errors.first { throw error }
    }
}

/// The first error any rank threw.
final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var first: (any Error)?
    func record(_ error: any Error) {
        lock.lock()
        if first == nil { first = error }
        lock.unlock()
    }
}

/// A `Collective` over a `ThreadGroup`: Float sums are taken in Float, like `MPI_FLOAT`.
final class ThreadRank: Collective, @unchecked Sendable {
    let group: ThreadGroup
    let rank: Int
    var size: Int { group.size }

    init(group: ThreadGroup, rank: Int) {
        self.group = group
        self.rank = rank
    }

    func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        let sum = group.exchange(rank: rank, values.map(Double.init)) { Double(Float($0) + Float($1)) }
        for i in values.indices { values[i] = Float(sum[i]) }
    }

    func allreduceSum(_ values: inout [Double]) throws {
        values = group.exchange(rank: rank, values, add: +)
    }
}
