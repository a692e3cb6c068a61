import MoETensor

/// Builds an `ONNXGraph` node by node: unique value names, weights as initializers (the
/// parameters), shape and index constants as `Constant` nodes (not parameters), and the
/// matrix FLOPs (2 per multiply-add, per image) of every product it adds.
final class ONNXGraphBuilder {
    let opset: Int
    private(set) var nodes: [ONNXNode] = []
    private(set) var initializers: [ONNXTensor] = []
    /// Matrix FLOPs of one image through the graph (MatMul and Conv).
    private(set) var flopsPerImage = 0.0
    private var used: [String: Int] = [:]

    init(opset: Int) { self.opset = opset }

    /// A value name based on `hint` that no other value has.
    func fresh(_ hint: String) -> String {
        let n = used[hint, default: 0]
        used[hint] = n + 1
        return n == 0 ? hint : "\(hint)_\(n)"
    }

    /// Adds `op` and returns its outputs (named after `hint`, or `outputNames`).
    @discardableResult
    func node(
        _ op: String, _ inputs: [String], _ attributes: [ONNXNode.Attribute] = [], hint: String,
        outputs: Int = 1, outputNames: [String]? = nil
    ) -> [String] {
        let names = outputNames ?? (0..<outputs).map { fresh(outputs == 1 ? hint : "\(hint)_out\($0)") }
        nodes.append(ONNXNode(op, name: fresh("\(hint)_node"), inputs: inputs, outputs: names, attributes: attributes))
        return names
    }

    /// One-output `op`.
    func op(_ op: String, _ inputs: [String], _ attributes: [ONNXNode.Attribute] = [], hint: String) -> String {
        node(op, inputs, attributes, hint: hint)[0]
    }

    /// A weight of the model: an initializer called `name` (a parameter name of DESIGN §2.5).
    func weight(_ name: String, dims: [Int], _ values: [Float]) -> String {
        precondition(dims.reduce(1, *) == values.count, "initializer \(name): \(dims) does not hold \(values.count)")
        initializers.append(ONNXTensor(name: name, dims: dims, floats: values))
        return name
    }

    /// An int64 constant (shapes, axes, indices); `dims` [] makes a scalar.
    func ints(_ values: [Int], dims: [Int]? = nil, hint: String = "const") -> String {
        let name = fresh(hint)
        let tensor = ONNXTensor(name: name, dims: dims ?? [values.count], ints: values)
        return node("Constant", [], [.init("value", .tensor(tensor))], hint: hint, outputNames: [name])[0]
    }

    /// A float constant.
    func floats(_ values: [Float], dims: [Int], hint: String = "const") -> String {
        let name = fresh(hint)
        let tensor = ONNXTensor(name: name, dims: dims, floats: values)
        return node("Constant", [], [.init("value", .tensor(tensor))], hint: hint, outputNames: [name])[0]
    }

    /// `a · b` whose product costs `rows × inner × columns` multiply-adds per image.
    func matMul(_ a: String, _ b: String, rows: Int, inner: Int, columns: Int, hint: String) -> String {
        flopsPerImage += 2 * Double(rows) * Double(inner) * Double(columns)
        return op("MatMul", [a, b], hint: hint)
    }

    /// Records the multiply-adds of a product the caller adds itself (a convolution).
    func countFLOPs(_ multiplyAdds: Double) { flopsPerImage += 2 * multiplyAdds }

    /// `x · W + b` over the last axis for a `[in, out]` weight and `[out]` bias of `store`
    /// named `name.weight` / `name.bias`; `rows` rows per image.
    func linear(_ x: String, _ store: ParameterStore, _ name: String, rows: Int) throws -> String {
        let w = try store.parameter(named: "\(name).weight").value
        let b = try store.parameter(named: "\(name).bias").value
        let weight = self.weight("\(name).weight", dims: w.shape, w.storage)
        let bias = self.weight("\(name).bias", dims: b.shape, b.storage)
        let product = matMul(x, weight, rows: rows, inner: w.shape[0], columns: w.shape[1], hint: name)
        return op("Add", [product, bias], hint: "\(name).out")
    }

    /// LayerNormalization over the last axis with `name.weight` / `name.bias`.
    func layerNorm(_ x: String, _ store: ParameterStore, _ name: String, epsilon: Float) throws -> String {
        let w = try store.parameter(named: "\(name).weight").value
        let b = try store.parameter(named: "\(name).bias").value
        let scale = weight("\(name).weight", dims: w.shape, w.storage)
        let bias = weight("\(name).bias", dims: b.shape, b.storage)
        return op(
            "LayerNormalization", [x, scale, bias], [.init("axis", .int(-1)), .init("epsilon", .float(epsilon))],
            hint: name)
    }

    /// Exact GELU, `0.5·x·(1 + erf(x/√2))`: the `Gelu` operator from opset 20, else
    /// decomposed with `Erf`.
    func gelu(_ x: String, hint: String) -> String {
        if opset >= 20 { return op("Gelu", [x], [.init("approximate", .string("none"))], hint: hint) }
        let scaled = op("Mul", [x, floats([0.707_106_781_186_547_5], dims: [], hint: "inv_sqrt2")], hint: "\(hint).s")
        let erf = op("Erf", [scaled], hint: "\(hint).erf")
        let onePlus = op("Add", [erf, floats([1], dims: [], hint: "one")], hint: "\(hint).cdf2")
        let half = op("Mul", [x, floats([0.5], dims: [], hint: "half")], hint: "\(hint).half")
        return op("Mul", [half, onePlus], hint: hint)
    }

    /// `Reshape(x, shape)`; -1 marks the batch-dependent dimension.
    func reshape(_ x: String, _ shape: [Int], hint: String) -> String {
        op("Reshape", [x, ints(shape, hint: "shape")], hint: hint)
    }

    func transpose(_ x: String, _ perm: [Int], hint: String) -> String {
        op("Transpose", [x], [.init("perm", .ints(perm))], hint: hint)
    }

    /// `x[..., starts..<ends, ...]` on `axes`.
    func slice(_ x: String, starts: [Int], ends: [Int], axes: [Int], hint: String) -> String {
        op("Slice", [x, ints(starts, hint: "starts"), ints(ends, hint: "ends"), ints(axes, hint: "axes")], hint: hint)
    }

    /// The graph with `inputs` and `outputs`.
    func graph(
        name: String, inputs: [ONNXGraph.ValueInfo], outputs: [ONNXGraph.ValueInfo], docString: String
    ) -> ONNXGraph {
        ONNXGraph(
            name: name, nodes: nodes, initializers: initializers, inputs: inputs, outputs: outputs,
            docString: docString)
    }
}
