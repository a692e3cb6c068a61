import Foundation

extension Recipe {
    /// Reads a YAML recipe file and applies `overrides` (`key.path=value`) in order.
    public static func load(path: String, overrides: [String] = []) throws -> Recipe {
        var info = stat()
        guard stat(path, &info) == 0 else { throw RecipeError.fileNotFound(path) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw RecipeError.invalid(file: path, detail: "not a regular file (a directory, FIFO or device)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RecipeError.invalid(file: path, detail: "cannot be read (check its permissions)")
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
        let recipe = try decode(tree, source: source)
        try recipe.validate(source: source)
        return recipe
    }

    /// The recipe a checkpoint stores (its JSON), decoded and validated like a recipe file;
    /// `source` names the checkpoint in errors.
    public static func stored(json: String, source: String) throws -> Recipe {
        let tree = try RecipeTree.parse(yaml: json, source: source)
        guard case .mapping = tree else {
            throw RecipeError.invalid(file: source, detail: "the stored recipe is not a mapping of sections")
        }
        let recipe = try decode(tree, source: source)
        try recipe.validate(source: source, stored: true)
        return recipe
    }

    /// Decodes a checked tree. `datasets` is written as a mapping name → settings in recipe
    /// files and as a list of entries with a `name` (how checkpoints store it); both decode
    /// as the ordered list. Errors name the dataset, not its position.
    static func decode(_ tree: RecipeTree, source: String) throws -> Recipe {
        var tree = tree
        var names: [String] = []
        switch tree["datasets"] {
        case .mapping(let pairs)?:
            names = pairs.map(\.key)
            try tree.set(
                path: ["datasets"],
                to: .sequence(
                    pairs.map { pair in
                        guard case .mapping(let fields) = pair.value else { return pair.value }
                        return .mapping(
                            [("name", .scalar(pair.key, quoted: true))] + fields.filter { $0.key != "name" })
                    }))
        case .sequence(let entries)?:
            names = entries.map { entry in
                if case .scalar(let name, _)? = entry["name"] { return name }
                return "?"
            }
        default: break
        }
        do {
            return try RecipeTreeDecoder.decode(Recipe.self, from: tree)
        } catch let error as DecodingError {
            throw RecipeError.invalid(file: source, detail: describe(error, datasetNames: names))
        }
    }
}
