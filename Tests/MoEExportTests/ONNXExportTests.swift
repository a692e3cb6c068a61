import MoEExport
import MoEModel
import MoETensor
import Testing

/// A tiny three-task model: `cls` at the base grid, `det` on a larger grid (resampled
/// positions), `seg` on a smaller one; `experts` experts, top-`topK`.
func tinyModel(experts: Int = 4, topK: Int = 2, renormalize: Bool = false, seed: UInt64 = 3) throws -> VisionMoE {
    var c = ModelConfig()
    c.imageSize = 8
    c.patchSize = 4
    c.width = 8
    c.depth = 2
    c.heads = 2
    c.mlpRatio = 2
    c.experts = experts
    c.topK = topK
    c.renormalize = renormalize
    c.datasets = [
        DatasetSpec(name: "cls", classes: 3, height: 8, width: 8),
        DatasetSpec(name: "det", task: .detection, classes: 2, height: 12, width: 12),
        DatasetSpec(name: "seg", task: .segmentation, classes: 2, height: 4, width: 8),
    ]
    return try VisionMoE(config: c, seed: seed)
}

/// Parameters of `dataset`'s path counted from the model's store: everything but the other
/// datasets' heads and routers, expert banks sliced to the reachable experts and the
/// router to their columns.
func reachableParameterCount(_ model: VisionMoE, dataset: String) throws -> Int {
    let config = model.config
    let spec = try config.dataset(named: dataset)
    let reachable = ONNXExporter.reachableExperts(config: config, spec: spec)
    let names = config.datasets.map(\.name)
    var total = 0
    for parameter in model.store.parameters {
        let name = parameter.name
        if let owner = ParameterName.owner(of: name, datasets: names), names[owner] != dataset { continue }
        if let (block, rest) = ParameterName.moeParameter(name), let layer = config.moeBlocks.firstIndex(of: block) {
            let perExpert = parameter.value.count / parameter.value.shape[rest.hasPrefix("routers.") ? 1 : 0]
            total += perExpert * reachable[layer].count
            continue
        }
        total += parameter.value.count
    }
    return total
}

@Suite struct ONNXExportTests {
    @Test("the file holds a valid opset, typed input and the task's outputs", arguments: ["cls", "det", "seg"])
    func structure(dataset: String) throws {
        let model = try tinyModel()
        let exporter = try ONNXExporter(model: model, dataset: dataset, opset: 17)
        let exported = try exporter.export()
        let parsed = try ParsedONNX(exported.onnx.serialized())
        #expect(parsed.irVersion == 8 && parsed.opset == 17)
        #expect(parsed.inputs == ["images"])
        #expect(parsed.outputs == exporter.outputs.map(\.name))
        // Topological order: every input is a graph input, an initializer or an earlier output.
        var known = Set(parsed.inputs + parsed.initializers.map(\.name) + [""])
        for node in parsed.nodes {
            for input in node.inputs {
                #expect(known.contains(input), "\(node.opType) reads \(input) before it exists")
            }
            known.formUnion(node.outputs)
        }
        #expect(parsed.outputs.allSatisfy(known.contains))
        #expect(parsed.nodes.filter { $0.opType == "TopK" }.count == model.moeLayerCount)
        #expect(Set(parsed.initializers.map(\.name)).count == parsed.initializers.count)
        #expect(!parsed.initializers.contains { $0.name.contains("heads.") && !$0.name.contains("heads.\(dataset).") })
    }

