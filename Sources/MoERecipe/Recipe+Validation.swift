import Foundation
import MoEBalancing
import MoEModel

extension Recipe {
    /// Checks values that decode fine but make no sense.
    public func validate(source: String) throws {
        func check(_ ok: Bool, _ path: String, _ why: String) throws {
            if !ok { throw RecipeError.badValue(file: source, path: path, reason: why) }
        }
        try check(!name.isEmpty && !name.contains("/"), "name", "must be a non-empty name without '/'")
        for d in datasets {
            try check(d.batchSize > 0, "datasets.\(d.name).batchSize", "must be positive")
            try check(d.samplingWeight > 0, "datasets.\(d.name).samplingWeight", "must be positive")
            try check(
                d.testFraction > 0 && d.testFraction < 1, "datasets.\(d.name).testFraction",
                "must be between 0 and 1")
            let isScenes = d.source == .scenes
            try check(
                isScenes == (d.task != .classification), "datasets.\(d.name).task",
                isScenes
                    ? "must be detection or segmentation for scenes"
                    : "must be classification for \(d.source.rawValue) (it has no boxes or masks)")
            try check(
                !isScenes || (d.trainSize > 0 && d.testSize > 0), "datasets.\(d.name).trainSize",
                "trainSize and testSize must be positive")
        }
        try check(training.steps.map { $0 > 0 } ?? true, "training.steps", "must be positive")
        try check(training.epochs.map { $0 > 0 } ?? true, "training.epochs", "must be positive")
        try check(
            training.steps != nil || training.epochs != nil, "training",
            "give training.steps or training.epochs")
        try check(training.threads >= 1, "training.threads", "must be at least 1")
        try check(training.miWeight >= 0, "training.miWeight", "must not be negative")
        try check(training.evalBatchSize >= 1, "training.evalBatchSize", "must be at least 1")
        try check(optimizer.learningRate > 0, "optimizer.lr", "must be positive")
        try check(training.diagnosticsEvery >= 0, "training.diagnosticsEvery", "must not be negative")
        let method = balancing.method.rawValue
        try check(
            !balancing.method.needsRoundRobin || stepMode == .roundRobin, "training.stepMode",
            "balancing '\(method)' needs one batch of every dataset per step (stepMode: roundRobin)")
        try check(
            !(balancing.method == .tbgc || balancing.method == .tbgcNoRescale) || optimizer.clipNorm == 0,
            "optimizer.clip",
            "must be 0 with balancing '\(method)': TBGC clips per task and is never combined with a global clip")
        try check(balancing.norm > 0, "balancing.norm", "must be positive")
        try check(balancing.lr > 0, "balancing.lr", "must be positive")
        try check(
            !(balancing.method == .gradsplit && optimizer.kind == .adamPerTask), "optimizer.kind",
            "adam-per-task cannot be combined with gradsplit")
        for d in datasets {
            let branches = augmentation[d.name] ?? []
            for (i, b) in branches.enumerated() {
                let path = "augmentation.\(d.name).\(i)"
                try check(b.weight >= 0 && (b.finalWeight ?? 0) >= 0, path + ".weight", "must not be negative")
                try check(
                    b.kind != .mixup || d.task == .classification, path + ".kind",
                    "mixup needs a classification dataset")
                try check(b.kind != .mosaic || d.source == .scenes, path + ".kind", "mosaic needs a scenes dataset")
                try check(b.minScale > 0 && b.minScale <= 1, path + ".minScale", "must be in (0, 1]")
            }
            try check(
                branches.isEmpty || branches.contains { $0.weight > 0 || ($0.finalWeight ?? 0) > 0 },
                "augmentation.\(d.name)", "needs a branch with positive weight")
        }
        if let r = balancing.relations {
            try check(
                r.count == datasets.count && r.allSatisfy { $0.count == datasets.count },
                "balancing.relations", "must be a \(datasets.count)×\(datasets.count) matrix (datasets in recipe order)"
            )
        }
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

    /// `datasetNames` turns the decoded list's `datasets.<index>` back into the recipe's
    /// `datasets.<name>`.
    static func describe(_ error: DecodingError, datasetNames: [String] = []) -> String {
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
