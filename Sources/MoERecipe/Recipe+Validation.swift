import Foundation
import MoEBalancing
import MoEModel

extension Recipe {
    /// Upper bounds on recipe values (DESIGN §8.3). With them no product of sizes a run
    /// computes can overflow, and a typo such as `epochs: 1e30` or `threads: 100000` is an
    /// error instead of a run that never ends.
    public enum Limits {
        public static let datasets = 1...64
        public static let batchSize = 1...65_536
        public static let splitSize = 1...10_000_000
        public static let resize = 1...1_024
        /// Input side of own-image datasets (`size`).
        public static let inputSide = 1...4_096
        /// Object classes of a masks dataset: mask values 1…classes fit a byte below 255.
        public static let maskClasses = 1...254
        /// `memoryBudget` of own-image datasets, MiB (1 MiB … 1 PiB).
        public static let memoryBudgetMiB = 1...(1 << 30)
        public static let steps = 1...1_000_000_000
        public static let epochs = 1e-6...1e6
        public static let threads = 1...256
        public static let weight = 0.0...1e6
        public static let warmup = 0...1_000_000_000
    }

    /// Checks every value's range and the rules between fields; throws
    /// `RecipeError.badValue` naming the key path, the value and what is allowed.
    /// `stored`: the recipe a checkpoint keeps, where `training.steps: 0` records an operation
    /// that trained nothing (`moe prune` without fine-tuning).
    public func validate(source: String, stored: Bool = false) throws {
        let check = RecipeCheck(source: source)
        try check(!name.isEmpty && !name.contains("/"), "name", "must be a non-empty name without '/'")
        try check(
            Limits.datasets.contains(datasets.count), "datasets",
            "must name \(Limits.datasets.lowerBound)...\(Limits.datasets.upperBound) datasets, got \(datasets.count)")
        for d in datasets { try validate(d, check) }
        try validateTraining(check, stored: stored)
        try validateOptimizer(check)
        try validateBalancing(check)
        try validateAugmentation(check)
        do {
            var probe = model
            probe.datasets = []
            try probe.validate()
        } catch ModelError.invalidConfig(let field, let reason) {
            throw RecipeError.badValue(file: source, path: "model.\(field)", reason: reason)
        } catch let error as ModelError {
            throw RecipeError.badValue(file: source, path: "model", reason: error.description)
        }
    }

    private func validate(_ d: DatasetRecipe, _ check: RecipeCheck) throws {
        let path = "datasets.\(d.name)"
        try check(!d.name.isEmpty && !d.name.contains("."), path, "the name must be non-empty and contain no '.'")
        try check.range(d.batchSize, Limits.batchSize, path + ".batchSize")
        try check.range(d.samplingWeight, Limits.weight, path + ".samplingWeight")
        try check(d.samplingWeight > 0, path + ".samplingWeight", "must be positive, got \(d.samplingWeight)")
        try check.range(Double(d.lossWeight), Limits.weight, path + ".lossWeight")
        try check(
            d.testFraction > 0 && d.testFraction < 1, path + ".testFraction",
            "must be between 0 and 1 (exclusive), got \(d.testFraction)")
        if let resize = d.resize { try check.range(resize, Limits.resize, path + ".resize") }
        let isScenes = d.source == .scenes
        if let required = d.source.requiredTask {
            try check(
                d.task == required, path + ".task",
                "must be \(required.rawValue) for source \(d.source.rawValue), got \(d.task.rawValue)")
            try validateOwnImages(d, check)
        } else {
            try check(
                isScenes == (d.task != .classification), path + ".task",
                isScenes
                    ? "must be detection or segmentation for scenes"
                    : "must be classification for \(d.source.rawValue) (it has no boxes or masks)")
        }
        if isScenes {
            try check.range(d.trainSize, Limits.splitSize, path + ".trainSize")
            try check.range(d.testSize, Limits.splitSize, path + ".testSize")
        }
    }

