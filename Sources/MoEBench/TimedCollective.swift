import Foundation
import MoETraining

/// A `Collective` that forwards to another and counts what passes through it: wall time
/// inside the sums and the bytes each rank hands to them (DESIGN §11.3, `moe bench
/// --distributed`). The time includes waiting for the slowest rank to arrive.
public class TimedCollective: Collective {
    public let inner: any Collective
    /// Seconds spent in `allreduceSum` since the last `reset()`.
    public private(set) var seconds = 0.0
    /// Payload bytes (4 per Float, 8 per Double) this rank passed to `allreduceSum`.
    public private(set) var bytes = 0
    /// `allreduceSum` calls.
    public private(set) var calls = 0

    public init(_ inner: any Collective) { self.inner = inner }

    public var rank: Int { inner.rank }
    public var size: Int { inner.size }

    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { record(since: t0, bytes: 4 * values.count) }
        try inner.allreduceSum(values)
    }

    public func allreduceSum(_ values: inout [Double]) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { record(since: t0, bytes: 8 * values.count) }
        try inner.allreduceSum(&values)
    }

    /// Forgets the counts.
    public func reset() {
        (seconds, bytes, calls) = (0, 0, 0)
        resetExchanges()
    }

    /// Seconds in expert all-to-all exchanges since the last `reset()` (0 without expert
    /// parallelism; `TimedExpertCollective` counts them).
    public var exchangeSeconds: Double { 0 }
    /// Bytes this rank sent in expert all-to-all exchanges since the last `reset()`.
    public var exchangeBytes: Int { 0 }

    func resetExchanges() {}

    func record(since t0: UInt64, bytes: Int) {
        seconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        self.bytes += bytes
        calls += 1
    }
}
