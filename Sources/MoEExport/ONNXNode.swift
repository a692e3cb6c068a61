/// An ONNX `NodeProto`: one operator of the default domain applied to named values.
public struct ONNXNode: Equatable, Sendable {
    /// An `AttributeProto` (the value kinds the exporter uses).
    public struct Attribute: Equatable, Sendable {
        public enum Value: Equatable, Sendable {
            case int(Int)
            case float(Float)
            case string(String)
            case ints([Int])
            case tensor(ONNXTensor)
        }

        public var name: String
        public var value: Value

        public init(_ name: String, _ value: Value) {
            self.name = name
            self.value = value
        }

        /// `AttributeProto.AttributeType` of the value.
        public var typeCode: Int {
            switch value {
            case .float: 1
            case .int: 2
            case .string: 3
            case .tensor: 4
            case .ints: 7
            }
        }
    }

    public var opType: String
    public var name: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [Attribute]

    public init(_ opType: String, name: String, inputs: [String], outputs: [String], attributes: [Attribute] = []) {
        self.opType = opType
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }
}