    /// Keys of folder, coco and masks datasets: `path` given; `size` sides in `Limits.inputSide`
    /// and multiples of the patch size; `normalize` with `model.channels` finite means and
    /// positive stds; `classes` (masks) in `Limits.maskClasses` with as many `classNames`.
    private func validateOwnImages(_ d: DatasetRecipe, _ check: RecipeCheck) throws {
        let path = "datasets.\(d.name)"
        try check(d.path.map { !$0.isEmpty } ?? false, path + ".path", "is required for source \(d.source.rawValue)")
        try check(
            model.channels == 1 || model.channels == 3, "model.channels",
            "must be 1 (gray) or 3 (RGB) for source \(d.source.rawValue), got \(model.channels)")
        if let size = d.size {
            for (key, side) in [("height", size.height), ("width", size.width)] {
                try check.range(side, Limits.inputSide, path + ".size (\(key))")
                try check(
                    model.patchSize > 0 && side % model.patchSize == 0, path + ".size",
                    "\(key) \(side) must be a multiple of model.patchSize \(model.patchSize)")
            }
        }
        if let n = d.normalize {
            try check(
                n.mean.count == model.channels && n.std.count == model.channels, path + ".normalize",
                "needs \(model.channels) mean and std values (model.channels), got \(n.mean.count) and \(n.std.count)")
            try check(n.mean.allSatisfy(\.isFinite), path + ".normalize.mean", "must be finite, got \(n.mean)")
            try check(
                n.std.allSatisfy { $0.isFinite && $0 > 0 }, path + ".normalize.std", "must be positive, got \(n.std)")
        }
        for (key, value) in [("trainSplit", d.trainSplit), ("testSplit", d.testSplit)] {
            guard let value else { continue }
            try check(
                !value.isEmpty && !value.contains("/") && value != "." && value != "..", path + "." + key,
                "must be a plain folder name, got '\(value)'")
        }
        if let budget = d.memoryBudget { try check.range(budget, Limits.memoryBudgetMiB, path + ".memoryBudget") }
        try check(d.cache.map { !$0.isEmpty } ?? true, path + ".cache", "must be a folder or 'none'")
        if d.source == .masks {
            try check(d.classes != nil, path + ".classes", "is required for source masks (mask values 1…classes)")
            if let classes = d.classes { try check.range(classes, Limits.maskClasses, path + ".classes") }
        } else {
            try check(d.classes == nil, path + ".classes", "only masks datasets take classes; the data defines them")
        }
        if let names = d.classNames {
            try check(d.source == .masks, path + ".classNames", "only masks datasets take classNames")
            try check(
                names.count == d.classes, path + ".classNames",
                "needs one name per class (\(d.classes ?? 0)), got \(names.count)")
        }
    }

    private func validateTraining(_ check: RecipeCheck, stored: Bool) throws {
        if let steps = training.steps {
            try check.range(steps, (stored ? 0 : 1)...Limits.steps.upperBound, "training.steps")
        }
        if let epochs = training.epochs { try check.range(epochs, Limits.epochs, "training.epochs") }
        try check(
            training.steps != nil || training.epochs != nil, "training", "give training.steps or training.epochs")
        try check.range(training.threads, Limits.threads, "training.threads")
        try check.range(training.logEvery, 1...Int.max, "training.logEvery")
        try check.range(training.evalEvery, 0...Int.max, "training.evalEvery")
        try check.range(training.checkpointEvery, 0...Int.max, "training.checkpointEvery")
        try check.range(training.diagnosticsEvery, 0...Int.max, "training.diagnosticsEvery")
        try check.range(training.evalBatchSize, Limits.batchSize, "training.evalBatchSize")
        try check.range(training.miWeight, 0...1e3, "training.miWeight")
        if let p = training.expertParallel {
            try check.range(p, 1...ModelConfig.Limits.experts.upperBound, "training.expertParallel")
            try check(
                p == 1 || (model.experts > 0 && model.experts % p == 0), "training.expertParallel",
                "\(p) ranks per expert group must divide model.experts (\(model.experts)) evenly")
        }
        let method = balancing.method.rawValue
        try check(
            !balancing.method.needsRoundRobin || stepMode == .roundRobin, "training.stepMode",
            "balancing '\(method)' needs one batch of every dataset per step (stepMode: roundRobin)")
    }

