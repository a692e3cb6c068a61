import MoETensor

/// What an expert-parallel MoE layer keeps between forward and backward (DESIGN §11.2):
/// the rows other group ranks sent to this rank's experts, and the activations of running
/// them. Shapes: R = rows received from the whole group; D width, F expert hidden.
final class RemoteExpertCache {
    /// Set by a training forward that exchanged; nil when the experts ran locally.
    var parallel: ExpertParallelism?
    /// Rows (assignments) this rank sent to each group rank, in group-rank order.
    var sentRows: [Int] = []
    /// Where each source rank's rows start in the received buffers, and their offsets by
    /// this rank's experts (`[E/P + 1]`, local expert j = e − g·E/P, relative to that start).
    var segments: [(start: Int, offsets: [Int])] = []
    let input = ScratchBuffer()  // [R, D]
    let activation = ScratchBuffer()  // [R, F]
    let derivative = ScratchBuffer()  // [R, F] GELU'
    let output = ScratchBuffer()  // [R, D]
    let dOutput = ScratchBuffer()  // [R, D]
    let dHidden = ScratchBuffer()  // [R, F]
    let dInput = ScratchBuffer()  // [R, D]

    /// Rows received from all source ranks.
    var receivedRows: Int {
        guard let last = segments.last else { return 0 }
        return last.start + (last.offsets.last ?? 0)
    }

    /// Rows received from source `s`.
    func rows(from s: Int) -> Int { segments[s].offsets.last ?? 0 }
}

/// A count exchanged by an expert-parallel layer did not match what the layer expected.
public struct ExpertExchangeError: Error, CustomStringConvertible {
    public let detail: String
    public var description: String { "expert-parallel exchange: \(detail)" }
}
