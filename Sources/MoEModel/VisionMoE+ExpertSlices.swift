import MoETensor

/// The sharded expert store (DESIGN §11.2): under expert parallelism a rank's store may hold
/// only its slice `[E/P, …]` of every expert bank. Only expert-parallel training passes can
/// run such a model; everything else needs the full banks `[E, …]`.
extension VisionMoE {
    /// Whether some expert bank holds fewer than `config.experts` experts.
    public var holdsExpertSlices: Bool {
        config.moeBlocks.contains { l in
            let bank = try? store.parameter(named: ParameterName.experts(block: l, .w1))
            return (bank?.value.shape.first ?? config.experts) != config.experts
        }
    }

    /// - Throws: `ModelError.invalidConfig` naming `operation` when the store holds only a
    ///   slice of the expert banks.
    public func requireFullExpertBanks(for operation: String) throws {
        guard holdsExpertSlices else { return }
        throw ModelError.invalidConfig(
            field: "expertParallel",
            reason: "\(operation) needs every expert, but this rank holds only its slice of the expert banks "
                + "(gather them first: Trainer.withFullExpertBanks)")
    }
}
