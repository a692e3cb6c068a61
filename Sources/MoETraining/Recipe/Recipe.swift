import Foundation
import MoEData
import MoEModel

/// Where a dataset's images come from.
public enum DataSourceKind: String, Codable, Sendable, CaseIterable {
    /// Fashion-MNIST IDX files (Debian's `dataset-fashion-mnist`).
    case fashionMNIST = "fashion-mnist"
    /// scikit-learn's bundled 8×8 digits (Debian's `python3-sklearn`).
    case digits
    /// Canvases composed from Fashion-MNIST items, with boxes and masks (DESIGN §8).
    case scenes
}

/// One dataset of a run: its source, batch size, and its weights in the two-step sampler
/// and the step loss.
public struct DatasetRecipe: Codable, Sendable, Equatable {
    public var name: String
    public var source: DataSourceKind
    /// What the dataset's head predicts; image sources are classification, scenes need
    /// `detection` or `segmentation`.
    public var task: TaskKind
    /// Directory (Fashion-MNIST, scenes' items) or file (digits); `nil` uses the Debian
    /// package's path.
    public var path: String?
    /// How scenes are composed (scenes only).
    public var scene: SceneConfig?
    /// Number of train / test scenes (scenes only).
    public var trainSize: Int = 20_000
    public var testSize: Int = 1_000
    public var batchSize: Int = 64
    /// s_t: relative probability of drawing this dataset for a step.
    public var samplingWeight: Double = 1
    /// λ_t: weight of this dataset's loss.
    public var lossWeight: Float = 1
    /// Fraction held out as the test split where the source has no split of its own (digits).
    public var testFraction: Double = 0.2
    /// Resample images to this square size (digits: e.g. 28 to match a Fashion-MNIST
    /// backbone's patch scale); nil keeps the source's size.
    public var resize: Int?

    public init(name: String, source: DataSourceKind, task: TaskKind = .classification) {
        self.name = name
        self.source = source
        self.task = task
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, source, task, path, scene, trainSize, testSize, batchSize, samplingWeight
        case lossWeight, testFraction, resize
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        source = try c.decode(DataSourceKind.self, forKey: .source)
        task = try c.decodeIfPresent(TaskKind.self, forKey: .task) ?? .classification
        path = try c.decodeIfPresent(String.self, forKey: .path)
        scene = try c.decodeIfPresent(SceneConfig.self, forKey: .scene)
        trainSize = try c.decodeIfPresent(Int.self, forKey: .trainSize) ?? 20_000
        testSize = try c.decodeIfPresent(Int.self, forKey: .testSize) ?? 1_000
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? 64
        samplingWeight = try c.decodeIfPresent(Double.self, forKey: .samplingWeight) ?? 1
        lossWeight = try c.decodeIfPresent(Float.self, forKey: .lossWeight) ?? 1
        testFraction = try c.decodeIfPresent(Double.self, forKey: .testFraction) ?? 0.2
        resize = try c.decodeIfPresent(Int.self, forKey: .resize)
    }
}

/// How long to train and how often to log, evaluate and save.
public struct TrainingSettings: Codable, Sendable, Equatable {
    /// Optimiser steps; overrides `epochs` when both are given.
    public var steps: Int?
    /// Passes over the data: steps = epochs × Σ_t (examples_t / batch_t).
    public var epochs: Double?
    public var logEvery: Int = 50
    /// Evaluate on the test splits every N steps (0: only at the end).
    public var evalEvery: Int = 0
    /// Save a checkpoint every N steps (0: only at the end).
    public var checkpointEvery: Int = 0
    public var evalBatchSize: Int = 256
    /// Worker threads for OpenBLAS and the element-wise kernels.
    public var threads: Int = 2
    /// w_MI: weight of the mutual-information loss summed over MoE layers (DESIGN §4);
    /// used when a run has several datasets and experts.
    public var miWeight: Float = 5e-4
    /// `sampled` (one dataset per step) or `roundRobin` (every dataset each step); nil:
    /// roundRobin when the balancing method needs it, else sampled.
    public var stepMode: StepMode?
    /// Log gradient-conflict diagnostics every N steps (roundRobin only; 0 = never).
    public var diagnosticsEvery: Int = 0

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case steps, epochs, logEvery, evalEvery, checkpointEvery, evalBatchSize, threads, miWeight
        case stepMode, diagnosticsEvery
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try c.decodeIfPresent(Int.self, forKey: .steps)
        epochs = try c.decodeIfPresent(Double.self, forKey: .epochs)
        logEvery = try c.decodeIfPresent(Int.self, forKey: .logEvery) ?? 50
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? 0
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? 0
        evalBatchSize = try c.decodeIfPresent(Int.self, forKey: .evalBatchSize) ?? 256
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? 2
        miWeight = try c.decodeIfPresent(Float.self, forKey: .miWeight) ?? 5e-4
        stepMode = try c.decodeIfPresent(StepMode.self, forKey: .stepMode)
        diagnosticsEvery = try c.decodeIfPresent(Int.self, forKey: .diagnosticsEvery) ?? 0
    }
}

