import Foundation

extension Recipe {
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
            let names =
                tree["datasets"].flatMap { node -> [String]? in
                    guard case .mapping(let pairs) = node else { return nil }
                    return pairs.map(\.key)
                } ?? []
            throw RecipeError.invalid(file: source, detail: describe(error, datasetNames: names))
        }
        try recipe.validate(source: source)
        return recipe
    }
}
