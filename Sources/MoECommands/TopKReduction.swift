import ArgumentParser
import Foundation
import MoEAdaptation
import MoEModel

/// `moe eval --top-k K`: every dataset runs with K experts per token.
enum TopKReduction {
    /// The model with K = `k` for every dataset; prints each dataset's FLOPs ratio against
    /// the checkpoint as saved, and the parameter counts.
    static func apply(_ k: Int, to model: VisionMoE, report: (String) -> Void = say) throws -> VisionMoE {
        guard !model.config.isDense else { throw AdaptationError.invalid("--top-k needs an MoE checkpoint") }
        for spec in model.config.datasets {
            let allowed =
                (0..<model.moeLayerCount).map { layer in
                    (0..<model.config.experts).filter { model.config.allows(spec, moeLayer: layer, expert: $0) }.count
                }.min() ?? 0
            if k > allowed {
                throw AdaptationError.invalid(
                    "--top-k \(k) is more than the \(allowed) experts dataset '\(spec.name)' may use")
            }
        }
        let reduced = try model.settingTopK(k, datasets: model.config.datasets.map(\.name))
        report("top-\(k) for every dataset; trainable parameters: 0, model parameters: \(reduced.store.scalarCount)")
        for spec in model.config.datasets {
            let ratio =
                try reduced.forwardFLOPs(dataset: spec.name, batch: 1)
                / model.forwardFLOPs(dataset: spec.name, batch: 1)
            report(
                "  \(spec.name): top-\(model.config.topK(of: spec)) → top-\(k), FLOPs ratio \(String(format: "%.3f", ratio))"
            )
        }
        return reduced
    }
}
