import MoEBalancing
import MoEModel
import MoERecipe

extension TrainingState {
    /// Largest step count a run may have (as `Recipe.Limits.steps`).
    static let maximumSteps = Recipe.Limits.steps.upperBound

    /// Checks a saved state against the recipe, the data actually loaded and the model, so a
    /// damaged or mismatched state is an error naming the field instead of a crash or a run
    /// that silently differs. `source` names the checkpoint.
    public func validate(recipe: Recipe, data: [RunDataset], model: VisionMoE, source: String) throws {
        func check(_ ok: Bool, _ field: String, _ why: @autoclosure () -> String) throws {
            if !ok { throw TrainingError.invalidState(path: source, field: field, detail: why()) }
        }
        try check(
            (0...Self.maximumSteps).contains(step), "step", "is \(step), must be in 0...\(Self.maximumSteps)")
        try check(
            (0...Self.maximumSteps).contains(totalSteps), "totalSteps",
            "is \(totalSteps), must be in 0...\(Self.maximumSteps)")
        try check(trainingSeconds.isFinite && trainingSeconds >= 0, "trainingSeconds", "is \(trainingSeconds)")
        let names = data.map(\.name)
        try check(
            Set(batchSamplers.keys) == Set(names), "batchSamplers",
            "has samplers for \(batchSamplers.keys.sorted()), the run trains \(names)")
        for d in data {
            let sampler = batchSamplers[d.name]!
            try check(
                sampler.count == d.train.count, "batchSamplers.\(d.name).count",
                "is \(sampler.count), but dataset '\(d.name)' has \(d.train.count) training images "
                    + "(the data on disk changed since the checkpoint was written)")
            try check(
                sampler.batchSize == d.recipe.batchSize, "batchSamplers.\(d.name).batchSize",
                "is \(sampler.batchSize), the recipe says \(d.recipe.batchSize)")
        }
        try check(
            imagesSeen.values.allSatisfy { (0...(1 << 50)).contains($0) }, "imagesSeen",
            "holds a count outside 0...2^50")
        let experts = model.config.experts
        let buffers = data.count > 1 && experts > 0 ? model.moeLayerCount : 0
        try check(
            mutualInformation.count == buffers, "mutualInformation",
            "has \(mutualInformation.count) buffers, the model needs \(buffers)")
        for (i, b) in mutualInformation.enumerated() {
            try check(
                b.datasets == data.count && b.experts == experts, "mutualInformation.\(i)",
                "is \(b.datasets) datasets × \(b.experts) experts, the run has \(data.count) × \(experts)")
        }
        try check(
            (augmentationGenerator != nil) == recipe.augmentation.values.contains { !$0.isEmpty },
            "augmentationGenerator", "does not match whether the recipe augments")
        if let balancer {
            try validate(balancer, tasks: data.count, check)
            let method = recipe.balancing.method
            try check(
                method != .gradnorm || balancer.weights.count == data.count, "balancer.weights",
                "has \(balancer.weights.count) entries; gradnorm needs one per task (\(data.count))")
            try check(
                method != .uncertainty || balancer.logVariances.count == data.count, "balancer.logVariances",
                "has \(balancer.logVariances.count) entries; uncertainty weighting needs one per task (\(data.count))")
        }
        if let flags = parameterFlags {
            for f in flags {
                try check(model.store.contains(f.name), "parameterFlags", "names '\(f.name)', which the model lacks")
                let count = try model.store.parameter(named: f.name).value.shape.first ?? 0
                try check(
                    f.trainableSlices.map { $0.count == count } ?? true, "parameterFlags.\(f.name)",
                    "has \(f.trainableSlices?.count ?? 0) slices for \(count)")
            }
        }
    }

    private func validate(
        _ b: BalancerState, tasks: Int, _ check: (Bool, String, @autoclosure () -> String) throws -> Void
    ) throws {
        try check(
            b.initialLosses.map { $0.count == tasks } ?? true, "balancer.initialLosses",
            "has \(b.initialLosses?.count ?? 0) entries for \(tasks) tasks")
        for (field, values) in [
            ("weights", b.weights), ("logVariances", b.logVariances), ("initialLosses", b.initialLosses ?? []),
        ] {
            try check(
                values.isEmpty || values.count == tasks, "balancer.\(field)",
                "has \(values.count) entries for \(tasks) tasks")
            try check(values.allSatisfy(\.isFinite), "balancer.\(field)", "holds NaN or infinite values")
        }
        try check(b.adamM.count == b.adamV.count, "balancer.adamM", "and adamV differ in length")
        try check(
            (b.adamM + b.adamV).allSatisfy(\.isFinite) && b.adamV.allSatisfy { $0 >= 0 }, "balancer.adamV",
            "holds NaN, infinite or negative values")
        try check((0...(1 << 40)).contains(b.adamSteps), "balancer.adamSteps", "is outside 0...2^40")
    }
}
