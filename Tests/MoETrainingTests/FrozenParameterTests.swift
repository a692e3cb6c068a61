import Testing

@testable import MoETraining

/// Frozen parameters (`isTrainable == false`) never move — not by gradients, not by weight
/// decay, with any optimiser — while every trainable one does, and frozen parameters get no
/// optimiser state.
@Suite struct FrozenParameterTests {
    /// The backbone is frozen; routers, heads and the LayerNorm scales stay trainable. (A
    /// LayerNorm with both scale and bias frozen trips the MoETensor bug described below.)
    static func isFrozenKeepingNormScales(_ name: String) -> Bool {
        !name.contains(".routers.") && !name.hasPrefix("heads.")
            && !(name.contains("norm") && name.hasSuffix(".weight"))
    }

    /// The whole backbone is frozen; only routers and heads train.
    static func isFrozenBackbone(_ name: String) -> Bool {
        !name.contains(".routers.") && !name.hasPrefix("heads.")
    }

    static func checkFrozen(optimizer: String, frozen isFrozen: (String) -> Bool) throws {
        let recipe = try tinyRecipe(steps: 4, optimizer: optimizer, weightDecay: 0.1)
        let trainer = try tinyTrainer(recipe)
        let store = trainer.model.store
        store.setTrainable(false, where: isFrozen)
        let frozen = store.parameters.filter { !$0.isTrainable }.map(\.name)
        let trainable = store.parameters.filter(\.isTrainable).map(\.name)
        #expect(frozen.count > 10 && trainable.count >= 4)
        #expect(frozen.contains("blocks.0.moe.experts.w1") && frozen.contains("patch_embed.weight"))
        #expect(frozen.contains("blocks.1.norm2.bias") && frozen.contains("pos_embed"))
        #expect(store.parameters.contains { !$0.isTrainable && $0.decays }, "decay would move some frozen tensor")

        let before = parameterBits(trainer.model)
        for _ in 0..<4 { try trainer.step() }
        let after = parameterBits(trainer.model)

        let movedFrozen = frozen.filter { before[$0] != after[$0] }
        let stuckTrainable = trainable.filter { before[$0] == after[$0] }
        #expect(movedFrozen == [], "frozen parameters changed")
        #expect(stuckTrainable == [], "trainable parameters did not change")
        let stateOwners = trainer.optimizer.stateTensors().map {
            String($0.name.split(separator: ".", maxSplits: 2)[2])
        }
        #expect(
            !stateOwners.isEmpty && stateOwners.allSatisfy { !isFrozen($0) },
            "optimiser state exists for a frozen parameter")
    }

    @Test(
        "a frozen backbone stays bit-identical under weight decay while routers and heads train",
        arguments: ["adamw", "sgd", "lamb"])
    func frozenBackbone(optimizer: String) throws {
        try Self.checkFrozen(optimizer: optimizer, frozen: Self.isFrozenKeepingNormScales)
    }

    /// Guards the fix of a memory-corruption bug: layerNormBackward with both parameter
    /// gradients nil once wrote through the shared storage of an empty array.
    @Test(
        "freezing whole LayerNorms (scale and bias) keeps them bit-identical",
        arguments: ["adamw", "sgd", "lamb"])
    func frozenLayerNorms(optimizer: String) throws {
        try Self.checkFrozen(optimizer: optimizer, frozen: Self.isFrozenBackbone)
    }
}