    @Test("graph parameters are the dataset's reachable parameters, read back from the file")
    func parameterCount() throws {
        var model = try tinyModel(experts: 5)
        // `det` may use experts 1, 3, 4 in layer 0 and 0, 2 in layer 1; `cls` all of them.
        var config = model.config
        config.datasets[1].expertMask = [[false, true, false, true, true], [true, false, true, false, false]]
        model = try model.rebuilt(config: config, seed: 0) { name, _ in try model.store.parameter(named: name).value }
        for dataset in ["cls", "det", "seg"] {
            let exported = try ONNXExporter(model: model, dataset: dataset).export()
            let parsed = try ParsedONNX(exported.onnx.serialized())
            let expected = try reachableParameterCount(model, dataset: dataset)
            #expect(parsed.parameterCount == expected, "\(dataset)")
            #expect(exported.parameters == expected)
            #expect(exported.parameters < model.store.scalarCount)
        }
        let det = try ONNXExporter(model: model, dataset: "det").export()
        #expect(det.reachableExperts == [[1, 3, 4], [0, 2]])
        let parsed = try ParsedONNX(det.onnx.serialized())
        let w1 = try #require(parsed.initializers.first { $0.name == ParameterName.experts(block: 0, .w1) })
        #expect(w1.dims == [3, 8, model.config.expertHidden])
        let router = try #require(
            parsed.initializers.first { $0.name == ParameterName.router(block: 1, dataset: "det") })
        #expect(router.dims == [8, 2])
    }

    @Test("dense and every-second-block MoE models export their reachable parameters")
    func denseBlocks() throws {
        for (experts, moeEvery) in [(0, 1), (4, 2)] {
            let base = try tinyModel(experts: experts)
            var config = base.config
            config.moeEvery = moeEvery
            let model = try VisionMoE(config: config, seed: 2)
            for dataset in ["cls", "det"] {
                let exported = try ONNXExporter(model: model, dataset: dataset).export()
                let parsed = try ParsedONNX(exported.onnx.serialized())
                #expect(parsed.parameterCount == (try reachableParameterCount(model, dataset: dataset)))
                #expect(parsed.nodes.filter { $0.opType == "TopK" }.count == model.moeLayerCount)
                #expect(exported.reachableExperts.count == model.moeLayerCount)
            }
        }
    }

    @Test("a pruned single-dataset model exports no more parameters than it has")
    func pruned() throws {
        let model = try tinyModel(experts: 6).keepingDatasets(["cls"]).keepingExperts([[0, 2, 5], [1, 3, 4]])
        let exported = try ONNXExporter(model: model, dataset: "cls").export()
        #expect(exported.parameters <= model.store.scalarCount)
        #expect(exported.parameters == model.store.scalarCount)  // base grid, every kept expert reachable
        #expect(exported.reachableExperts == [[0, 1, 2], [0, 1, 2]])
    }

    @Test("graph FLOPs are moe's routed FLOPs plus the unpicked experts' products")
    func flops() throws {
        for (experts, topK) in [(4, 2), (3, 3), (5, 1)] {
            let model = try tinyModel(experts: experts, topK: topK)
            for spec in model.config.datasets {
                let exported = try ONNXExporter(model: model, dataset: spec.name).export()
                let tokens = Double(spec.height / 4 * spec.width / 4 + 1)
                let extra = tokens * 4 * 8 * Double(model.config.expertHidden) * Double(experts - topK) * 2
                #expect(abs(exported.flopsPerImage - (exported.routedFLOPsPerImage + extra)) < 1e-6)
            }
        }
    }

    @Test("moe's reference outputs have the shapes the graph declares")
    func referenceShapes() throws {
        let model = try tinyModel(renormalize: true)
        for spec in model.config.datasets {
            var images = Tensor(shape: [3, 1, spec.height, spec.width])
            var rng = SeededGenerator(seed: 5)
            for i in 0..<images.count { images.storage[i] = Float.random(in: -1...1, using: &rng) }
            let exporter = try ONNXExporter(model: model, dataset: spec.name)
            let outputs = try ExportReference.outputs(model: model, dataset: spec.name, images: images)
            #expect(outputs.map(\.name) == exporter.outputs.map(\.name))
            #expect(outputs.map(\.tensor.shape) == exporter.outputs.map { [3] + $0.shape })
            #expect(outputs.allSatisfy { $0.tensor.storage.allSatisfy(\.isFinite) })
        }
        let wrong = Tensor(shape: [1, 1, 8, 4])
        #expect(throws: ExportError.self) { try ExportReference.outputs(model: model, dataset: "cls", images: wrong) }
    }

    @Test("opsets outside 17...21 and unknown datasets are errors naming the value")
    func errors() throws {
        let model = try tinyModel()
        #expect(throws: ExportError.unsupportedOpset(16, supported: 17...21)) {
            try ONNXExporter(model: model, dataset: "cls", opset: 16)
        }
        #expect(throws: ModelError.self) { try ONNXExporter(model: model, dataset: "nope") }
        let gelu20 = try ParsedONNX(
            try ONNXExporter(model: model, dataset: "cls", opset: 20).export().onnx.serialized())
        #expect(gelu20.nodes.contains { $0.opType == "Gelu" } && gelu20.irVersion == 9)
        let gelu17 = try ParsedONNX(
            try ONNXExporter(model: model, dataset: "cls", opset: 17).export().onnx.serialized())
        #expect(!gelu17.nodes.contains { $0.opType == "Gelu" } && gelu17.nodes.contains { $0.opType == "Erf" })
    }

    @Test(".npy bytes carry a 64-byte-aligned header with the shape and little-endian floats")
    func numpy() {
        let bytes = NumpyFile.bytes([1, -0.5, 2, 4, 8, 16], shape: [2, 3])
        #expect(Array(bytes[0..<8]) == [0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.contains("'shape': (2, 3)") && header.hasSuffix("\n"))
        #expect(bytes.count == 10 + headerLength + 24)
        #expect(Array(bytes[(10 + headerLength)..<(14 + headerLength)]) == [0, 0, 0x80, 0x3F])
    }
}
