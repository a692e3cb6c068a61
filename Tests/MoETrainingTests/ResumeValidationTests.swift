import Foundation
import MoECheckpoint
import MoETensor
import MoETestSupport
import Testing

@testable import MoEOptim
@testable import MoETraining

/// A saved training state is checked against the recipe, the data on disk and the model
/// before a run resumes; damaged optimiser moments are refused. Each case was accepted (or
/// trapped) before.
@Suite(.serialized) struct ResumeValidationTests {
    /// A 2-step checkpoint of the tiny digits run, as written, with `edit` applied.
    func resume(
        editingState edit: (String) -> String = { $0 },
        editingTensors editTensors: (inout [NamedTensor]) -> Void = { _ in }
    ) throws -> Trainer {
        let trainer = try tinyTrainer(try tinyRecipe(steps: 6))
        for _ in 0..<2 { try trainer.step() }
        var checkpoint = try trainer.checkpoint()
        let state = try #require(checkpoint.metadata[RunCheckpoint.Key.trainingState])
        checkpoint.metadata[RunCheckpoint.Key.trainingState] = edit(state)
        editTensors(&checkpoint.tensors)
        return try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("run.moe")
            try checkpoint.write(to: url)
            return try Trainer(resuming: try RunCheckpoint.read(path: url.path), path: url.path)
        }
    }

    func message(_ body: () throws -> Trainer) -> String? {
        do {
            _ = try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("an unedited checkpoint resumes")
    func unedited() throws {
        #expect(try resume().state.step == 2)
    }

    /// The saved state as a JSON object, edited by `edit`.
    static func editJSON(_ state: String, _ edit: (inout [String: Any]) -> Void) -> String {
        guard var object = try? JSONSerialization.jsonObject(with: Data(state.utf8)) as? [String: Any] else {
            return state
        }
        edit(&object)
        return (try? JSONSerialization.data(withJSONObject: object)).map { String(decoding: $0, as: UTF8.self) }
            ?? state
    }

    static let damages: [(String, @Sendable (inout [String: Any]) -> Void)] = [
        ("step", { $0["step"] = -3 }),
        ("totalSteps", { $0["totalSteps"] = 2_000_000_000 }),
        ("trainingSeconds", { $0["trainingSeconds"] = -1 }),
        ("batchSamplers", { $0["batchSamplers"] = [String: Any]() }),
        (
            "batchSamplers.digits.count",
            {
                var samplers = $0["batchSamplers"] as? [String: Any] ?? [:]
                var digits = samplers["digits"] as? [String: Any] ?? [:]
                digits["count"] = 1000
                samplers["digits"] = digits
                $0["batchSamplers"] = samplers
            }
        ),
        ("datasetChooser", { $0["datasetChooser"] = ["state": [1, 2, 3]] }),
        ("datasetChooser", { $0["datasetChooser"] = ["state": [0, 0, 0, 0]] }),
        ("imagesSeen", { $0["imagesSeen"] = ["digits": -5] }),
        ("imagesSeen", { $0["imagesSeen"] = ["digits": Int.max] }),
        (
            "batchSamplers",
            {
                var samplers = $0["batchSamplers"] as? [String: Any] ?? [:]
                var digits = samplers["digits"] as? [String: Any] ?? [:]
                digits["epoch"] = Int.max
                samplers["digits"] = digits
                $0["batchSamplers"] = samplers
            }
        ),
    ]

    @Test("a damaged or mismatched training state is an error naming the field", arguments: 0..<damages.count)
    func damagedState(index: Int) throws {
        let (field, damage) = Self.damages[index]
        let text = message { try resume(editingState: { Self.editJSON($0, damage) }) }
        let error = try #require(text, "accepted a damaged \(field)")
        #expect(error.contains(field) && error.contains("run.moe"), "\(error)")
    }

    @Test("NaN or negative Adam moments are refused on resume", arguments: ["nan", "negative"])
    func badMoments(kind: String) throws {
        let text = message {
            try resume(editingTensors: { tensors in
                guard let i = tensors.firstIndex(where: { $0.name.hasPrefix("optim.v.") }) else { return }
                var storage = tensors[i].tensor.storage
                storage[0] = kind == "nan" ? .nan : -1
                tensors[i] = NamedTensor(tensors[i].name, Tensor(shape: tensors[i].tensor.shape, storage: storage))
            })
        }
        let error = try #require(text, "damaged moments were accepted")
        #expect(error.contains("optim.v."), "\(error)")
    }

    @Test("a checkpoint with NaN weights is refused on load, naming the parameter")
    func nanWeights() throws {
        let trainer = try tinyTrainer(try tinyRecipe(steps: 6))
        var checkpoint = try trainer.checkpoint()
        let i = try #require(checkpoint.tensors.firstIndex { $0.name == "patch_embed.weight" })
        var storage = checkpoint.tensors[i].tensor.storage
        storage[3] = .nan
        checkpoint.tensors[i] = NamedTensor(
            "patch_embed.weight", Tensor(shape: checkpoint.tensors[i].tensor.shape, storage: storage))
        let error = #expect(throws: TrainingError.self) { _ = try RunCheckpoint.loadModel(checkpoint, path: "run.moe") }
        #expect("\(error!)".contains("patch_embed.weight") && "\(error!)".contains("run.moe"))
    }

    @Test("checkpoints that once crashed a command (Fuzz/regressions/checkpoint) resume or fail with an error")
    func regressionCheckpoints() throws {
        let folder = repositoryRoot.appendingPathComponent("Fuzz/regressions/checkpoint")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names.sorted() where name.hasSuffix(".moe") {
            let path = folder.appendingPathComponent(name).path
            do {
                let trainer = try Trainer(resuming: try RunCheckpoint.read(path: path), path: path)
                try trainer.step()
            } catch {
                #expect("\(error)".contains(name), "\(error)")
            }
        }
    }
}
