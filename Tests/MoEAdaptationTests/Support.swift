import Foundation
import MoEData
import MoEModel
import MoETensor
import MoETestSupport
import Testing

@testable import MoEAdaptation
@testable import MoERecipe
@testable import MoETraining

// Shared helpers: a tiny source model (8×8 digits, 2 blocks of width 16, 4 experts, top-2)
// with random routers so routing is not uniform, and tiny adaptation recipes.

let cachedDigits: ImageDataset = {
    do { return try Digits.load() } catch { fatalError("digits data unavailable: \(error)") }
}()

/// Digits as dataset `name` (split with seed 0, as the source recipe's seed).
func digitsData(_ name: String, batchSize: Int = 16, recipe: Recipe? = nil) -> RunDataset {
    var entry = recipe?.datasets.first(where: { $0.name == name }) ?? DatasetRecipe(name: name, source: .digits)
    entry.batchSize = batchSize
    let (train, test) = Digits.split(cachedDigits, testFraction: 0.2, seed: 0)
    return RunDataset(recipe: entry, train: ClassificationSplit(train), test: ClassificationSplit(test))
}

/// The tiny architecture with datasets `names` (digits specs).
func tinyConfig(_ names: [String], experts: Int = 4, topK: Int = 2) -> ModelConfig {
    var c = ModelConfig()
    c.imageSize = 8
    c.patchSize = 4
    c.width = 16
    c.depth = 2
    c.heads = 2
    c.mlpRatio = 2
    c.experts = experts
    c.topK = topK
    c.datasets = names.map { DatasetSpec(name: $0, classes: 10, height: 8, width: 8) }
    return c
}

/// A tiny model whose routers are random (std 0.5), so tokens spread over the experts.
func tinySource(_ names: [String] = ["a"], experts: Int = 4, seed: UInt64 = 3) throws -> VisionMoE {
    let model = try VisionMoE(config: tinyConfig(names, experts: experts), seed: seed)
    var rng = SeededGenerator(seed: seed &+ 11)
    for p in model.store.parameters where p.name.contains(".routers.") {
        for i in 0..<p.value.count { p.value.storage[i] = 0.5 * rng.normal() }
    }
    return model
}

/// A tiny adaptation recipe for dataset `name`.
func tinyAdaptRecipe(_ name: String = "b", steps: Int = 3, optimizer: String = "adamw", weightDecay: Double = 0.1)
    throws -> Recipe
{
    try Recipe.parse(
        yaml: """
            name: adapt-\(name)
            datasets:
              \(name): {source: digits, batchSize: 16}
            optimizer: {kind: \(optimizer), lr: 1.0e-2, weightDecay: \(weightDecay)}
            training: {steps: \(steps), logEvery: 100, evalBatchSize: 512, threads: 2}
            """, source: "adapt.yaml")
}

/// A batch of the first `count` test digits.
func testBatch(_ data: RunDataset, count: Int = 24) -> Tensor {
    var images = Tensor(shape: [0])
    _ = data.test.makeBatch(indices: Array(0..<count), into: &images)
    return images
}

/// The Float bit patterns of a tensor.
func bits(_ tensor: Tensor) -> [UInt32] { tensor.storage.map(\.bitPattern) }

/// Every parameter's bit pattern, by name.
func parameterBits(_ model: VisionMoE) -> [String: [UInt32]] {
    Dictionary(uniqueKeysWithValues: model.store.parameters.map { ($0.name, bits($0.value)) })
}
