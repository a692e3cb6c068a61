import ArgumentParser
import Foundation
import MoECheckpoint
import MoEReporting
import MoETasks
import MoETraining

extension MoECommand {
    /// `moe inspect`: how each dataset uses the experts of every MoE layer.
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each dataset's expert usage per MoE layer and the buffer MI; write an SVG heatmap.",
            discussion: """
                Routes test images of every dataset through the model and counts, per MoE \
                layer, the share of the dataset's token assignments each expert receives. \
                The heatmap is written beside the checkpoint as <name>-experts.svg.
                """)

        @Option(help: "Checkpoint file (.moe).")
        var checkpoint: String

        @Option(parsing: .unconditional, help: "Test images per dataset to route.")
        var images: Int = 512

        @Option(help: "Where to write the SVG (default: beside the checkpoint).")
        var svg: String?

        @Flag(help: "Plot the gradient-conflict diagnostics of metrics.jsonl beside the checkpoint (SVG) instead.")
        var gradients = false

        @OptionGroup var runtime: RuntimeOptions

        func validate() throws {
            try requireAtLeast(1, images, for: "--images")
        }

        func run() throws {
            if gradients { return try plotGradients() }
            _ = runtime.apply()
            let file = try RunCheckpoint.read(path: checkpoint)
            let model = try RunCheckpoint.loadModel(file, path: checkpoint)
            let recipe = try RunCheckpoint.recipe(file, path: checkpoint)
            guard !model.config.isDense else {
                say("\(checkpoint): a dense model has no experts to inspect")
                return
            }
            let items = FashionMNISTCache()
            var usage: [(dataset: String, layers: [[Double]])] = []
            for entry in recipe.datasets where model.config.datasets.contains(where: { $0.name == entry.name }) {
                let data = try RunDataset.load(entry, seed: recipe.seed, items: items, model: model.config)
                usage.append(
                    (
                        entry.name,
                        try ExpertUsage.measure(
                            model: model, dataset: data, images: images)
                    ))
            }
            for line in model.config.datasets.compactMap({ classNamesLine($0) }) { say(line) }
            let layers = model.config.moeBlocks
            let experts = model.config.experts
            for (i, block) in layers.enumerated() {
                say("MoE layer \(i) (block \(block)): share of each dataset's token assignments per expert")
                say(
                    "  " + "dataset".padding(toLength: 14, withPad: " ", startingAt: 0)
                        + (0..<experts).map { String(format: "%6d", $0) }.joined())
                for (name, layerUsage) in usage {
                    say(
                        "  " + name.padding(toLength: 14, withPad: " ", startingAt: 0)
                            + layerUsage[i].map { String(format: "%6.1f", 100 * $0) }.joined())
                }
            }
            var caption = "\(usage.count) datasets, up to \(images) test images each"
            if let state = try? file.decodeMetadata(TrainingState.self, key: RunCheckpoint.Key.trainingState),
                !state.mutualInformation.isEmpty
            {
                let mi = state.mutualInformation.map(\.mutualInformation)
                say(
                    "buffer MI per MoE layer: " + mi.map { String(format: "%.4f", $0) }.joined(separator: " ")
                        + String(
                            format: "  (mean %.4f, max log T = %.4f)", mi.reduce(0, +) / Double(mi.count),
                            log(Double(state.mutualInformation[0].datasets))))
                caption += "; buffer MI " + mi.map { String(format: "%.3f", $0) }.joined(separator: ", ")
            }
            let panels = layers.enumerated().map { i, block in
                (
                    title: "MoE layer \(i) (block \(block))", rowLabels: usage.map(\.dataset),
                    columnLabels: (0..<experts).map { "e\($0)" }, values: usage.map { $0.layers[i] }
                )
            }
            let out = svg ?? ((checkpoint as NSString).deletingPathExtension + "-experts.svg")
            let text = ExpertUsageHeatmap.svgGrid(panels: panels, caption: caption)
            do {
                try text.write(toFile: out, atomically: true, encoding: .utf8)
            } catch {
                throw ValidationError("cannot write the heatmap to '\(out)': \(error.localizedDescription)")
            }
            say("heatmap: \(out)")
        }

        /// `--gradients`: curves of the `grad` records of metrics.jsonl beside the checkpoint.
        private func plotGradients() throws {
            let log = MetricsLog.path(besideCheckpoint: checkpoint)
            guard let text = try? String(contentsOfFile: log, encoding: .utf8) else {
                throw ValidationError("cannot read '\(log)' (the run's metrics log beside the checkpoint)")
            }
            let records = GradientCurves.records(jsonLines: text)
            guard !records.isEmpty else {
                throw ValidationError(
                    "'\(log)' has no gradient diagnostics; train with training.diagnosticsEvery > 0 in roundRobin mode")
            }
            let out = svg ?? ((checkpoint as NSString).deletingPathExtension + "-gradients.svg")
            let name = ((checkpoint as NSString).lastPathComponent as NSString).deletingPathExtension
            try GradientCurves.svg(
                records: records, title: "gradient diagnostics of \(name) (\(records.count) records)"
            )
            .write(toFile: out, atomically: true, encoding: .utf8)
            say("gradient plot: \(out)")
        }
    }
}
