import Foundation
import MoEModel
import MoETensor

/// `moe export --bench`: moe's own inference latency for the exported dataset, to set next
/// to ONNX Runtime's (`scripts/check_onnx.py --bench`).
enum ExportLatency {
    /// Median wall time in milliseconds of `model.forward` (inference mode) on `batch`
    /// images, cycled from `images`; two warm-up passes, then at least 5 timed passes and
    /// about a second of them.
    static func milliseconds(model: VisionMoE, dataset: String, images: Tensor, batch: Int) throws -> Double {
        let available = images.shape[0]
        let per = images.count / available
        var input = Tensor(shape: [batch] + images.shape.dropFirst())
        for i in 0..<batch {
            let source = (i % available) * per
            input.storage.replaceSubrange((i * per)..<((i + 1) * per), with: images.storage[source..<(source + per)])
        }
        for _ in 0..<2 { _ = try model.forward(images: input, dataset: dataset, training: false) }
        var times: [Double] = []
        let start = Date()
        while times.count < 5 || (Date().timeIntervalSince(start) < 1 && times.count < 200) {
            let t0 = Date()
            _ = try model.forward(images: input, dataset: dataset, training: false)
            times.append(Date().timeIntervalSince(t0) * 1000)
        }
        return times.sorted()[times.count / 2]
    }
}
