/// An ONNX `TensorProto`: a named constant (an initializer or a `Constant` node's value).
/// Floats are stored as little-endian `raw_data`, integers as packed `int64_data`.
public struct ONNXTensor: Equatable, Sendable {
    /// `TensorProto.DataType` values the exporter uses.
    public enum ElementType: Int, Sendable {
        case float = 1
        case int64 = 7
    }

    /// The values, in row-major order.
    public enum Values: Equatable, Sendable {
        case floats([Float])
        case int64s([Int64])
    }

    public var name: String
    public var dims: [Int]
    public var values: Values

    public init(name: String, dims: [Int], values: Values) {
        self.name = name
        self.dims = dims
        self.values = values
    }

    /// A float tensor.
    public init(name: String, dims: [Int], floats: [Float]) {
        self.init(name: name, dims: dims, values: .floats(floats))
    }

    /// An int64 tensor.
    public init(name: String, dims: [Int], ints: [Int]) {
        self.init(name: name, dims: dims, values: .int64s(ints.map(Int64.init)))
    }

    public var elementType: ElementType {
        switch values {
        case .floats: .float
        case .int64s: .int64
        }
    }

    /// Number of elements.
    public var count: Int {
        switch values {
        case .floats(let v): v.count
        case .int64s(let v): v.count
        }
    }
}