/// A whole run described as data: model, datasets, optimiser, schedule, length, output.
/// Read from YAML (`recipes/*.yaml`), overridable with `--set`, saved in every checkpoint.
public struct Recipe: Codable, Sendable, Equatable {
    public var name: String
    public var seed: UInt64 = 0
    /// Architecture; its `datasets` are filled in from the data when the run starts.
    public var model: ModelConfig
    public var datasets: [DatasetRecipe]
    public var optimizer: OptimizerSettings
    public var schedule: LRSchedule
    public var training: TrainingSettings
    /// How task losses or gradients are combined (DESIGN §5); default `static` (λ_t).
    public var balancing: BalancingSettings
    /// Multi-branch augmentation: dataset name → branches (one drawn per sample).
    public var augmentation: [String: [AugmentationBranch]]
    /// Checkpoint path; default `checkpoints/<name>/<name>.moe`.
    public var output: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, seed, model, datasets, optimizer, schedule, training, balancing, augmentation, output
    }

    /// The step mode in effect (`training.stepMode`, else what the balancing method needs).
    public var stepMode: StepMode {
        training.stepMode ?? (balancing.method.needsRoundRobin ? .roundRobin : .sampled)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        model = try c.decodeIfPresent(ModelConfig.self, forKey: .model) ?? ModelConfig()
        datasets = try c.decode([DatasetRecipe].self, forKey: .datasets)
        optimizer = try c.decodeIfPresent(OptimizerSettings.self, forKey: .optimizer) ?? OptimizerSettings()
        schedule = try c.decodeIfPresent(LRSchedule.self, forKey: .schedule) ?? LRSchedule()
        training = try c.decodeIfPresent(TrainingSettings.self, forKey: .training) ?? TrainingSettings()
        balancing = try c.decodeIfPresent(BalancingSettings.self, forKey: .balancing) ?? BalancingSettings()
        augmentation = try c.decodeIfPresent([String: [AugmentationBranch]].self, forKey: .augmentation) ?? [:]
        output = try c.decodeIfPresent(String.self, forKey: .output)
    }

    /// Where the checkpoint goes.
    public var outputPath: String { output ?? "checkpoints/\(name)/\(name).moe" }

    // MARK: Loading

    /// Keys each section accepts; anything else is a typo and is reported with this list.
    static let schema: [String: [String]] = [
        "": CodingKeys.allCases.map(\.rawValue),
        "model": [
            "channels", "imageSize", "patchSize", "width", "depth", "heads", "mlpRatio",
            "experts", "topK", "expertHidden", "moeEvery", "renormalize", "layerNormEpsilon",
        ],
        "datasets.*": DatasetRecipe.CodingKeys.allCases.map(\.rawValue).filter { $0 != "name" },
        "datasets.*.scene": ["canvas", "minItems", "maxItems", "minScale", "maxScale", "threshold"],
        "optimizer": ["kind", "lr", "weightDecay", "beta1", "beta2", "eps", "momentum", "nesterov", "clip"],
        "schedule": ["kind", "warmup", "minFactor", "pctStart", "divFactor", "finalDivFactor"],
        "training": TrainingSettings.CodingKeys.allCases.map(\.rawValue),
        "balancing": BalancingSettings.CodingKeys.allCases.map(\.rawValue),
    ]

    /// Reads a YAML recipe file and applies `overrides` (`key.path=value`) in order.
    public static func load(path: String, overrides: [String] = []) throws -> Recipe {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RecipeError.fileNotFound(path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw RecipeError.syntax(file: path, detail: "not UTF-8 text")
        }
        return try parse(yaml: text, source: path, overrides: overrides)
    }

    /// Sections that may be written as one name: the field that name sets.
    static let shorthandFields: [(section: String, field: String)] = [
        ("balancing", "method"), ("optimizer", "kind"),
    ]

    /// Parses YAML recipe text (`source` names it in errors) and applies `overrides`.
    public static func parse(yaml: String, source: String, overrides: [String] = []) throws -> Recipe {
        var tree = try RecipeTree.parse(yaml: yaml, source: source)
        // `balancing: NAME` is short for `balancing: {method: NAME}` and `optimizer: NAME` for
        // `optimizer: {kind: NAME}`; normalising lets `--set balancing.alpha=...` extend the
        // mapping, and `--set optimizer=adam-per-task` keep the other optimiser settings.
        func normaliseShorthands() throws {
            for (section, field) in shorthandFields {
                if case .scalar(let name, let quoted)? = tree[section] {
                    try tree.set(path: [section], to: .mapping([(field, .scalar(name, quoted: quoted))]))
                }
            }
        }
        try normaliseShorthands()
        for o in overrides {
            let shorthand = shorthandFields.first { o.hasPrefix($0.section + "=") }
            if let (section, field) = shorthand, case .mapping? = tree[section],
                case .scalar = try RecipeTree.parse(
                    yaml: String(o.dropFirst(section.count + 1)), source: "--set \(section)")
            {
                try tree.apply(override: "\(section).\(field)=" + o.dropFirst(section.count + 1))
            } else {
                try tree.apply(override: o)
                try normaliseShorthands()
            }
        }
        try checkKeys(tree, source: source)
        var object = tree.jsonObject() as? [String: Any] ?? [:]
        // `datasets` is written as a mapping name → settings; decode it as an ordered list.
        if case .mapping(let pairs)? = tree["datasets"] {
            object["datasets"] = pairs.map { pair -> Any in
                var entry = pair.value.jsonObject() as? [String: Any] ?? [:]
                entry["name"] = pair.key
                return entry
            }
        }
        let json = try JSONSerialization.data(withJSONObject: object)
        let recipe: Recipe
        do {
            recipe = try JSONDecoder().decode(Recipe.self, from: json)
        } catch let error as DecodingError {
            let names = tree["datasets"].flatMap { node -> [String]? in
                guard case .mapping(let pairs) = node else { return nil }
                return pairs.map(\.key)
            } ?? []
            throw RecipeError.invalid(file: source, detail: describe(error, datasetNames: names))
        }
        try recipe.validate(source: source)
        return recipe
    }

    static func checkKeys(_ tree: RecipeTree, source: String) throws {
        guard case .mapping = tree else {
            throw RecipeError.invalid(file: source, detail: "the recipe must be a mapping of sections")
        }
        func check(_ node: RecipeTree?, section: String, schemaKey: String) throws {
            guard case .mapping(let pairs)? = node, let known = schema[schemaKey] else { return }
            for (key, _) in pairs where !known.contains(key) {
                let path = section.isEmpty ? key : "\(section).\(key)"
                throw RecipeError.unknownKey(file: source, path: path, known: known)
            }
        }
        try check(tree, section: "", schemaKey: "")
        for section in ["model", "optimizer", "schedule", "training", "balancing"] {
            try check(tree[section], section: section, schemaKey: section)
        }
        guard let datasets = tree["datasets"] else {
            throw RecipeError.invalid(file: source, detail: "the recipe has no 'datasets' section")
        }
        guard case .mapping(let pairs) = datasets, !pairs.isEmpty else {
            throw RecipeError.invalid(
                file: source, detail: "'datasets' must map each dataset name to its settings")
        }
        if case .mapping(let augmented)? = tree["augmentation"] {
            let names = pairs.map(\.key)
            for (name, value) in augmented {
                guard names.contains(name) else {
                    throw RecipeError.unknownKey(file: source, path: "augmentation.\(name)", known: names)
                }
                guard case .sequence(let branches) = value else {
                    throw RecipeError.invalid(file: source, detail: "'augmentation.\(name)' must be a list of branches")
                }
                let known = AugmentationBranch.CodingKeys.allCases.map(\.rawValue)
                for (i, branch) in branches.enumerated() {
                    guard case .mapping(let keys) = branch else { continue }
                    for (key, _) in keys where !known.contains(key) {
                        throw RecipeError.unknownKey(file: source, path: "augmentation.\(name).\(i).\(key)", known: known)
                    }
                }
            }
        }
        for (name, value) in pairs {
            try check(value, section: "datasets.\(name)", schemaKey: "datasets.*")
            try check(value["scene"], section: "datasets.\(name).scene", schemaKey: "datasets.*.scene")
        }
    }

    /// Checks values that decode fine but make no sense.
    public func validate(source: String) throws {
        func check(_ ok: Bool, _ path: String, _ why: String) throws {
            if !ok { throw RecipeError.badValue(file: source, path: path, reason: why) }
        }
        try check(!name.isEmpty && !name.contains("/"), "name", "must be a non-empty name without '/'")
        for d in datasets {
            try check(d.batchSize > 0, "datasets.\(d.name).batchSize", "must be positive")
            try check(d.samplingWeight > 0, "datasets.\(d.name).samplingWeight", "must be positive")
            try check(d.testFraction > 0 && d.testFraction < 1, "datasets.\(d.name).testFraction",
                      "must be between 0 and 1")
            let isScenes = d.source == .scenes
            try check(isScenes == (d.task != .classification), "datasets.\(d.name).task",
                      isScenes ? "must be detection or segmentation for scenes"
                          : "must be classification for \(d.source.rawValue) (it has no boxes or masks)")
            try check(!isScenes || (d.trainSize > 0 && d.testSize > 0), "datasets.\(d.name).trainSize",
                      "trainSize and testSize must be positive")
        }
        try check(training.steps.map { $0 > 0 } ?? true, "training.steps", "must be positive")
        try check(training.epochs.map { $0 > 0 } ?? true, "training.epochs", "must be positive")
        try check(training.steps != nil || training.epochs != nil, "training",
                  "give training.steps or training.epochs")
        try check(training.threads >= 1, "training.threads", "must be at least 1")
        try check(training.miWeight >= 0, "training.miWeight", "must not be negative")
        try check(training.evalBatchSize >= 1, "training.evalBatchSize", "must be at least 1")
        try check(optimizer.learningRate > 0, "optimizer.lr", "must be positive")
        try check(training.diagnosticsEvery >= 0, "training.diagnosticsEvery", "must not be negative")
        let method = balancing.method.rawValue
        try check(!balancing.method.needsRoundRobin || stepMode == .roundRobin, "training.stepMode",
                  "balancing '\(method)' needs one batch of every dataset per step (stepMode: roundRobin)")
        try check(!(balancing.method == .tbgc || balancing.method == .tbgcNoRescale) || optimizer.clipNorm == 0,
                  "optimizer.clip", "must be 0 with balancing '\(method)': TBGC clips per task and is never combined with a global clip")
        try check(balancing.norm > 0, "balancing.norm", "must be positive")
        try check(balancing.lr > 0, "balancing.lr", "must be positive")
        try check(!(balancing.method == .gradsplit && optimizer.kind == .adamPerTask), "optimizer.kind",
                  "adam-per-task cannot be combined with gradsplit")
        for d in datasets {
            let branches = augmentation[d.name] ?? []
            for (i, b) in branches.enumerated() {
                let path = "augmentation.\(d.name).\(i)"
                try check(b.weight >= 0 && (b.finalWeight ?? 0) >= 0, path + ".weight", "must not be negative")
                try check(b.kind != .mixup || d.task == .classification, path + ".kind", "mixup needs a classification dataset")
                try check(b.kind != .mosaic || d.source == .scenes, path + ".kind", "mosaic needs a scenes dataset")
                try check(b.minScale > 0 && b.minScale <= 1, path + ".minScale", "must be in (0, 1]")
            }
            try check(branches.isEmpty || branches.contains { $0.weight > 0 || ($0.finalWeight ?? 0) > 0 },
                      "augmentation.\(d.name)", "needs a branch with positive weight")
        }
        if let r = balancing.relations {
            try check(r.count == datasets.count && r.allSatisfy { $0.count == datasets.count },
                      "balancing.relations", "must be a \(datasets.count)×\(datasets.count) matrix (datasets in recipe order)")
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

    /// The recipe as JSON (saved in checkpoint metadata).
    public func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// Problems with a recipe file or an override, each naming the file, key or value.
public enum RecipeError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(String)
    case syntax(file: String, detail: String)
    case unknownKey(file: String, path: String, known: [String])
    case invalid(file: String, detail: String)
    case badValue(file: String, path: String, reason: String)
    case override(String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            "recipe file '\(path)' not found (hint: the shipped recipes are in recipes/)"
        case .syntax(let file, let detail): "\(file): not valid YAML: \(detail)"
        case .unknownKey(let file, let path, let known):
            "\(file): unknown key '\(path)'; expected one of: \(known.joined(separator: ", "))"
        case .invalid(let file, let detail): "\(file): \(detail)"
        case .badValue(let file, let path, let reason): "\(file): '\(path)' \(reason)"
        case .override(let text, let reason): "--set '\(text)': \(reason)"
        }
    }
}
