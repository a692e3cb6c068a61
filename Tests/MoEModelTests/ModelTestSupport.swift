import MoEModel
import MoETensor
import Testing

/// The parent of every suite in this target. Serialized because MoETensor's worker pool
/// (`Parallel`) serves one caller at a time: tests running concurrently corrupt each other's
/// parallel kernels (attention uses the pool even at these tiny sizes). Serial runs are
/// also faster on two cores.
@Suite(.serialized) struct MoEModelSuites {}

/// A tiny two-dataset MoE config: dataset "a" at the base size, "b" larger (positions are
/// resampled), so every code path runs in milliseconds. With `denseTasks`, also a detection
/// dataset "det" (2 classes, 12×8: a 3×2 grid, resampled positions) and a segmentation
/// dataset "seg" (3 classes, base size).
func tinyConfig(
    experts: Int = 4, topK: Int = 2, renormalize: Bool = false, moeEvery: Int = 1,
    denseTasks: Bool = false
) -> ModelConfig {
    var c = ModelConfig()
    c.channels = 2
    c.imageSize = 8
    c.patchSize = 4
    c.width = 8
    c.depth = 2
    c.heads = 2
    c.mlpRatio = 2
    c.experts = experts
    c.topK = topK
    c.moeEvery = moeEvery
    c.renormalize = renormalize
    c.datasets = [
        DatasetSpec(name: "a", classes: 3, height: 8, width: 8),
        DatasetSpec(name: "b", classes: 4, height: 12, width: 12),
    ]
    if denseTasks {
        c.datasets += [
            DatasetSpec(name: "det", task: .detection, classes: 2, height: 12, width: 8),
            DatasetSpec(name: "seg", task: .segmentation, classes: 3, height: 8, width: 8),
        ]
    }
    return c
}

func randomImages(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    var t = Tensor(shape: shape)
    for i in 0..<t.count { t[i] = rng.normal() }
    return t
}

/// Gives every router random weights (they start at zero, where top-K is a tie).
func randomizeRouters(_ model: VisionMoE, seed: UInt64, std: Float = 1) {
    var rng = SeededGenerator(seed: seed)
    for p in model.store.parameters where p.name.contains(".routers.") {
        for i in 0..<p.value.count { p.value[i] = rng.normal() * std }
    }
}

/// Redraws every parameter with a large spread (std `std`, norm scales around 1) so that
/// every gradient, routers' included, is far above finite-difference noise.
func randomizeAllParameters(_ model: VisionMoE, seed: UInt64, std: Float = 0.25) {
    var rng = SeededGenerator(seed: seed)
    for p in model.store.parameters {
        let base: Float = p.name.contains("norm") && p.name.hasSuffix(".weight") ? 1 : 0
        for i in 0..<p.value.count { p.value[i] = base + rng.normal() * std }
    }
}

/// The test loss of the model's head on (images, labels) and ∂L/∂output, in Double:
/// mean cross-entropy for classification; for dense heads `Σ output ⊙ R` with a fixed
/// random R (labels are ignored).
func lossAndGradient(_ model: VisionMoE, images: Tensor, labels: [Int], dataset: String) throws
    -> (Double, Tensor)
{
    let output = try model.forward(images: images, dataset: dataset)
    if output.rank == 3 { return weightedSum(output, seed: 77) }
    let logits = output
    let (b, c) = (logits.shape[0], logits.shape[1])
    var loss = 0.0
    var grad = Tensor(shape: logits.shape)
    for i in 0..<b {
        let row = (0..<c).map { Double(logits[i * c + $0]) }
        let m = row.max()!
        let z = row.map { exp($0 - m) }.reduce(0, +)
        loss += -(row[labels[i]] - m - log(z))
        for j in 0..<c {
            let p = exp(row[j] - m) / z
            grad[i * c + j] = Float((p - (j == labels[i] ? 1 : 0)) / Double(b))
        }
    }
    return (loss / Double(b), grad)
}

/// `Σ x ⊙ R` for a fixed random R of x's shape drawn from `seed`, and its gradient R.
/// R ~ N(0, 1) / rows (rows = all but the last dimension), a mean over rows like the
/// cross-entropy's over the batch, which keeps float32 finite-difference noise small.
func weightedSum(_ x: Tensor, seed: UInt64) -> (Double, Tensor) {
    var r = randomImages(x.shape, seed: seed)
    let rows = Float(x.count / x.shape.last!)
    for i in 0..<r.count { r[i] /= rows }
    let value = zip(x.storage, r.storage).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    return (value, r)
}

#if canImport(Glibc)
import Glibc
#endif
