import ArgumentParser
import Foundation
import MoEData
import MoEDataSources
import MoERecipe

extension MoECommand {
    /// `moe export-scenes`: a recipe's generated scenes as COCO JSON or image/mask folders.
    struct ExportScenes: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-scenes",
            abstract: "Write a scenes dataset as PNG images with COCO JSON boxes or class-index masks.")

        @Option(help: "Recipe with a scenes dataset.")
        var recipe: String

        @Option(help: "The scenes dataset to export (default: the recipe's only scenes dataset).")
        var dataset: String?

        @Option(help: "Output folder.")
        var out: String

        @Option(help: "coco or masks.")
        var format: String = "coco"

        @Option(help: "Train scenes written (default: the dataset's trainSize).")
        var train: Int?

        @Option(help: "Test scenes written, as split 'val' (default: the dataset's testSize).")
        var test: Int?

        func validate() throws {
            guard SceneExport.Format(rawValue: format) != nil else {
                throw ValidationError("--format must be coco or masks, got '\(format)'")
            }
            for (flag, value) in [("--train", train), ("--test", test)] {
                if let value, !(1...1_000_000).contains(value) {
                    throw ValidationError("\(flag) must be in 1...1000000, got \(value)")
                }
            }
        }

        func run() throws {
            let r = try Recipe.load(path: recipe)
            let scenes = r.datasets.filter { $0.source == .scenes && (dataset == nil || $0.name == dataset) }
            guard scenes.count == 1, let entry = scenes.first else {
                throw ValidationError(
                    "\(recipe): expected one scenes dataset\(dataset.map { " named '\($0)'" } ?? ""), found \(scenes.count)"
                )
            }
            let directory = entry.path ?? FashionMNIST.defaultDirectory
            let config = entry.scene ?? SceneConfig()
            let kind = SceneExport.Format(rawValue: format) ?? .coco
            for (split, name, count) in [
                (FashionMNIST.Split.train, "train", train ?? entry.trainSize),
                (FashionMNIST.Split.test, "val", test ?? entry.testSize),
            ] {
                let generator = try SceneGenerator.fashionMNIST(
                    split: split, config: config, seed: r.seed, directory: directory)
                try SceneExport.write(
                    generator, count: count, split: name, root: out, format: kind, classNames: FashionMNIST.classNames)
                say("wrote \(count) \(name) scenes to \(out) (\(format))")
            }
        }
    }
}
