import MoETensor

/// An optimiser whose whole state is one `OptimizerState` (`SGD`, `AdamW`, `LAMB`): its step
/// count and checkpoint state come from that state, saved under `kind`.
public protocol SingleStateOptimizer: Optimizer {
    /// What `"optim.kind"` records, and what `loadState` requires of a checkpoint.
    static var kind: OptimizerKind { get }
    /// Slots, per-parameter update counts and the step count.
    var state: OptimizerState { get set }
}

extension SingleStateOptimizer {
    public var stepCount: Int { state.stepCount }

    public func stateTensors() -> [(name: String, tensor: Tensor)] { state.tensors() }

    public var stateMetadata: [String: String] { state.metadata(kind: Self.kind) }

    public mutating func loadState(
        tensors: [String: Tensor], metadata: [String: String], store: ParameterStore
    ) throws {
        state = try state.loading(kind: Self.kind, tensors: tensors, metadata: metadata, store: store)
    }
}
