import ArgumentParser
import Foundation
import MoEExport
import MoEModel
import MoETensor
import MoETraining

extension MoECommand {
    /// `moe export`: one dataset's path through a checkpoint as an ONNX graph (DESIGN §2.7).
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export a dataset's router, reachable experts and head as an ONNX graph.",
            discussion: """
                The graph takes normalised images [batch, C, H, W] at the dataset's size (batch is \
                dynamic) and outputs logits (classification [B, C]; segmentation per-pixel [B, C+1, H, W]) \
                or, for detection, logits, scores and boxes before NMS. Every reachable expert runs \
                densely and is weighted by the Top-K gates (zero when not picked), so outputs equal \
                moe's. --reference writes moe's own outputs on test images as .npy files for \
                scripts/check_onnx.py; --bench times moe's forward at batch 1 and 64.
                """)

        @Option(help: "Checkpoint file (.moe).")
        var checkpoint: String

        @Option(help: "Dataset whose path to export; needed when the checkpoint has several.")
        var dataset: String?

        @Option(help: "Output ONNX file.")
        var onnx: String

        @Option(parsing: .unconditional, help: "Experts picked per token (Top-K reduction before export).")
        var topK: Int?

        @Option(parsing: .unconditional, help: "ONNX operator set (17-21).")
        var opset: Int = 17

        @Option(help: "Folder for moe's reference outputs on test images (images.npy, <output>.npy).")
        var reference: String?

        @Option(parsing: .unconditional, help: "Test images in the reference.")
        var referenceImages: Int = 8

        @Flag(help: "Time moe's own forward of the exported model at batch 1 and 64.")
        var bench = false

        @OptionGroup var runtime: RuntimeOptions

        func validate() throws {
            try requireIn(ONNXModel.supportedOpsets, opset, for: "--opset")
            try requireAtLeast(1, topK, for: "--top-k")
            try requireIn(1...1024, referenceImages, for: "--reference-images")
            if onnx.isEmpty { throw ValidationError("--onnx needs a file name") }
            if onnx == checkpoint { throw ValidationError("--onnx must differ from --checkpoint") }
        }

        func run() throws {
            let source = try SourceCheckpoint(path: checkpoint)
            _ = runtime.apply(fallback: source.recipe.training.threads)
            let name = try chooseDataset(source.model.config)
            let model = try reduced(source.model, dataset: name)
            let exported = try ONNXExporter(model: model, dataset: name, opset: opset).export()
            let bytes = exported.onnx.serialized()
            try write(bytes, to: onnx)
            let spec = try model.config.dataset(named: name)
            say(
                "exported dataset \(name) (\(spec.task.rawValue)) of \(checkpoint) → \(onnx) (opset \(opset), \(bytes.count) bytes)"
            )
            for line in exported.summaryLines { say("  " + line) }
            say("  checkpoint parameters: \(model.store.scalarCount)")
            guard reference != nil || bench else { return }
            let data = try source.dataset(named: name)
            let count = min(referenceImages, data.test.count)
            guard count > 0 else {
                throw ValidationError("dataset '\(name)' has no test images for --reference or --bench")
            }
            var images = Tensor(shape: [count, model.config.channels, spec.height, spec.width])
            _ = data.test.makeBatch(indices: Array(0..<count), into: &images)
            if let reference { try writeReference(model: model, dataset: name, images: images, folder: reference) }
            if bench {
                for batch in [1, 64] {
                    let ms = try ExportLatency.milliseconds(model: model, dataset: name, images: images, batch: batch)
                    say("  moe latency, batch \(batch): \(String(format: "%.2f", ms)) ms (median)")
                }
            }
        }

        private func chooseDataset(_ config: ModelConfig) throws -> String {
            if let dataset { return try config.dataset(named: dataset).name }
            guard config.datasets.count == 1, let only = config.datasets.first else {
                throw ValidationError(
                    "the checkpoint has datasets \(config.datasets.map(\.name).joined(separator: ", ")); choose one with --dataset"
                )
            }
            return only.name
        }

        /// The model with K = `--top-k` for `dataset`, checked against its reachable experts.
        private func reduced(_ model: VisionMoE, dataset: String) throws -> VisionMoE {
            guard let topK else { return model }
            guard !model.config.isDense else { throw ExportError.denseTopK(dataset: dataset) }
            let spec = try model.config.dataset(named: dataset)
            let allowed = ONNXExporter.reachableExperts(config: model.config, spec: spec).map(\.count).min() ?? 0
            guard topK <= allowed else { throw ExportError.topK(topK, dataset: dataset, allowed: allowed) }
            say("top-\(model.config.topK(of: spec)) → top-\(topK) for dataset \(dataset)")
            return try model.settingTopK(topK, datasets: [dataset])
        }

        private func writeReference(model: VisionMoE, dataset: String, images: Tensor, folder: String) throws {
            let outputs = try ExportReference.outputs(model: model, dataset: dataset, images: images)
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw ExportWriteError(path: folder, detail: error.localizedDescription)
            }
            for (name, tensor) in [("images", images)] + outputs {
                let path = (folder as NSString).appendingPathComponent("\(name).npy")
                try write(NumpyFile.bytes(tensor.storage, shape: tensor.shape), to: path)
            }
            say("  reference: moe's outputs on \(images.shape[0]) test images → \(folder)")
        }

        private func write(_ bytes: [UInt8], to path: String) throws {
            do {
                try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw ExportWriteError(path: path, detail: error.localizedDescription)
            }
        }
    }
}

/// A file `moe export` could not write.
struct ExportWriteError: Error, CustomStringConvertible {
    let path: String
    let detail: String
    var description: String { "cannot write '\(path)': \(detail)" }
}