    private func validateOptimizer(_ check: RecipeCheck) throws {
        try check.range(optimizer.learningRate, 1e-12...10, "optimizer.lr")
        try check.range(optimizer.weightDecay, 0...1, "optimizer.weightDecay")
        try check.range(optimizer.beta1, 0...0.999_999, "optimizer.beta1")
        try check.range(optimizer.beta2, 0...0.999_999_9, "optimizer.beta2")
        try check.range(optimizer.epsilon, 1e-30...1, "optimizer.eps")
        try check.range(optimizer.momentum, 0...0.999_999, "optimizer.momentum")
        try check.range(optimizer.clipNorm, 0...Float.greatestFiniteMagnitude, "optimizer.clip")
        try check.range(schedule.warmupSteps, Limits.warmup, "schedule.warmup")
        try check.range(schedule.minFactor, 0...1, "schedule.minFactor")
        try check.range(schedule.pctStart, 1e-6...0.999_999, "schedule.pctStart")
        try check.range(schedule.divFactor, 1e-6...1e9, "schedule.divFactor")
        try check.range(schedule.finalDivFactor, 1e-6...1e12, "schedule.finalDivFactor")
    }

    private func validateBalancing(_ check: RecipeCheck) throws {
        let method = balancing.method.rawValue
        try check(
            !(balancing.method == .tbgc || balancing.method == .tbgcNoRescale) || optimizer.clipNorm == 0,
            "optimizer.clip",
            "must be 0 with balancing '\(method)': TBGC clips per task and is never combined with a global clip")
        try check.range(balancing.norm, 1e-12...1e12, "balancing.norm")
        try check.range(balancing.lr, 1e-12...10, "balancing.lr")
        try check.range(balancing.alpha, 0...100, "balancing.alpha")
        try check.range(balancing.initialLogVariance, -50...50, "balancing.initialLogVariance")
        try check(
            !(balancing.method == .gradsplit && optimizer.kind == .adamPerTask), "optimizer.kind",
            "adam-per-task cannot be combined with gradsplit")
        if let r = balancing.relations {
            try check(
                r.count == datasets.count && r.allSatisfy { $0.count == datasets.count },
                "balancing.relations", "must be a \(datasets.count)×\(datasets.count) matrix (datasets in recipe order)"
            )
            try check(
                r.joined().allSatisfy { (0...1).contains($0) }, "balancing.relations",
                "entries must be between 0 and 1")
        }
    }

    private func validateAugmentation(_ check: RecipeCheck) throws {
        for d in datasets {
            let branches = augmentation[d.name] ?? []
            for (i, b) in branches.enumerated() {
                let path = "augmentation.\(d.name).\(i)"
                try check.range(b.weight, Limits.weight, path + ".weight")
                if let w = b.finalWeight { try check.range(w, Limits.weight, path + ".finalWeight") }
                try check.range(b.std, 0...100, path + ".std")
                try check(
                    b.kind != .mixup || d.task == .classification, path + ".kind",
                    "mixup needs a classification dataset")
                try check(
                    b.kind != .mosaic || d.source == .scenes || d.source == .coco || d.source == .masks, path + ".kind",
                    "mosaic needs a scenes dataset (or a coco or masks one)")
                try check(b.minScale > 0 && b.minScale <= 1, path + ".minScale", "must be in (0, 1], got \(b.minScale)")
            }
            try check(
                branches.isEmpty || branches.contains { $0.weight > 0 || ($0.finalWeight ?? 0) > 0 },
                "augmentation.\(d.name)", "needs a branch with positive weight")
        }
    }

    /// `datasetNames` turns the decoded list's `datasets.<index>` back into the recipe's
    /// `datasets.<name>`.
    public static func describe(_ error: DecodingError, datasetNames: [String] = []) -> String {
        func path(_ context: DecodingError.Context) -> String {
            var parts = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            if parts.count > 1, parts[0] == "datasets", let i = context.codingPath[1].intValue,
                datasetNames.indices.contains(i)
            {
                parts[1] = datasetNames[i]
            }
            return parts.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "'\(path(context))' should be \(type): \(context.debugDescription)"
        case .valueNotFound(let type, let context):
            return "'\(path(context))' is missing a \(type) value"
        case .keyNotFound(let key, let context):
            let p = path(context)
            return "'\(p.isEmpty ? key.stringValue : p + "." + key.stringValue)' is required"
        case .dataCorrupted(let context):
            return "'\(path(context))': \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
