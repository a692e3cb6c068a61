import MoEModel
import MoETensor

/// Exports one dataset's path through a `VisionMoE` as an ONNX graph (DESIGN §2.7):
/// embedding (positions resampled in the graph for a non-base grid), every block with the
/// dataset's router and only the experts it can reach, and its head. The batch dimension is
/// dynamic; the image size is the dataset's.
public struct ONNXExporter {
    public let model: VisionMoE
    public let spec: DatasetSpec
    public let opset: Int

    /// An exporter of `dataset`'s path; throws for an unknown dataset or opset.
    public init(model: VisionMoE, dataset: String, opset: Int = 17) throws {
        guard ONNXModel.supportedOpsets.contains(opset) else {
            throw ExportError.unsupportedOpset(opset, supported: ONNXModel.supportedOpsets)
        }
        self.model = model
        self.spec = try model.config.dataset(named: dataset)
        self.opset = opset
    }

    var config: ModelConfig { model.config }
    var store: ParameterStore { model.store }
    var patch: Int { config.patchSize }
    var gridHeight: Int { spec.height / patch }
    var gridWidth: Int { spec.width / patch }
    var patches: Int { gridHeight * gridWidth }
    var tokens: Int { patches + 1 }

    /// Per MoE layer, the experts `spec` can reach (ascending): those its router covers and
    /// its mask allows.
    public static func reachableExperts(config: ModelConfig, spec: DatasetSpec) -> [[Int]] {
        config.moeBlocks.indices.map { layer in
            (0..<config.experts).filter { config.allows(spec, moeLayer: layer, expert: $0) }
        }
    }

    /// The graph's outputs for the dataset's task, as (name, shape after the batch).
    public var outputs: [(name: String, shape: [Int])] {
        switch spec.task {
        case .classification: [("logits", [spec.classes])]
        case .segmentation: [("logits", [spec.classes + 1, spec.height, spec.width])]
        case .detection:
            [
                ("logits", [patches, spec.outputChannels]), ("scores", [patches, spec.classes]),
                ("boxes", [patches, 4]),
            ]
        }
    }

    /// Builds the graph.
    public func export() throws -> ExportedModel {
        let g = ONNXGraphBuilder(opset: opset)
        var x = try embed("images", g)
        var moeLayer = 0
        for l in 0..<config.depth {
            x = try block(x, index: l, moeLayer: config.isMoEBlock(l) ? moeLayer : nil, g)
            if config.isMoEBlock(l) { moeLayer += 1 }
        }
        try head(x, g)
        let batch = ONNXGraph.ValueInfo.Dimension.symbolic("batch")
        let input = ONNXGraph.ValueInfo(
            name: "images", shape: [batch] + [config.channels, spec.height, spec.width].map { .fixed($0) })
        let outputs = self.outputs.map {
            ONNXGraph.ValueInfo(name: $0.name, shape: [batch] + $0.shape.map { .fixed($0) })
        }
        var onnx = ONNXModel(
            opset: opset,
            graph: g.graph(name: "moe_\(spec.name)", inputs: [input], outputs: outputs, docString: documentation))
        onnx.metadata = [
            ("dataset", spec.name), ("task", spec.task.rawValue), ("patch_size", String(patch)),
            ("top_k", String(config.isDense ? 0 : config.topK(of: spec))),
        ]
        return ExportedModel(
            onnx: onnx, parameters: onnx.graph.parameterCount, flopsPerImage: g.flopsPerImage,
            routedFLOPsPerImage: config.forwardFLOPs(spec: spec, batch: 1),
            reachableExperts: Self.reachableExperts(config: config, spec: spec))
    }

    private var documentation: String {
        let task: String
        switch spec.task {
        case .classification: task = "logits [B, C]"
        case .segmentation: task = "logits [B, C+1, H, W], bilinear (half-pixel) upsampling of the cell logits"
        case .detection:
            task =
                "logits [B, cells, C+1+4]; scores [B, cells, C] = softmax over C+1 without background; "
                + "boxes [B, cells, 4] = (x0, y0, x1, y1) input pixels, clipped, before NMS"
        }
        return "moe dataset '\(spec.name)' (\(spec.task.rawValue)): images [B, \(config.channels), \(spec.height), "
            + "\(spec.width)] normalised as in training -> \(task). Reachable experts are computed densely and "
            + "weighted by the Top-K gates (zero for experts not picked)."
    }

