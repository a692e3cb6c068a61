/// An ONNX `GraphProto`: nodes in topological order, initializers (the model's weights)
/// and the typed graph inputs and outputs.
public struct ONNXGraph: Equatable, Sendable {
    /// A `ValueInfoProto` of a float or int64 tensor: its name, element type and shape,
    /// where a dimension is a number or a symbolic name (the dynamic batch).
    public struct ValueInfo: Equatable, Sendable {
        public enum Dimension: Equatable, Sendable {
            case fixed(Int)
            case symbolic(String)
        }

        public var name: String
        public var elementType: ONNXTensor.ElementType
        public var shape: [Dimension]

        public init(name: String, elementType: ONNXTensor.ElementType = .float, shape: [Dimension]) {
            self.name = name
            self.elementType = elementType
            self.shape = shape
        }
    }

    public var name: String
    public var nodes: [ONNXNode]
    public var initializers: [ONNXTensor]
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    public var docString: String

    public init(
        name: String, nodes: [ONNXNode], initializers: [ONNXTensor], inputs: [ValueInfo],
        outputs: [ValueInfo], docString: String = ""
    ) {
        self.name = name
        self.nodes = nodes
        self.initializers = initializers
        self.inputs = inputs
        self.outputs = outputs
        self.docString = docString
    }

    /// Elements of all initializers: the graph's parameter count.
    public var parameterCount: Int { initializers.reduce(0) { $0 + $1.count } }
}
