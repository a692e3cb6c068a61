import MoEModel
import MoETensor

extension ONNXExporter {
    /// One pre-norm block on x [B, N, D]: `m = x + Attn(LN1(x))`, `y = m + MLP(LN2(m))`.
    func block(_ x: String, index l: Int, moeLayer: Int?, _ g: ONNXGraphBuilder) throws -> String {
        let name = ParameterName.block(l)
        let eps = config.layerNormEpsilon
        let attended = try attention(try g.layerNorm(x, store, "\(name).norm1", epsilon: eps), name: "\(name).attn", g)
        let middle = g.op("Add", [x, attended], hint: "\(name).middle")
        let normed = try g.layerNorm(middle, store, "\(name).norm2", epsilon: eps)
        let mlp: String
        if let moeLayer {
            mlp = try mixtureOfExperts(normed, block: l, moeLayer: moeLayer, g)
        } else {
            let prefix = ParameterName.denseMLP(block: l)
            let hidden = try g.linear(normed, store, "\(prefix).fc1", rows: tokens)
            mlp = try g.linear(g.gelu(hidden, hint: "\(prefix).gelu"), store, "\(prefix).fc2", rows: tokens)
        }
        return g.op("Add", [middle, mlp], hint: "\(name).out")
    }

    /// Multi-head self-attention: qkv [B, N, 3D] → per head softmax(Q Kᵀ/√hd)·V → proj.
    private func attention(_ x: String, name: String, _ g: ONNXGraphBuilder) throws -> String {
        let (n, d, h, hd) = (tokens, config.width, config.heads, config.headDim)
        let qkv = try g.linear(x, store, "\(name).qkv", rows: n)
        // [B, N, 3, H, hd] → [3, B, H, N, hd]: Q, K, V per head.
        let split = g.transpose(
            g.reshape(qkv, [-1, n, 3, h, hd], hint: "\(name).heads"), [2, 0, 3, 1, 4], hint: "\(name).qkvT")
        let part = { (i: Int, hint: String) in
            g.op("Gather", [split, g.ints([i], dims: [], hint: "index")], [.init("axis", .int(0))], hint: hint)
        }
        let (q, k, v) = (part(0, "\(name).q"), part(1, "\(name).k"), part(2, "\(name).v"))
        let scores = g.matMul(
            q, g.transpose(k, [0, 1, 3, 2], hint: "\(name).kT"), rows: h * n, inner: hd, columns: n, hint: "\(name).qk")
        let scale = g.floats([1 / Float(hd).squareRoot()], dims: [], hint: "\(name).scale")
        let weights = g.op(
            "Softmax", [g.op("Mul", [scores, scale], hint: "\(name).scores")], [.init("axis", .int(-1))],
            hint: "\(name).softmax")
        let mixed = g.matMul(weights, v, rows: h * n, inner: n, columns: hd, hint: "\(name).av")
        let merged = g.reshape(
            g.transpose(mixed, [0, 2, 1, 3], hint: "\(name).merge"), [-1, n, d], hint: "\(name).concat")
        return try g.linear(merged, store, "\(name).proj", rows: n)
    }

