import MoEBalancing
import MoEData
import MoERecipe
import MoETensor

/// Everything besides weights and optimiser moments that a resumed run needs to continue
/// exactly as an uninterrupted one: the step, the two-step sampler's generator and each
/// dataset's batch order.
public struct TrainingState: Codable, Sendable, Equatable {
    public var step: Int
    public var totalSteps: Int
    /// Draws which dataset each step trains on.
    public var datasetChooser: SeededGenerator
    /// Each dataset's own epoch-wise batch order, by dataset name.
    public var batchSamplers: [String: BatchSampler]
    /// Images seen per dataset.
    public var imagesSeen: [String: Int]
    /// Wall time spent training so far, across resumes.
    public var trainingSeconds: Double
    /// Per MoE layer, the running dataset × expert buffer of the MI loss (DESIGN §4);
    /// empty for dense models and single-dataset runs.
    public var mutualInformation: [MutualInformationBuffer]
    /// What the balancing method has learned (roundRobin runs; nil in sampled runs).
    public var balancer: BalancerState?
    /// Draws of multi-branch augmentation (nil when the recipe has none).
    public var augmentationGenerator: SeededGenerator?
    /// The datasets this run trains when they are a subset of the recipe's (an adaptation
    /// trains only its new dataset); nil: all of them.
    public var trainedDatasets: [String]?
    /// How each parameter trains when some are frozen (adaptation policies); nil: all train
    /// with their usual weight decay. A resumed run restores these flags.
    public var parameterFlags: [ParameterFlags]?

    public init(recipe: Recipe, data: [RunDataset], totalSteps: Int, moeLayers: Int) {
        step = 0
        self.totalSteps = totalSteps
        datasetChooser = SeededGenerator(seed: recipe.seed &+ 0x5A3D)
        batchSamplers = [:]
        imagesSeen = [:]
        for (i, d) in data.enumerated() {
            batchSamplers[d.name] = BatchSampler(
                count: d.train.count, batchSize: d.recipe.batchSize,
                seed: recipe.seed &* 1_000_003 &+ UInt64(i) &+ 17)
            imagesSeen[d.name] = 0
        }
        trainingSeconds = 0
        augmentationGenerator =
            recipe.augmentation.values.contains { !$0.isEmpty }
            ? SeededGenerator(seed: recipe.seed &+ 0xA065) : nil
        mutualInformation =
            data.count > 1 && recipe.model.experts > 0
            ? (0..<moeLayers).map { _ in
                MutualInformationBuffer(datasets: data.count, experts: recipe.model.experts)
            }
            : []
    }
}

/// One parameter's training flags, as a checkpoint keeps them.
public struct ParameterFlags: Codable, Sendable, Equatable {
    public var name: String
    public var isTrainable: Bool
    public var trainableSlices: [Bool]?
    public var decays: Bool
}
