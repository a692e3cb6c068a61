import ArgumentParser
import Foundation
import MoEImage
import MoETensor
import MoETestSupport
import MoETraining
import Testing

@testable import MoECommands

/// pretrain → adapt --router-only → prune → eval on ImageFolder datasets, through the CLI.
@Suite(.serialized) struct OwnDataCommandTests {
    /// `root/{train,val}/{dark,light}/*.png`: 28×28 gray images, dark or light with noise.
    static func folder(_ root: String, seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        for split in ["train", "val"] {
            for (label, name) in ["dark", "light"].enumerated() {
                let folder = "\(root)/\(split)/\(name)"
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                for i in 0..<(split == "train" ? 8 : 4) {
                    let pixels = (0..<784).map { _ in UInt8(label * 128 + rng.index(below: 128)) }
                    try PNGEncoder.write(
                        DecodedImage(width: 28, height: 28, channels: 1, pixels: pixels), to: "\(folder)/\(i).png")
                }
            }
        }
    }

    static func recipe(name: String, dataset: String, path: String) -> String {
        """
        name: \(name)
        seed: 1
        model: {channels: 1, imageSize: 28, patchSize: 7, width: 16, depth: 2, heads: 2, experts: 4, topK: 2}
        datasets:
          \(dataset): {source: folder, path: "\(path)", batchSize: 4}
        training: {steps: 3, logEvery: 1, threads: 2}
        """
    }

    static func run(_ arguments: [String], in dir: URL) throws -> String {
        var command = try MoECommand.parseAsRoot(arguments)
        return try capturingStandardOutput(in: dir) { try command.run() }
    }

    @Test func folderDatasetsGoThroughPretrainAdaptPruneAndEval() throws {
        _ = parallelPoolReady
        try withTrainingRunLock {
            Interrupt.reset()
            try withTemporaryDirectory { dir in
                let p = dir.path
                try Self.folder(p + "/a", seed: 1)
                try Self.folder(p + "/b", seed: 2)
                try Self.recipe(name: "a", dataset: "first", path: p + "/a").write(
                    toFile: p + "/a.yaml", atomically: true, encoding: .utf8)
                try Self.recipe(name: "b", dataset: "second", path: p + "/b").write(
                    toFile: p + "/b.yaml", atomically: true, encoding: .utf8)
                _ = try Self.run(["pretrain", "--recipe", p + "/a.yaml", "--out", p + "/a.moe"], in: dir)
                let adapted = try Self.run(
                    [
                        "adapt", "--router-only", "--checkpoint", p + "/a.moe", "--recipe", p + "/b.yaml", "--steps",
                        "2",
                        "--out", p + "/b.moe",
                    ], in: dir)
                #expect(adapted.contains("checkpoint: \(p)/b.moe"))
                _ = try Self.run(
                    [
                        "prune", "--checkpoint", p + "/b.moe", "--dataset", "second", "--keep", "2", "--finetune-steps",
                        "1",
                        "--out", p + "/c.moe",
                    ],
                    in: dir)
                let eval = try Self.run(["eval", "--checkpoint", p + "/b.moe"], in: dir)
                #expect(eval.contains("first") && eval.contains("second"))
                #expect(eval.contains("second: 2 classes (dark, light)"))
                let pruned = try Self.run(["eval", "--checkpoint", p + "/c.moe"], in: dir)
                #expect(pruned.contains("second"))
            }
        }
    }
}
