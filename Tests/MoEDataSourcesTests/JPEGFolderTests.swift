import Foundation
import MoEData
import MoEDataSources
import MoERecipe
import MoETensor
import MoETestSupport
import MoETraining
import Testing

/// A JPEG ImageFolder written by Pillow loads as Pillow sees it: gray (model.channels 1, RGB
/// decoded then BT.601 luma, not libjpeg's Y-only output of `draft("L")`)
/// within ±1 of `convert('L')`, RGB (3) within ±1 of `convert('RGB')`, at a non-native size.
@Suite struct JPEGFolderTests {
    /// 12 RGB JPEGs of 40×30 in 2 classes, and Pillow's 28×28 preprocessing of each
    /// (resize shorter side to 28 bilinear after draft, centre crop) as raw bytes.
    static let script = """
        import os, sys
        import numpy as np
        from PIL import Image
        root = sys.argv[1]
        rng = np.random.default_rng(0)
        for split in ["train", "val"]:
            for label in range(2):
                d = os.path.join(root, "jpeg", split, f"class{label}")
                os.makedirs(d, exist_ok=True)
                for i in range(3):
                    a = (rng.random((30, 40, 3)) * 255).astype(np.uint8)
                    path = os.path.join(d, f"{i}.jpg")
                    Image.fromarray(a, "RGB").save(path, quality=90)
                    for mode in ["L", "RGB"]:
                        im = Image.open(path)
                        im.draft("RGB", (28, 28))
                        im = im.convert(mode)
                        w, h = im.size
                        im = im.resize((28 * w // h, 28), Image.BILINEAR)
                        left = round((im.size[0] - 28) / 2)
                        im = im.crop((left, 0, left + 28, 28))
                        arr = np.asarray(im)
                        if mode == "RGB":
                            arr = arr.transpose(2, 0, 1)
                        arr.tofile(path + "." + mode + ".raw")
        """

    @Test(arguments: [1, 3])
    func matchesPillowWithinOne(channels: Int) throws {
        try withTemporaryDirectory { dir in
            try Python.run(Self.script, arguments: [dir.path])
            let recipe = try Recipe.parse(
                yaml: """
                    name: jpeg
                    model: {channels: \(channels), imageSize: 28, patchSize: 7, width: 16, depth: 1, heads: 2, experts: 2, topK: 1}
                    datasets:
                      j: {source: folder, path: "\(dir.path)/jpeg", cache: none, batchSize: 2}
                    training: {steps: 1}
                    """, source: "test")
            let entries = try ImageFolder.scan(root: dir.path + "/jpeg").train
            let prep = RunDataset.preprocessing(recipe.datasets[0], model: recipe.model)
            let loaded = try LoadedSplit.classification(entries, preprocessing: prep, progress: nil)
            let size = channels * 28 * 28
            for (i, entry) in entries.enumerated() {
                let mode = channels == 1 ? "L" : "RGB"
                let expected = try [UInt8](Data(contentsOf: URL(fileURLWithPath: entry.path + "." + mode + ".raw")))
                let got = Array(loaded.images.pixels[(i * size)..<((i + 1) * size)])
                #expect(expected.count == size)
                let worst = zip(expected, got).map { abs(Int($0) - Int($1)) }.max() ?? 0
                #expect(worst <= 1, "\(entry.path): max difference \(worst)")
            }
            let data = try RunDataset.load(recipe.datasets[0], seed: 0, model: recipe.model)
            #expect(data.train.channels == channels && data.spec.classNames == ["class0", "class1"])
        }
    }
}
