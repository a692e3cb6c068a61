import MoEProtobuf

/// A `ModelProto` read back with `ProtobufReader` only (no code shared with the writer beyond
/// the wire format), so tests check what a `.onnx` file really holds.
struct ParsedONNX {
    struct Node {
        var opType = ""
        var inputs: [String] = []
        var outputs: [String] = []
    }

    var irVersion = 0
    var opset = 0
    var nodes: [Node] = []
    /// Initializer name → dims.
    var initializers: [(name: String, dims: [Int])] = []
    var inputs: [String] = []
    var outputs: [String] = []

    init(_ bytes: [UInt8]) throws {
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1: irVersion = Int(field.varint ?? 0)
            case 7: try readGraph(field.bytes ?? [])
            case 8:
                for inner in try ProtobufReader.fields(field.bytes ?? []) where inner.number == 2 {
                    opset = Int(inner.varint ?? 0)
                }
            default: break
            }
        }
    }

    private mutating func readGraph(_ bytes: [UInt8]) throws {
        for field in try ProtobufReader.fields(bytes) {
            let payload = field.bytes ?? []
            switch field.number {
            case 1: nodes.append(try Self.node(payload))
            case 5: initializers.append(try Self.tensor(payload))
            case 11: inputs.append(try Self.valueName(payload))
            case 12: outputs.append(try Self.valueName(payload))
            default: break
            }
        }
    }

    private static func node(_ bytes: [UInt8]) throws -> Node {
        var node = Node()
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1: node.inputs.append(field.string ?? "")
            case 2: node.outputs.append(field.string ?? "")
            case 4: node.opType = field.string ?? ""
            default: break
            }
        }
        return node
    }

    private static func tensor(_ bytes: [UInt8]) throws -> (name: String, dims: [Int]) {
        var name = ""
        var dims: [Int] = []
        for field in try ProtobufReader.fields(bytes) {
            if field.number == 8 { name = field.string ?? "" }
            if field.number == 1 { dims += try ProtobufReader.packedVarints(field.bytes ?? []).map { Int($0) } }
        }
        return (name, dims)
    }

    private static func valueName(_ bytes: [UInt8]) throws -> String {
        try ProtobufReader.fields(bytes).first { $0.number == 1 }?.string ?? ""
    }

    /// Elements of all initializers.
    var parameterCount: Int { initializers.reduce(0) { $0 + $1.dims.reduce(1, *) } }
}
