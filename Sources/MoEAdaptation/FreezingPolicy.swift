import MoEModel
import MoETensor

/// Decides which parameters of a model learn while it is adapted to one dataset.
///
/// `apply` first freezes nothing in particular: it sets `isTrainable`, `trainableSlices`
/// and (for partially trainable expert banks) `decays` on every parameter of the store.
/// Frozen parameters get no gradient and are never changed by any optimiser, so they are
/// bit-identical after training (DESIGN §6). Conform to add your own policy, e.g. "router
/// and the last two blocks".
public protocol FreezingPolicy: Sendable {
    /// A short description for logs and the checkpoint's history, e.g. "router-only".
    var name: String { get }
    /// Marks what trains when adapting `model` to `dataset`.
    func apply(to model: VisionMoE, dataset: String) throws
}

extension FreezingPolicy {
    /// Freezes everything, then unfreezes the routers and head of `dataset`.
    static func freezeAllButRoutersAndHead(_ model: VisionMoE, dataset: String) throws {
        _ = try model.config.dataset(named: dataset)
        for p in model.store.parameters {
            p.trainableSlices = nil
            restoreExpertDecay(p)
            p.isTrainable =
                ParameterName.isRouter(p.name, of: dataset)
                || ParameterName.isHead(p.name, of: dataset)
        }
    }
}

/// Router-only: the dataset's router in every MoE layer and its head learn; the backbone,
/// the experts and every other dataset's router and head are frozen.
public struct RouterOnly: FreezingPolicy {
    public init() {}
    public var name: String { "router-only" }
    public func apply(to model: VisionMoE, dataset: String) throws {
        try Self.freezeAllButRoutersAndHead(model, dataset: dataset)
    }
}

/// Router, head and some experts: `experts[i]` lists the experts of MoE layer i that learn
/// (the rest of each expert bank stays bit-identical). Trainable expert banks get no weight
/// decay, so their frozen slices (zero gradient, zero moments) are exactly unchanged by
/// AdamW, LAMB and SGD alike.
public struct RouterAndExperts: FreezingPolicy {
    public let experts: [[Int]]
    public init(experts: [[Int]]) { self.experts = experts }
    public var name: String { "router+\(experts.first?.count ?? 0)-experts" }

    public func apply(to model: VisionMoE, dataset: String) throws {
        try Self.freezeAllButRoutersAndHead(model, dataset: dataset)
        let layers = model.config.moeBlocks
        guard experts.count == layers.count else {
            throw AdaptationError.invalid(
                "expected one list of trainable experts per MoE layer (\(layers.count)), got \(experts.count)")
        }
        for (i, block) in layers.enumerated() {
            var slices = [Bool](repeating: false, count: model.config.experts)
            for e in experts[i] {
                guard slices.indices.contains(e) else {
                    throw AdaptationError.invalid(
                        "expert \(e) of MoE layer \(i) is outside 0..<\(model.config.experts)")
                }
                slices[e] = true
            }
            for part in ParameterName.ExpertPart.allCases {
                let p = try model.store.parameter(named: ParameterName.experts(block: block, part))
                p.isTrainable = slices.contains(true)
                p.trainableSlices = slices
                p.decays = false
            }
        }
    }
}

/// Full fine-tuning: every parameter learns (the baseline that forgets).
public struct FullFineTune: FreezingPolicy {
    public init() {}
    public var name: String { "full fine-tune" }
    public func apply(to model: VisionMoE, dataset: String) throws {
        _ = try model.config.dataset(named: dataset)
        for p in model.store.parameters {
            p.isTrainable = true
            p.trainableSlices = nil
            restoreExpertDecay(p)
        }
    }
}

/// Gives an expert bank back its usual weight-decay flag (`RouterAndExperts` clears it).
func restoreExpertDecay(_ p: Parameter) {
    if ParameterName.isExpertBank(p.name) { p.decays = !isExcludedFromWeightDecay(p.name) }
}
