/// Expert parallelism as the model sees it (DESIGN §11.2): the group's all-to-all, which
/// experts of a bank of E run here, and the first exchange error.
///
/// The forward and backward passes do not throw, so a failed exchange is remembered (the
/// layer then writes zeros and skips later exchanges) and `throwIfFailed()` reports it:
/// `VisionMoE.forwardFeatures` calls it after the blocks, the trainer after `backward`.
public final class ExpertParallelism {
    public let exchange: any ExpertExchange
    /// The first error of an exchange since the last `throwIfFailed()`.
    public private(set) var failure: (any Error)?

    /// - Throws: `ModelError.invalidConfig` when the group size is not positive or the rank
    ///   is outside the group.
    public init(_ exchange: any ExpertExchange) throws {
        guard exchange.groupSize >= 1, (0..<exchange.groupSize).contains(exchange.groupRank) else {
            throw ModelError.invalidConfig(
                field: "expertParallel",
                reason: "group rank \(exchange.groupRank) is outside 0..<\(exchange.groupSize)")
        }
        self.exchange = exchange
    }

    /// P.
    public var groupSize: Int { exchange.groupSize }
    /// g.
    public var groupRank: Int { exchange.groupRank }

    /// The experts of a bank of `experts` that run on group rank `g`: `[g·E/P, (g+1)·E/P)`.
    public func ownedExperts(of experts: Int, groupRank g: Int) -> Range<Int> {
        let per = experts / groupSize
        return g * per..<(g + 1) * per
    }

    /// The exchange, or nil after a failure (this one or an earlier one, then recorded).
    func allToAll(_ send: [Float], sendCounts: [Int]) -> (values: [Float], counts: [Int])? {
        guard failure == nil else { return nil }
        do {
            return try exchange.exchange(send, sendCounts: sendCounts)
        } catch {
            failure = error
            return nil
        }
    }

    /// Records a failure found by the layer itself (counts that do not add up).
    func fail(_ error: any Error) {
        if failure == nil { failure = error }
    }

    /// Throws (and clears) the first exchange error since the last call.
    public func throwIfFailed() throws {
        guard let error = failure else { return }
        failure = nil
        throw error
    }
}