    /// The dataset's MoE layer on x [B, N, D] (DESIGN §2.3), over its A reachable experts:
    ///
    ///     p = softmax(x·Wr[:, reachable])          = moe's p on the reachable experts
    ///     (g, e) = TopK(p, K)                      ties → lower index, as moe
    ///     gates [B, N, A] = scatter of g (renormalised if the model is) at e, zero elsewhere
    ///     y = Σ_a gates[..., a] · (GELU(x·W1[a] + b1[a])·W2[a] + b2[a])
    ///
    /// Every reachable expert runs on every token (dense); experts not picked get gate 0, so
    /// y is moe's sparse result.
    private func mixtureOfExperts(_ x: String, block l: Int, moeLayer: Int, _ g: ONNXGraphBuilder) throws -> String {
        let (n, d) = (tokens, config.width)
        let reachable = Self.reachableExperts(config: config, spec: spec)[moeLayer]
        let a = reachable.count
        let routerName = ParameterName.router(block: l, dataset: spec.name)
        let router = VisionMoE.columns(try store.parameter(named: routerName).value, reachable)
        let logits = g.matMul(
            x, g.weight(routerName, dims: [d, a], router.storage), rows: n, inner: d, columns: a,
            hint: "\(routerName).logits")
        let p = g.op("Softmax", [logits], [.init("axis", .int(-1))], hint: "\(routerName).p")
        let k = g.ints([config.topK(of: spec)], hint: "top_k")
        let picked = g.node(
            "TopK", [p, k], [.init("axis", .int(-1)), .init("largest", .int(1)), .init("sorted", .int(1))],
            hint: "\(routerName).topk", outputs: 2)
        var gates = picked[0]
        if config.renormalize {
            let total = g.op(
                "ReduceSum", [gates, g.ints([-1], hint: "axes")], [.init("keepdims", .int(1))], hint: "gate_sum")
            gates = g.op("Div", [gates, total], hint: "\(routerName).renormalized")
        }
        let zeros = g.op(
            "ConstantOfShape", [g.op("Shape", [p], hint: "p_shape")],
            [.init("value", .tensor(ONNXTensor(name: "zero", dims: [1], floats: [0])))], hint: "zeros")
        let dense = g.op(
            "ScatterElements", [zeros, picked[1], gates], [.init("axis", .int(-1))], hint: "\(routerName).gates")
        let experts = try expertBank(x, block: l, reachable: reachable, g)
        // gates [B, N, A] → [A, B·N, 1], weighting the expert outputs [A, B·N, D].
        let gateRows = g.transpose(g.reshape(dense, [-1, a], hint: "gates.flat"), [1, 0], hint: "gates.T")
        let weighted = g.op(
            "Mul", [experts, g.op("Unsqueeze", [gateRows, g.ints([2], hint: "axes")], hint: "gates.col")],
            hint: "weighted")
        let sum = g.op(
            "ReduceSum", [weighted, g.ints([0], hint: "axes")], [.init("keepdims", .int(0))],
            hint: "\(ParameterName.moe(block: l)).sum")
        return g.reshape(sum, [-1, n, d], hint: "\(ParameterName.moe(block: l)).out")
    }

    /// All reachable experts on every token: x [B, N, D] → [A, B·N, D].
    private func expertBank(_ x: String, block l: Int, reachable: [Int], _ g: ONNXGraphBuilder) throws -> String {
        let (n, d, f, a) = (tokens, config.width, config.expertHidden, reachable.count)
        func bank(_ part: ParameterName.ExpertPart, _ dims: [Int]) throws -> String {
            let name = ParameterName.experts(block: l, part)
            let value = VisionMoE.slices(try store.parameter(named: name).value, reachable)
            return g.weight(name, dims: dims, value.storage)
        }
        let rows = g.reshape(x, [1, -1, d], hint: "\(ParameterName.moe(block: l)).rows")
        let w1 = try bank(.w1, [a, d, f])
        let b1 = try bank(.b1, [a, 1, f])
        let w2 = try bank(.w2, [a, f, d])
        let b2 = try bank(.b2, [a, 1, d])
        let prefix = "\(ParameterName.moe(block: l)).experts"
        let hidden = g.op(
            "Add", [g.matMul(rows, w1, rows: a * n, inner: d, columns: f, hint: "\(prefix).h"), b1],
            hint: "\(prefix).h1")
        let activated = g.gelu(hidden, hint: "\(prefix).gelu")
        return g.op(
            "Add", [g.matMul(activated, w2, rows: a * n, inner: f, columns: d, hint: "\(prefix).o"), b2],
            hint: "\(prefix).out")
    }
}
