import MoEModel
import MoETensor

/// The stacked weights of one MoE layer's experts, as plain tensors:
/// `w1[E, D, F]`, `b1[E, F]`, `w2[E, F, D]`, `b2[E, D]`.
public struct ExpertBank: Sendable {
    public var w1: Tensor
    public var b1: Tensor
    public var w2: Tensor
    public var b2: Tensor

    public init(w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) {
        (self.w1, self.b1, self.w2, self.b2) = (w1, b1, w2, b2)
    }

    /// Number of experts E.
    public var count: Int { w1.shape[0] }

    /// The four tensors with their parts, in `ExpertPart` order.
    public var parts: [(part: ParameterName.ExpertPart, tensor: Tensor)] {
        [(.w1, w1), (.b1, b1), (.w2, w2), (.b2, b2)]
    }

    /// Copies expert `source` onto expert `target` in all four tensors.
    public mutating func copyExpert(_ source: Int, to target: Int) {
        for path in [\ExpertBank.w1, \.b1, \.w2, \.b2] as [WritableKeyPath<ExpertBank, Tensor>] {
            let size = self[keyPath: path].count / count
            let values = Array(self[keyPath: path].storage[(source * size)..<((source + 1) * size)])
            self[keyPath: path].storage.replaceSubrange((target * size)..<((target + 1) * size), with: values)
        }
    }
}

/// What an expansion initialiser knows about one MoE layer.
public struct ExpansionContext: Sendable {
    /// Index of the MoE layer (0-based, in block order).
    public var moeLayer: Int
    /// Experts the layer had before expansion; experts `oldCount..<bank.count` are new.
    public var oldCount: Int
    /// Per old expert, the share of the new dataset's token assignments measured with the
    /// source model's routers (sums to 1), when measured.
    public var usage: [Double]?

    public init(moeLayer: Int, oldCount: Int, usage: [Double]?) {
        self.moeLayer = moeLayer
        self.oldCount = oldCount
        self.usage = usage
    }
}

/// How appended experts start (DESIGN §6 expansion). Only experts `oldCount...` may be
/// changed; the old ones must stay as they are (the expansion checks it).
public protocol ExpansionInitializer: Sendable {
    /// A short description for the checkpoint's history.
    var name: String { get }
    /// Writes the new experts of `bank`; on entry they hold a fresh truncated-normal
    /// (std 0.02) initialisation with zero biases.
    func initialize(_ bank: inout ExpertBank, context: ExpansionContext, rng: inout SeededGenerator)
}

/// Keeps the fresh initialisation (truncated normal, std 0.02; zero biases).
public struct FreshExperts: ExpansionInitializer {
    public init() {}
    public var name: String { "fresh" }
    public func initialize(_ bank: inout ExpertBank, context: ExpansionContext, rng: inout SeededGenerator) {}
}

/// Copies the old experts the source routers would send the new data to most (Mod-Squad and
/// MTHL copy old experts; without usage, the first ones) and adds Gaussian noise of standard
/// deviation `noise` to the weights, so copies can diverge.
public struct CopyMostUsed: ExpansionInitializer {
    public let noise: Float
    public init(noise: Float = 0.01) { self.noise = noise }
    public var name: String { "copy-most-used(noise \(noise))" }

    public func initialize(_ bank: inout ExpertBank, context: ExpansionContext, rng: inout SeededGenerator) {
        let usage = context.usage ?? [Double](repeating: 1, count: context.oldCount)
        let order = ExpertSelection.mostUsed.choose(count: context.oldCount, usage: [usage], seed: 0)[0]
            .sorted { usage[$0] > usage[$1] || (usage[$0] == usage[$1] && $0 < $1) }
        for (n, target) in (context.oldCount..<bank.count).enumerated() {
            bank.copyExpert(order[n % order.count], to: target)
        }
        for path in [\ExpertBank.w1, \.w2] as [WritableKeyPath<ExpertBank, Tensor>] {
            let size = bank[keyPath: path].count / bank.count
            for i in (context.oldCount * size)..<bank[keyPath: path].count {
                bank[keyPath: path].storage[i] += noise * rng.normal()
            }
        }
    }
}
