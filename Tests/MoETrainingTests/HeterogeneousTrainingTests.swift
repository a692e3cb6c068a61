import Foundation
import MoECheckpoint
import MoEModel
import MoETensor
import Testing

@testable import MoEData
@testable import MoEOptim
@testable import MoERecipe
@testable import MoETasks
@testable import MoETraining

/// Heterogeneous training (DESIGN §3–4): one backbone trains classification, detection and
/// segmentation datasets with their own routers and heads; the MI buffers advance with the
/// steps and are saved, so a resumed run still equals an uninterrupted one bit for bit.
@Suite struct HeterogeneousTrainingTests {
    static let yaml = """
        name: hetero
        seed: 3
        model: {channels: 1, imageSize: 8, patchSize: 4, width: 16, depth: 2, heads: 2, mlpRatio: 2, experts: 4, topK: 2}
        datasets:
          digits: {source: digits, batchSize: 16, samplingWeight: 3, lossWeight: 1.0}
          detect:
            source: scenes
            task: detection
            scene: {canvas: 16, minItems: 1, maxItems: 2, minScale: 8, maxScale: 12}
            trainSize: 64
            testSize: 16
            batchSize: 8
            samplingWeight: 2
            lossWeight: 0.6
          segment:
            source: scenes
            task: segmentation
            scene: {canvas: 16, minItems: 1, maxItems: 2, minScale: 8, maxScale: 12}
            trainSize: 64
            testSize: 16
            batchSize: 8
            samplingWeight: 1
            lossWeight: 0.2
        optimizer: {kind: adamw, lr: 3.0e-3}
        schedule: {kind: cosine, warmup: 2}
        training: {steps: 12, evalBatchSize: 16}
        """

    static func recipe(_ overrides: [String] = []) throws -> Recipe {
        try Recipe.parse(yaml: yaml, source: "hetero.yaml", overrides: overrides)
    }

    static let data: [RunDataset] = {
        do { return try RunDataset.loadAll(try recipe()) } catch { fatalError("data: \(error)") }
    }()

    @Test("every task trains on one backbone; the MI buffers count every step")
    func threeTasksTrain() throws {
        let trainer = try Trainer(recipe: try Self.recipe(), data: Self.data)
        #expect(trainer.model.config.datasets.map(\.task) == [.classification, .detection, .segmentation])
        #expect(trainer.state.mutualInformation.count == trainer.model.moeLayerCount)
        var seen = Set<String>()
        for _ in 0..<12 {
            let report = try trainer.step()
            #expect(report.loss.isFinite && report.loss > 0)
            seen.insert(report.dataset)
        }
        #expect(seen == ["digits", "detect", "segment"])
        for buffer in trainer.state.mutualInformation {
            #expect(buffer.counts.reduce(0, +) == 12)
            #expect(buffer.mutualInformation >= 0)
        }
        let metrics = try trainer.evaluate()
        #expect(metrics["digits"]?.values["top1"] != nil)
        #expect(metrics["detect"]?.values["mAP50"] != nil)
        #expect(metrics["segment"]?.values["mIoU"] != nil && metrics["segment"]?.count == 16)
    }

    @Test(
        "a step leaves the heads and routers of the datasets it did not sample untouched",
        arguments: ["adamw", "adam-per-task"])
    func unsampledDatasetsWait(optimizer: String) throws {
        let trainer = try Trainer(recipe: try Self.recipe(["optimizer=\(optimizer)"]), data: Self.data)
        #expect((trainer.optimizer is AdamPerTask) == (optimizer == "adam-per-task"))
        for _ in 0..<12 {
            let before = parameterBits(trainer.model)
            let report = try trainer.step()
            let dataset = report.dataset
            let changed = Set(differingNames(before, parameterBits(trainer.model)))
            let others = Set(["digits", "detect", "segment"]).subtracting([dataset])
            let owned = { (name: String) in
                others.contains { name.hasPrefix("heads.\($0).") || name.hasSuffix(".routers.\($0)") }
            }
            #expect(!changed.contains(where: owned), "step on \(dataset) moved \(changed.filter(owned))")
            if report.learningRate > 0 { #expect(changed.contains("heads.\(dataset).fc.weight")) }
        }
    }

    @Test("resuming a heterogeneous run (MI buffers included) equals the uninterrupted run")
    func resumeIsBitIdentical() throws {
        let whole = try Trainer(recipe: try Self.recipe(), data: Self.data)
        for _ in 0..<12 { try whole.step() }

        let first = try Trainer(recipe: try Self.recipe(), data: Self.data)
        for _ in 0..<6 { try first.step() }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("moe-hetero-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("half.moe")
        try first.checkpoint().write(to: path)
        let file = try Checkpoint.read(from: path)
        let resumed = try Trainer(
            recipe: try RunCheckpoint.recipe(file), data: Self.data,
            model: try RunCheckpoint.loadModel(file, path: path.path),
            optimizer: try Self.restoredOptimizer(file, store: first.model.store),
            state: try file.decodeMetadata(TrainingState.self, key: RunCheckpoint.Key.trainingState),
            history: RunCheckpoint.history(file))
        for _ in 0..<6 { try resumed.step() }

        #expect(resumed.state == whole.state)
        for (a, b) in zip(resumed.model.store.parameters, whole.model.store.parameters) {
            #expect(a.value.storage.map(\.bitPattern) == b.value.storage.map(\.bitPattern), "\(a.name)")
        }
    }

    static func restoredOptimizer(_ file: Checkpoint, store: ParameterStore) throws -> any Optimizer {
        var optimizer = makeOptimizer(try RunCheckpoint.recipe(file).optimizer)
        let tensors = Dictionary(
            uniqueKeysWithValues: file.tensors
                .filter { $0.name.hasPrefix(RunCheckpoint.optimizerPrefix) }.map { ($0.name, $0.tensor) })
        try optimizer.loadState(
            tensors: tensors,
            metadata: try file.decodeMetadata([String: String].self, key: RunCheckpoint.Key.optimizer),
            store: store)
        return optimizer
    }

    @Test(
        "past a dataset's warm-up the MI term joins the loss, and only when w_MI > 0",
        arguments: [Float(5e-4), 0])
    func mutualInformationTerm(weight: Float) throws {
        let recipe = try Self.recipe([
            "training.steps=300", "training.miWeight=\(weight)",
            "datasets.digits.samplingWeight=1",
        ])
        let trainer = try Trainer(recipe: recipe, data: Self.data)
        var miLosses: [Float] = []
        for _ in 0..<300 { miLosses.append(try trainer.step().mutualInformationLoss) }
        // No dataset is past its 100-update warm-up in the first 100 steps.
        #expect(miLosses.prefix(100).allSatisfy { $0 == 0 })
        if weight > 0 {
            #expect(miLosses.suffix(50).contains { $0 != 0 })
        } else {
            #expect(miLosses.allSatisfy { $0 == 0 })
        }
        #expect(trainer.bufferMutualInformation.allSatisfy { $0 > 0 && $0 <= log(3) + 1e-9 })
    }
}
