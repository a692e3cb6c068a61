import Foundation
import MoEBalancing
import MoEData
import MoEModel
import MoEOptim

extension Recipe {
    /// Keys each section accepts; anything else is a typo and is reported with this list.
    static let schema: [String: [String]] = [
        "": CodingKeys.allCases.map(\.rawValue),
        "model": [
            "channels", "imageSize", "patchSize", "width", "depth", "heads", "mlpRatio",
            "experts", "topK", "expertHidden", "moeEvery", "renormalize", "layerNormEpsilon",
        ],
        "datasets.*": DatasetRecipe.CodingKeys.allCases.map(\.rawValue).filter { $0 != "name" },
        "datasets.*.scene": ["canvas", "minItems", "maxItems", "minScale", "maxScale", "threshold"],
        "datasets.*.normalize": ["mean", "std"],
        "optimizer": ["kind", "lr", "weightDecay", "beta1", "beta2", "eps", "momentum", "nesterov", "clip"],
        "schedule": ["kind", "warmup", "minFactor", "pctStart", "divFactor", "finalDivFactor"],
        "training": TrainingSettings.CodingKeys.allCases.map(\.rawValue),
        "balancing": BalancingSettings.recipeKeys,
    ]

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
                let known = AugmentationBranch.recipeKeys
                for (i, branch) in branches.enumerated() {
                    guard case .mapping(let keys) = branch else { continue }
                    for (key, _) in keys where !known.contains(key) {
                        throw RecipeError.unknownKey(
                            file: source, path: "augmentation.\(name).\(i).\(key)", known: known)
                    }
                }
            }
        }
        for (name, value) in pairs {
            try check(value, section: "datasets.\(name)", schemaKey: "datasets.*")
            try check(value["scene"], section: "datasets.\(name).scene", schemaKey: "datasets.*.scene")
            try check(value["normalize"], section: "datasets.\(name).normalize", schemaKey: "datasets.*.normalize")
        }
    }
}
