import Foundation
import MoETraining

/// A `TimedCollective` over an expert-parallel collective: the expert groups' sums count as
/// reductions, and the all-to-all exchanges (four per MoE layer and training pass, DESIGN
/// §11.2) are timed and counted on their own.
public final class TimedExpertCollective: TimedCollective, ExpertCollective {
    private let expertInner: any ExpertCollective
    private var allToAllSeconds = 0.0
    private var allToAllBytes = 0

    public init(_ inner: any ExpertCollective) {
        expertInner = inner
        super.init(inner)
    }

    override public var exchangeSeconds: Double { allToAllSeconds }
    override public var exchangeBytes: Int { allToAllBytes }
    override func resetExchanges() { (allToAllSeconds, allToAllBytes) = (0, 0) }

    public func expertGroupAllToAll(_ send: [Float], sendCounts: [Int], groupSize p: Int) throws -> (
        values: [Float], counts: [Int]
    ) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer {
            allToAllSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            allToAllBytes += 4 * send.count
        }
        return try expertInner.expertGroupAllToAll(send, sendCounts: sendCounts, groupSize: p)
    }

    public func sameExpertsSum(_ values: UnsafeMutableBufferPointer<Float>, groupSize p: Int) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { record(since: t0, bytes: 4 * values.count) }
        try expertInner.sameExpertsSum(values, groupSize: p)
    }

    public func expertGroupSum(_ values: UnsafeMutableBufferPointer<Float>, groupSize p: Int) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { record(since: t0, bytes: 4 * values.count) }
        try expertInner.expertGroupSum(values, groupSize: p)
    }

    public func expertGroupSum(_ values: inout [Double], groupSize p: Int) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { record(since: t0, bytes: 8 * values.count) }
        try expertInner.expertGroupSum(&values, groupSize: p)
    }
}
