import MoEModel
import MoETensor

/// How a dataset's tokens are spread over the experts of every MoE layer.
public enum ExpertUsage {
    /// Per MoE layer, the fraction of the dataset's token→expert assignments each expert
    /// receives, over the first `images` images of the test split (or of the training split
    /// with `training`; at most the split's size). Rows sum to 1 and have `experts` entries
    /// (experts the dataset's router does not cover get 0). The passes run every expert
    /// here, not expert-parallel: under MPI only rank 0 measures (DESIGN §11.2).
    public static func measure(
        model: VisionMoE, dataset: RunDataset, images: Int, training: Bool = false, batchSize: Int = 128
    ) throws -> [[Double]] {
        let split = training ? dataset.train : dataset.test
        let images = min(images, split.count)
        let experts = model.config.experts
        var counts = [[Double]](
            repeating: [Double](repeating: 0, count: experts), count: model.config.moeBlocks.count)
        var batch = Tensor(shape: [0])
        let parallelism = model.expertParallelism
        model.expertParallelism = nil
        defer { model.expertParallelism = parallelism }
        var start = 0
        while start < images {
            let indices = Array(start..<min(images, start + batchSize))
            _ = split.makeBatch(indices: indices, into: &batch)
            // A training-mode pass keeps every layer's routing (no backward follows).
            _ = try model.forward(images: batch, dataset: dataset.name, training: true)
            for (layer, load) in model.lastExpertLoad.enumerated() {
                for (e, n) in load.enumerated() { counts[layer][e] += Double(n) }
            }
            start += batchSize
        }
        return counts.map { row in
            let total = max(row.reduce(0, +), 1)
            return row.map { $0 / total }
        }
    }
}
