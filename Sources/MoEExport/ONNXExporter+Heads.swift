import MoEModel
import MoETensor

extension ONNXExporter {
    /// The dataset's head on x [B, N, D], writing the graph outputs `outputs` names.
    func head(_ x: String, _ g: ONNXGraphBuilder) throws {
        let name = ParameterName.head(spec.name)
        let eps = config.layerNormEpsilon
        if spec.task == .classification {
            let cls = g.op("Gather", [x, g.ints([0], dims: [], hint: "index")], [.init("axis", .int(1))], hint: "cls")
            let logits = try g.linear(
                try g.layerNorm(cls, store, "\(name).norm", epsilon: eps), store, "\(name).fc", rows: 1)
            g.node("Identity", [logits], hint: "logits", outputNames: ["logits"])
            return
        }
        let cells = g.slice(x, starts: [1], ends: [tokens], axes: [1], hint: "patch_features")
        let raw = try g.linear(
            try g.layerNorm(cells, store, "\(name).norm", epsilon: eps), store, "\(name).fc", rows: patches)
        if spec.task == .segmentation {
            upsampledLogits(raw, g)
        } else {
            g.node("Identity", [raw], hint: "logits", outputNames: ["logits"])
            detectionDecode(raw, g)
        }
    }

    /// Cell logits [B, cells, C+1] → per-pixel logits [B, C+1, H, W]: bilinear, half-pixel
    /// (align_corners = false), as `SegmentationTask`'s upsampling.
    private func upsampledLogits(_ raw: String, _ g: ONNXGraphBuilder) {
        let k = spec.classes + 1
        let planes = g.reshape(
            g.transpose(raw, [0, 2, 1], hint: "cell_planes"), [-1, k, gridHeight, gridWidth], hint: "cell_grid")
        let scales = g.floats([1, 1, Float(patch), Float(patch)], dims: [4], hint: "scales")
        g.node(
            "Resize", [planes, "", scales],
            [.init("mode", .string("linear")), .init("coordinate_transformation_mode", .string("half_pixel"))],
            hint: "logits", outputNames: ["logits"])
    }

    /// Detection outputs before NMS (DESIGN §2.4, `DetectionTask.decode`): per cell (i, j)
    ///
    ///     scores[c] = softmax(logits[0...C])[c + 1]                       c = 0..<C
    ///     (cx, cy) = ((j + ½ + dx)·P, (i + ½ + dy)·P),  (w, h) = P·(e^lw, e^lh)
    ///     boxes = (max(0, cx − w/2), max(0, cy − h/2), min(W, cx + w/2), min(H, cy + h/2))
    private func detectionDecode(_ raw: String, _ g: ONNXGraphBuilder) {
        let classes = spec.classes + 1
        let probabilities = g.op(
            "Softmax", [g.slice(raw, starts: [0], ends: [classes], axes: [2], hint: "class_logits")],
            [.init("axis", .int(-1))], hint: "class_probabilities")
        g.node(
            "Slice",
            [probabilities, g.ints([1], hint: "starts"), g.ints([classes], hint: "ends"), g.ints([2], hint: "axes")],
            hint: "scores", outputNames: ["scores"])
        var centres: [Float] = []
        for cell in 0..<patches { centres += [Float(cell % gridWidth) + 0.5, Float(cell / gridWidth) + 0.5] }
        let p = Float(patch)
        let offsets = g.slice(raw, starts: [classes], ends: [classes + 2], axes: [2], hint: "box_offsets")
        let centre = g.op(
            "Mul",
            [
                g.op(
                    "Add", [offsets, g.floats(centres, dims: [patches, 2], hint: "cell_centres")], hint: "centre_cells"),
                g.floats([p], dims: [], hint: "patch"),
            ], hint: "box_centres")
        let logSizes = g.slice(raw, starts: [classes + 2], ends: [classes + 4], axes: [2], hint: "box_log_sizes")
        let half = g.op(
            "Div",
            [
                g.op(
                    "Mul", [g.op("Exp", [logSizes], hint: "box_scale"), g.floats([p], dims: [], hint: "patch")],
                    hint: "box_sizes"), g.floats([2], dims: [], hint: "two"),
            ], hint: "box_half")
        let lower = g.op(
            "Max", [g.op("Sub", [centre, half], hint: "box_min_raw"), g.floats([0, 0], dims: [2], hint: "origin")],
            hint: "box_min")
        let upper = g.op(
            "Min",
            [
                g.op("Add", [centre, half], hint: "box_max_raw"),
                g.floats([Float(spec.width), Float(spec.height)], dims: [2], hint: "extent"),
            ], hint: "box_max")
        g.node("Concat", [lower, upper], [.init("axis", .int(-1))], hint: "boxes", outputNames: ["boxes"])
    }
}
