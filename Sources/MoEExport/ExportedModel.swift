/// The result of `ONNXExporter.export()`: the ONNX model and the numbers `moe export` prints.
public struct ExportedModel: Sendable {
    public let onnx: ONNXModel
    /// Elements of the graph's initializers (the exported weights).
    public let parameters: Int
    /// Matrix FLOPs (2 per multiply-add) of one image through the graph, which runs every
    /// reachable expert.
    public let flopsPerImage: Double
    /// moe's own forward FLOPs for one image of the dataset (K experts per token).
    public let routedFLOPsPerImage: Double
    /// Per MoE layer, the experts the graph holds (indices into the model's experts).
    public let reachableExperts: [[Int]]

    /// Summary lines: parameters, FLOPs and experts per layer.
    public var summaryLines: [String] {
        let experts = reachableExperts.map { String($0.count) }.joined(separator: ", ")
        return [
            "graph parameters: \(parameters)",
            "graph FLOPs per image: \(Self.giga(flopsPerImage)) (moe's routed forward: \(Self.giga(routedFLOPsPerImage)); "
                + "the graph runs every reachable expert and weights it by the Top-K gates)",
            reachableExperts.isEmpty ? "experts: none (dense model)" : "reachable experts per MoE layer: \(experts)",
        ]
    }

    static func giga(_ flops: Double) -> String {
        let g = flops / 1e9
        return g >= 0.1 ? "\((g * 1000).rounded() / 1000) GFLOPs" : "\((flops / 1e6 * 100).rounded() / 100) MFLOPs"
    }
}
