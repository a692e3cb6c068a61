import MoEProtobuf

/// An ONNX `ModelProto` with one graph and the default operator set, serialised with
/// `ProtobufWriter` (field numbers of onnx.proto3; DESIGN §2.7).
public struct ONNXModel: Equatable, Sendable {
    /// Operator-set versions the exporter writes.
    public static let supportedOpsets = 17...21

    public var opset: Int
    public var graph: ONNXGraph
    public var producerName = "moe"
    public var producerVersion = "0.1.0"
    public var docString = ""
    /// `metadata_props` (key, value) pairs.
    public var metadata: [(key: String, value: String)] = []

    public init(opset: Int, graph: ONNXGraph) {
        self.opset = opset
        self.graph = graph
    }

    /// The IR version released with `opset` (ONNX 1.12: IR 8 / opset 17, 1.13: 8 / 18,
    /// 1.14: 9 / 19, 1.15: 9 / 20, 1.16: 10 / 21).
    public var irVersion: Int {
        switch opset {
        case ...18: 8
        case 19, 20: 9
        default: 10
        }
    }

    public static func == (lhs: ONNXModel, rhs: ONNXModel) -> Bool {
        lhs.opset == rhs.opset && lhs.graph == rhs.graph && lhs.producerName == rhs.producerName
            && lhs.producerVersion == rhs.producerVersion && lhs.docString == rhs.docString
            && lhs.metadata.map(\.key) == rhs.metadata.map(\.key)
            && lhs.metadata.map(\.value) == rhs.metadata.map(\.value)
    }

    /// The `ModelProto` bytes (what a `.onnx` file holds).
    public func serialized() -> [UInt8] {
        var w = ProtobufWriter()
        w.int64(1, Int64(irVersion))
        w.string(2, producerName)
        w.string(3, producerVersion)
        if !docString.isEmpty { w.string(6, docString) }
        w.message(7) { graph.encode(into: &$0) }
        w.message(8) { opsetID in
            opsetID.string(1, "")
            opsetID.int64(2, Int64(opset))
        }
        for entry in metadata {
            w.message(14) { pair in
                pair.string(1, entry.key)
                pair.string(2, entry.value)
            }
        }
        return w.bytes
    }
}

extension ONNXGraph {
    func encode(into w: inout ProtobufWriter) {
        for node in nodes { w.message(1) { node.encode(into: &$0) } }
        w.string(2, name)
        for tensor in initializers { w.message(5) { tensor.encode(into: &$0) } }
        if !docString.isEmpty { w.string(10, docString) }
        for value in inputs { w.message(11) { value.encode(into: &$0) } }
        for value in outputs { w.message(12) { value.encode(into: &$0) } }
    }
}

extension ONNXGraph.ValueInfo {
    func encode(into w: inout ProtobufWriter) {
        w.string(1, name)
        w.message(2) { type in
            type.message(1) { tensorType in
                tensorType.int64(1, Int64(elementType.rawValue))
                tensorType.message(2) { tensorShape in
                    for dimension in shape {
                        tensorShape.message(1) { dim in
                            switch dimension {
                            case .fixed(let n): dim.int64(1, Int64(n))
                            case .symbolic(let name): dim.string(2, name)
                            }
                        }
                    }
                }
            }
        }
    }
}

extension ONNXNode {
    func encode(into w: inout ProtobufWriter) {
        for input in inputs { w.string(1, input) }
        for output in outputs { w.string(2, output) }
        w.string(3, name)
        w.string(4, opType)
        for attribute in attributes { w.message(5) { attribute.encode(into: &$0) } }
    }
}

extension ONNXNode.Attribute {
    func encode(into w: inout ProtobufWriter) {
        w.string(1, name)
        switch value {
        case .float(let f): w.float(2, f)
        case .int(let i): w.int64(3, Int64(i))
        case .string(let s): w.string(4, s)
        case .tensor(let t): w.message(5) { t.encode(into: &$0) }
        case .ints(let values): w.packedInt64s(8, values.map(Int64.init))
        }
        w.int64(20, Int64(typeCode))
    }
}

extension ONNXTensor {
    func encode(into w: inout ProtobufWriter) {
        w.packedInt64s(1, dims.map(Int64.init))
        w.int64(2, Int64(elementType.rawValue))
        switch values {
        case .floats(let v):
            w.string(8, name)
            w.rawFloats(9, v)
        case .int64s(let v):
            w.packedInt64s(7, v)
            w.string(8, name)
        }
    }
}
