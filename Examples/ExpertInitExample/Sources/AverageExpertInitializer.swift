import MoEAdaptation
import MoETensor

/// An example continual-learning extension: new experts start as the average of the old
/// experts of their layer (a "generalist" start) plus a little noise, instead of a fresh
/// random initialisation or a copy of one expert.
///
/// Use it like the built-in initialisers:
///
///     let (model, record) = try Adaptation.expand(
///         source, dataset: data, count: 2, initializer: AverageExpertInitializer(noise: 0.01),
///         steps: 300, seed: 0, recipe: recipe, history: history, checkpointPath: path) { _, _ in }
public struct AverageExpertInitializer: ExpansionInitializer {
    public let noise: Float

    public init(noise: Float = 0.01) { self.noise = noise }

    public var name: String { "average-of-old(noise \(noise))" }

    public func initialize(_ bank: inout ExpertBank, context: ExpansionContext, rng: inout SeededGenerator) {
        let old = context.oldCount
        for path in [\ExpertBank.w1, \.b1, \.w2, \.b2] as [WritableKeyPath<ExpertBank, Tensor>] {
            let size = bank[keyPath: path].count / bank.count
            var mean = [Float](repeating: 0, count: size)
            for e in 0..<old {
                for i in 0..<size { mean[i] += bank[keyPath: path].storage[e * size + i] / Float(old) }
            }
            let isWeight = path == \ExpertBank.w1 || path == \ExpertBank.w2
            for e in old..<bank.count {
                for i in 0..<size {
                    bank[keyPath: path].storage[e * size + i] = mean[i] + (isWeight ? noise * rng.normal() : 0)
                }
            }
        }
    }
}
