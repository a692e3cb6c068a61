import Foundation
import Yams

/// A recipe document as an ordered tree of keys and scalars: what `--set key.path=value`
/// edits and what the schema check walks, before typed decoding.
public indirect enum RecipeTree: Equatable, Sendable {
    /// A scalar's text and whether it was quoted (quoted scalars always stay strings).
    case scalar(String, quoted: Bool)
    case mapping([(key: String, value: RecipeTree)])
    case sequence([RecipeTree])
    case null

    public static func == (a: RecipeTree, b: RecipeTree) -> Bool {
        switch (a, b) {
        case (.scalar(let x, let qx), .scalar(let y, let qy)): x == y && qx == qy
        case (.mapping(let x), .mapping(let y)):
            x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.sequence(let x), .sequence(let y)): x == y
        case (.null, .null): true
        default: false
        }
    }

    /// Parses YAML text; `source` names the file in errors.
    public static func parse(yaml: String, source: String) throws -> RecipeTree {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw RecipeError.syntax(file: source, detail: "\(error)")
        }
        guard let node else { return .mapping([]) }
        return try RecipeTree(node, path: "", source: source)
    }

    init(_ node: Node, path: String, source: String) throws {
        switch node {
        case .scalar(let s):
            let text = s.string
            let quoted = s.style == .singleQuoted || s.style == .doubleQuoted
            if !quoted && (text == "~" || text == "null" || text.isEmpty) {
                self = .null
            } else {
                self = .scalar(text, quoted: quoted)
            }
        case .mapping(let m):
            var pairs: [(key: String, value: RecipeTree)] = []
            for (k, v) in m {
                guard let key = k.scalar?.string else {
                    throw RecipeError.syntax(file: source, detail: "a key under '\(path)' is not a plain name")
                }
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                pairs.append((key, try RecipeTree(v, path: childPath, source: source)))
            }
            self = .mapping(pairs)
        case .sequence(let s):
            self = .sequence(
                try s.enumerated().map {
                    try RecipeTree($0.element, path: "\(path).\($0.offset)", source: source)
                })
        case .alias:
            throw RecipeError.syntax(file: source, detail: "YAML aliases are not supported (at '\(path)')")
        }
    }

    /// The child at `key`, if this is a mapping holding it.
    public subscript(key: String) -> RecipeTree? {
        guard case .mapping(let pairs) = self else { return nil }
        return pairs.first { $0.key == key }?.value
    }

    /// Sets the value at a dotted path, creating mappings on the way.
    public mutating func set(path: [String], to value: RecipeTree) throws {
        guard let first = path.first else {
            self = value
            return
        }
        var pairs: [(key: String, value: RecipeTree)]
        switch self {
        case .mapping(let p): pairs = p
        case .null: pairs = []
        default:
            throw RecipeError.override(
                path.joined(separator: "."), reason: "'\(first)' is inside a value that is not a mapping")
        }
        var child = pairs.first { $0.key == first }?.value ?? .null
        try child.set(path: Array(path.dropFirst()), to: value)
        if let i = pairs.firstIndex(where: { $0.key == first }) {
            pairs[i].value = child
        } else {
            pairs.append((first, child))
        }
        self = .mapping(pairs)
    }

    /// Applies one `key.path=value` override; the value is read as a YAML scalar or flow
    /// collection (`--set model.depth=4`, `--set optimizer.kind=lamb`).
    public mutating func apply(override: String) throws {
        guard let eq = override.firstIndex(of: "=") else {
            throw RecipeError.override(override, reason: "expected key.path=value")
        }
        let key = String(override[..<eq]).trimmingCharacters(in: .whitespaces)
        let text = String(override[override.index(after: eq)...])
        let path = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !key.isEmpty, !path.contains(where: \.isEmpty) else {
            throw RecipeError.override(override, reason: "the key path '\(key)' has an empty part")
        }
        let value = try RecipeTree.parse(yaml: text, source: "--set \(key)")
        try set(path: path, to: value)
    }
}
