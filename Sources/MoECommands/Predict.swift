import ArgumentParser
import Foundation
import MoECheckpoint
import MoEData
import MoEDataSources
import MoEImage
import MoEModel
import MoETasks
import MoETraining

extension MoECommand {
    /// `moe predict`: one dataset head's predictions for image files, in their own pixels.
    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Predict classes, boxes or masks for images with a checkpoint's dataset head.")

        @Option(help: "Checkpoint file (.moe).")
        var checkpoint: String

        @Option(help: "Dataset (head) to use; needed when the checkpoint has several.")
        var dataset: String?

        @Flag(help: "Print one JSON object per image.")
        var json = false

        @Option(help: "Folder for annotated images (detection) and class-index masks (segmentation).")
        var out: String?

        @Option(help: "Classes listed per image (classification).")
        var top = 5

        @Argument(help: "PNG or JPEG files, or folders (every image in them).")
        var images: [String]

        @OptionGroup var runtime: RuntimeOptions

        func validate() throws {
            if top < 1 { throw ValidationError("--top must be at least 1, got \(top)") }
            if images.isEmpty { throw ValidationError("give at least one image or folder") }
        }

        func run() throws {
            _ = runtime.apply()
            let file = try RunCheckpoint.read(path: checkpoint)
            let model = try RunCheckpoint.loadModel(file, path: checkpoint)
            guard model.config.channels == 1 || model.config.channels == 3 else {
                throw ValidationError(
                    "predict reads gray or RGB images; this model takes \(model.config.channels) channels")
            }
            var spec = try chooseSpec(model.config)
            let (mean, std) = try normalization(spec, file: file)
            if spec.classNames == nil, spec.classes == FashionMNIST.classNames.count, spec.inputMean == nil {
                spec.classNames = FashionMNIST.classNames
            }
            let predictor = Predictor(model: model, spec: spec, mean: mean, std: std)
            if let out { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) }
            for path in try ImageFolder.expand(images) {
                let image = try ImageDecoder.decode(path: path)
                let output = try predictor.predict(image, top: top)
                let written = try PredictionOutput.write(output, image: image, source: path, folder: out)
                say(
                    PredictionOutput.describe(
                        output, path: path, names: predictor.classNames, written: written, json: json))
            }
        }

        private func chooseSpec(_ config: ModelConfig) throws -> DatasetSpec {
            if let dataset { return try config.dataset(named: dataset) }
            guard config.datasets.count == 1, let only = config.datasets.first else {
                throw ValidationError(
                    "the checkpoint has datasets \(config.datasets.map(\.name).joined(separator: ", ")); choose one with --dataset"
                )
            }
            return only
        }

        /// The stored normalisation, or Fashion-MNIST's for checkpoints of built-in data.
        private func normalization(_ spec: DatasetSpec, file: Checkpoint) throws -> ([Float], [Float]) {
            if let mean = spec.inputMean, let std = spec.inputStd { return (mean, std) }
            let recipe = try RunCheckpoint.recipe(file, path: checkpoint)
            if let entry = recipe.datasets.first(where: { $0.name == spec.name }), entry.source == .fashionMNIST {
                return ([FashionMNIST.mean], [FashionMNIST.std])
            }
            throw ValidationError(
                "\(checkpoint): dataset '\(spec.name)' stores no input normalisation (only folder, coco and masks "
                    + "datasets and Fashion-MNIST are supported by predict)")
        }
    }
}
