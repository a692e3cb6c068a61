import Foundation
import MoECheckpoint
import MoETensor
import MoETestSupport
import Testing

@testable import MoETraining

/// A model saved with `RunCheckpoint.make` and written to disk comes back bit for bit, and
/// computes bit-identical logits; a file that does not match its own model config (an extra
/// or a missing tensor, a wrong shape) is rejected naming the tensor.
@Suite struct RunCheckpointTests {
    /// A trainer 3 steps in, so weights and optimiser state differ from any fresh init.
    static func trained() throws -> Trainer {
        let trainer = try tinyTrainer(try tinyRecipe(datasets: [TinyDataset(name: "digits"), TinyDataset(name: "b")]))
        for _ in 0..<3 { try trainer.step() }
        return trainer
    }

    static func written(_ checkpoint: Checkpoint, in dir: URL) throws -> String {
        let url = dir.appendingPathComponent("model.moe")
        try checkpoint.write(to: url)
        return url.path
    }

    @Test("make → write → read → loadModel gives identical parameters, config and logits")
    func roundTrip() throws {
        let trainer = try Self.trained()
        try withTemporaryDirectory { dir in
            let path = try Self.written(try trainer.checkpoint(), in: dir)
            let file = try RunCheckpoint.read(path: path)
            let model = try RunCheckpoint.loadModel(file, path: path)
            #expect(model.config == trainer.model.config)
            #expect(model.store.names == trainer.model.store.names)
            #expect(differingNames(parameterBits(model), parameterBits(trainer.model)) == [])
            #expect(try RunCheckpoint.recipe(file) == trainer.recipe)
            #expect(RunCheckpoint.history(file) == ["pretrain tiny"])

            for d in trainer.data {
                var images = Tensor(shape: [0])
                _ = d.test.makeBatch(indices: Array(0..<24), into: &images)
                let expected = try trainer.model.forward(images: images, dataset: d.name)
                let actual = try model.forward(images: images, dataset: d.name)
                #expect(actual.shape == [24, 10])
                #expect(bits(actual) == bits(expected))
            }
        }
    }

    @Test("a tensor that belongs to no parameter is rejected by name; optimiser tensors are allowed")
    func unexpectedTensor() throws {
        let trainer = try Self.trained()
        var checkpoint = try trainer.checkpoint()
        #expect(checkpoint.tensors.contains { $0.name.hasPrefix(RunCheckpoint.optimizerPrefix) })
        checkpoint.tensors.append(NamedTensor("blocks.7.moe.experts.w3", Tensor(shape: [2, 2])))
        try withTemporaryDirectory { dir in
            let path = try Self.written(checkpoint, in: dir)
            let error = thrown(TrainingError.self) {
                _ = try RunCheckpoint.loadModel(try RunCheckpoint.read(path: path), path: path)
            }
            #expect(error == .unexpectedTensor(name: "blocks.7.moe.experts.w3", path: path))
            #expect(error?.description.contains(path) == true)
        }
    }

    @Test(
        "a missing parameter tensor is CheckpointError.missingTensor naming it",
        arguments: [
            "pos_embed", "blocks.1.moe.routers.b", "heads.digits.fc.bias",
        ])
    func missingTensor(name: String) throws {
        let trainer = try Self.trained()
        var checkpoint = try trainer.checkpoint()
        let before = checkpoint.tensors.count
        checkpoint.tensors.removeAll { $0.name == name }
        #expect(checkpoint.tensors.count == before - 1)
        try withTemporaryDirectory { dir in
            let path = try Self.written(checkpoint, in: dir)
            let error = thrown(CheckpointError.self) {
                _ = try RunCheckpoint.loadModel(try RunCheckpoint.read(path: path), path: path)
            }
            #expect(error == .missingTensor(name: name, path: path))
        }
    }

    @Test("a parameter tensor of the wrong shape is CheckpointError.wrongShape")
    func wrongShape() throws {
        let trainer = try Self.trained()
        var checkpoint = try trainer.checkpoint()
        let i = try #require(checkpoint.tensors.firstIndex { $0.name == "cls_token" })
        checkpoint.tensors[i].tensor = Tensor(shape: [17])
        let error = thrown(CheckpointError.self) { _ = try RunCheckpoint.loadModel(checkpoint, path: "m.moe") }
        #expect(error == .wrongShape(name: "cls_token", expected: [16], found: [17], path: nil))
    }
}