    // MARK: - Embedding

    /// images [B, C, H, W] → tokens [B, N, D]: patch embedding as a stride-P convolution,
    /// class token first, positions added.
    private func embed(_ images: String, _ g: ONNXGraphBuilder) throws -> String {
        let d = config.width
        let w = try store.parameter(named: "\(ParameterName.patchEmbedding).weight").value
        let b = try store.parameter(named: "\(ParameterName.patchEmbedding).bias").value
        // [C·P·P, D] rows in (c, py, px) order → a convolution kernel [D, C, P, P].
        let rows = w.shape[0]
        var kernel = [Float](repeating: 0, count: w.count)
        for r in 0..<rows { for c in 0..<d { kernel[c * rows + r] = w.storage[r * d + c] } }
        let weight = g.weight(
            "\(ParameterName.patchEmbedding).weight", dims: [d, config.channels, patch, patch], kernel)
        let bias = g.weight("\(ParameterName.patchEmbedding).bias", dims: b.shape, b.storage)
        let conv = g.op(
            "Conv", [images, weight, bias],
            [.init("kernel_shape", .ints([patch, patch])), .init("strides", .ints([patch, patch]))],
            hint: "patch_embed")
        g.countFLOPs(Double(rows) * Double(d) * Double(patches))
        let flat = g.reshape(conv, [-1, d, patches], hint: "patch_embed.flat")
        let patchTokens = g.transpose(flat, [0, 2, 1], hint: "patch_tokens")

        let cls = try store.parameter(named: ParameterName.classToken).value
        let token = g.weight(ParameterName.classToken, dims: [1, 1, d], cls.storage)
        let batch = g.slice(
            g.op("Shape", [images], hint: "input_shape"), starts: [0], ends: [1], axes: [0], hint: "batch")
        let target = g.op(
            "Concat", [batch, g.ints([1, d], hint: "cls_dims")], [.init("axis", .int(0))], hint: "cls_shape")
        let classTokens = g.op("Expand", [token, target], hint: "cls_tokens")
        let joined = g.op("Concat", [classTokens, patchTokens], [.init("axis", .int(1))], hint: "tokens")
        return g.op("Add", [joined, try positions(g)], hint: "embedded")
    }

    /// Position embeddings [N, D] for the dataset's grid: `pos_embed` itself, or row 0 and
    /// the base grid bilinearly resized (half-pixel, as moe's `withPositions`).
    private func positions(_ g: ONNXGraphBuilder) throws -> String {
        let (d, base) = (config.width, config.baseGrid)
        let pos = try store.parameter(named: ParameterName.positionEmbedding).value
        let table = g.weight(ParameterName.positionEmbedding, dims: pos.shape, pos.storage)
        if gridHeight == base && gridWidth == base { return table }
        let first = g.slice(table, starts: [0], ends: [1], axes: [0], hint: "pos.cls")
        let grid = g.slice(table, starts: [1], ends: [1 + base * base], axes: [0], hint: "pos.grid")
        let planes = g.reshape(g.transpose(grid, [1, 0], hint: "pos.cf"), [1, d, base, base], hint: "pos.planes")
        let resized = g.op(
            "Resize", [planes, "", "", g.ints([1, d, gridHeight, gridWidth], hint: "pos.sizes")],
            [.init("mode", .string("linear")), .init("coordinate_transformation_mode", .string("half_pixel"))],
            hint: "pos.resized")
        let rows = g.transpose(g.reshape(resized, [d, patches], hint: "pos.flat"), [1, 0], hint: "pos.rows")
        return g.op("Concat", [first, rows], [.init("axis", .int(0))], hint: "positions")
    }
}
