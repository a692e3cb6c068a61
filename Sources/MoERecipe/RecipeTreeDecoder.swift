import Foundation

/// Decodes `Decodable` values straight from a `RecipeTree` (a recipe file, or JSON stored in
/// a checkpoint, which is YAML too), so that every error names the key path of the value it
/// is about and says what was expected: "'model.width' should be Int: 1.5 is not a whole
/// number". Scalars are typed by the field they fill, not by how they look: quoted scalars
/// are strings only; Float fields parse the text as a Float directly (no detour through
/// Double), and integers must be exact and in range.
public enum RecipeTreeDecoder {
    public static func decode<T: Decodable>(_ type: T.Type, from tree: RecipeTree) throws -> T {
        try T(from: TreeDecoder(node: tree, codingPath: []))
    }

    /// Decodes JSON (or YAML) text; `source` names it in errors.
    public static func decode<T: Decodable>(_ type: T.Type, json: String, source: String) throws -> T {
        try decode(type, from: RecipeTree.parse(yaml: json, source: source))
    }
}

/// A coding key for positions in sequences and keys of mappings.
struct TreeCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
}

private struct TreeDecoder: Decoder {
    let node: RecipeTree
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        switch node {
        case .mapping(let pairs):
            return KeyedDecodingContainer(KeyedTreeContainer<Key>(pairs: pairs, codingPath: codingPath))
        case .null:
            return KeyedDecodingContainer(KeyedTreeContainer<Key>(pairs: [], codingPath: codingPath))
        default:
            throw mismatch([String: Any].self, in: node, at: codingPath, expected: "a mapping of keys")
        }
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .sequence(let items) = node else {
            throw mismatch([Any].self, in: node, at: codingPath, expected: "a list")
        }
        return UnkeyedTreeContainer(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        ScalarTreeContainer(node: node, codingPath: codingPath)
    }
}

/// "'<text>' …" or "a mapping" / "a list" / "null": what the node holds, for messages.
private func describe(_ node: RecipeTree) -> String {
    switch node {
    case .scalar(let text, let quoted): quoted ? "the string \"\(text)\"" : text
    case .mapping: "a mapping"
    case .sequence: "a list"
    case .null: "nothing (null)"
    }
}

private func mismatch(_ type: Any.Type, in node: RecipeTree, at path: [any CodingKey], expected: String)
    -> DecodingError
{
    .typeMismatch(
        type, .init(codingPath: path, debugDescription: "expected \(expected), found \(describe(node))"))
}

private struct KeyedTreeContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let pairs: [(key: String, value: RecipeTree)]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { pairs.compactMap { Key(stringValue: $0.key) } }

    func contains(_ key: Key) -> Bool { pairs.contains { $0.key == key.stringValue } }

    private func child(_ key: Key) throws -> RecipeTree {
        guard let value = pairs.first(where: { $0.key == key.stringValue })?.value else {
            throw DecodingError.keyNotFound(
                key, .init(codingPath: codingPath, debugDescription: "'\(key.stringValue)' is required"))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool { try child(key) == .null }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try T(from: TreeDecoder(node: try child(key), codingPath: codingPath + [key]))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try TreeDecoder(node: try child(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try TreeDecoder(node: try child(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        TreeDecoder(node: .mapping(pairs), codingPath: codingPath)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        TreeDecoder(node: try child(key), codingPath: codingPath + [key])
    }
}

private struct UnkeyedTreeContainer: UnkeyedDecodingContainer {
    let items: [RecipeTree]
    let codingPath: [any CodingKey]
    var currentIndex = 0
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    init(items: [RecipeTree], codingPath: [any CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    private mutating func next() throws -> TreeDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                Any.self, .init(codingPath: codingPath, debugDescription: "the list has too few entries"))
        }
        defer { currentIndex += 1 }
        return TreeDecoder(node: items[currentIndex], codingPath: codingPath + [TreeCodingKey(intValue: currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: try next()) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { try next() }
}

/// Scalars: the typed reading of one node.
private struct ScalarTreeContainer: SingleValueDecodingContainer {
    let node: RecipeTree
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { node == .null }

    /// The unquoted scalar's text, or a type mismatch naming what `type` needs.
    private func plainText(_ type: Any.Type, expected: String) throws -> String {
        guard case .scalar(let text, quoted: false) = node else {
            throw mismatch(type, in: node, at: codingPath, expected: expected)
        }
        return text
    }

    private func corrupt(_ detail: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: codingPath, debugDescription: detail))
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        let text = try plainText(type, expected: "true or false")
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw mismatch(type, in: node, at: codingPath, expected: "true or false")
        }
    }

    /// Unquoted text that reads as a number or a boolean is one (quote it to make it a string).
    func decode(_ type: String.Type) throws -> String {
        guard case .scalar(let text, let quoted) = node else {
            throw mismatch(type, in: node, at: codingPath, expected: "a string")
        }
        let looksTyped =
            Int(text) != nil || Double(text).map(\.isFinite) == true
            || ["true", "yes", "on", "false", "no", "off"].contains(text.lowercased())
        if !quoted && looksTyped {
            throw mismatch(type, in: node, at: codingPath, expected: "a string (quote it: \"\(text)\")")
        }
        return text
    }

    func decode(_ type: Double.Type) throws -> Double {
        let text = try plainText(type, expected: "a number")
        guard let value = Double(text) else { throw mismatch(type, in: node, at: codingPath, expected: "a number") }
        guard value.isFinite else { throw corrupt("\(text) is not a finite number") }
        return value
    }

    func decode(_ type: Float.Type) throws -> Float {
        let text = try plainText(type, expected: "a number")
        guard let value = Float(text) else { throw mismatch(type, in: node, at: codingPath, expected: "a number") }
        guard value.isFinite else {
            throw corrupt("\(text) is not a finite number within ±\(Float.greatestFiniteMagnitude)")
        }
        return value
    }

    /// Exact integers: "12", or a number with no fraction such as "1e3"; in `T`'s range.
    private func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let text = try plainText(type, expected: "a whole number")
        if let value = T(text) { return value }
        let range = "\(T.min)...\(T.max)"
        if let whole = Int64(text) ?? Double(text).flatMap({ $0.rounded() == $0 ? Int64(exactly: $0) : nil }) {
            guard let value = T(exactly: whole) else { throw corrupt("\(text) is outside \(range)") }
            return value
        }
        if let number = Double(text) {
            throw corrupt(
                number.isFinite && number.rounded() == number
                    ? "\(text) is outside \(range)" : "\(text) is not a whole number")
        }
        throw mismatch(type, in: node, at: codingPath, expected: "a whole number")
    }

    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try T(from: TreeDecoder(node: node, codingPath: codingPath))
    }
}
