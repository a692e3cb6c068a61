import Foundation
import MoETensor
import Testing

@testable import MoEData
@testable import MoERecipe
@testable import MoETraining

/// Multi-branch augmentation: each branch transforms images and targets consistently, draws
/// follow the (time-varying) weights, and runs with augmentation resume bit for bit.
@Suite struct AugmentationTests {
    /// A 2-image batch of 1×4×4 images whose pixel value is its index within the image.
    static func batch() -> Tensor {
        Tensor(shape: [2, 1, 4, 4], storage: (0..<32).map { Float($0 % 16) })
    }

    @Test("hflip mirrors pixels, masks and boxes together")
    func hflip() {
        var images = Self.batch()
        let box = Box(x0: 0, y0: 1, x1: 1, y1: 3, label: 2)
        var targets = TaskTargets.boxes([[box], []])
        var rng = SeededGenerator(seed: 1)
        MultiBranchAugmentation.apply(
            branches: [AugmentationBranch(kind: .hflip)], progress: 0, images: &images, targets: &targets, rng: &rng)
        #expect(Array(images.storage[0..<4]) == [3, 2, 1, 0])
        #expect(targets == .boxes([[Box(x0: 3, y0: 1, x1: 4, y1: 3, label: 2)], []]))
        var masks = TaskTargets.masks((0..<32).map { Int32($0 % 4) })
        var again = Self.batch()
        MultiBranchAugmentation.apply(
            branches: [AugmentationBranch(kind: .hflip)], progress: 0, images: &again, targets: &masks, rng: &rng)
        guard case .masks(let m) = masks else {
            Issue.record("masks expected")
            return
        }
        #expect(Array(m[0..<4]) == [3, 2, 1, 0])
    }

    @Test("mosaic shrinks four samples into quadrants, boxes halved and offset")
    func mosaic() {
        // A batch of one has no partners: mosaic leaves it unchanged.
        var images = Tensor(shape: [1, 1, 4, 4], storage: (0..<16).map(Float.init))
        var targets = TaskTargets.boxes([[Box(x0: 0, y0: 0, x1: 4, y1: 4, label: 1)]])
        var rng = SeededGenerator(seed: 2)
        MultiBranchAugmentation.apply(
            branches: [AugmentationBranch(kind: .mosaic)], progress: 0, images: &images, targets: &targets, rng: &rng)
        #expect(images.storage == (0..<16).map(Float.init))
        var two = Tensor(shape: [2, 1, 4, 4], storage: (0..<32).map(Float.init))
        var twoTargets = TaskTargets.boxes([
            [Box(x0: 0, y0: 0, x1: 4, y1: 4, label: 1)], [Box(x0: 0, y0: 0, x1: 4, y1: 4, label: 3)],
        ])
        MultiBranchAugmentation.apply(
            branches: [AugmentationBranch(kind: .mosaic)], progress: 0, images: &two, targets: &twoTargets, rng: &rng)
        guard case .boxes(let bb) = twoTargets else {
            Issue.record("boxes expected")
            return
        }
        #expect(bb[0].count == 4 && bb[0].allSatisfy { $0.x1 - $0.x0 == 2 && $0.y1 - $0.y0 == 2 })
        #expect(bb[0][0] == Box(x0: 0, y0: 0, x1: 2, y1: 2, label: 1))
        #expect(two.storage[0] == 0 && two.storage[1] == 2 && two.storage[4] == 8)
    }

    @Test("branch weights move from weight to finalWeight over the run")
    func scheduledWeights() {
        let b = AugmentationBranch(kind: .noise, weight: 0, finalWeight: 4)
        #expect(b.weight(at: 0) == 0 && b.weight(at: 0.5) == 2 && b.weight(at: 1) == 4)
        var rng = SeededGenerator(seed: 3)
        let draws = (0..<1000).map { _ in MultiBranchAugmentation.draw([1, 3], &rng) }
        let share = Double(draws.filter { $0 == 1 }.count) / 1000
        #expect(abs(share - 0.75) < 0.05)
    }

    @Test("a run with augmentation resumes bit for bit; recipe checks name bad keys")
    func resume() throws {
        let datasets = [TinyDataset(name: "digits", batchSize: 16)]
        let yaml =
            tinyRecipeYAML(steps: 4, datasets: datasets) + """
                augmentation:
                  digits:
                    - {kind: hflip}
                    - {kind: noise, std: 0.2, weight: 0, finalWeight: 2}
                    - {kind: mixup}
                    - {kind: crop, minScale: 0.5}

                """
        let recipe = try Recipe.parse(yaml: yaml, source: "aug.yaml")
        #expect(recipe.augmentation["digits"]?.count == 4)
        let full = try tinyTrainer(recipe)
        for _ in 0..<4 { try full.step() }
        let first = try tinyTrainer(recipe)
        for _ in 0..<2 { try first.step() }
        let resumed = try Trainer(resuming: try first.checkpoint(), path: "memory")
        for _ in 0..<2 { try resumed.step() }
        #expect(differingNames(parameterBits(resumed.model), parameterBits(full.model)) == [])
        #expect(resumed.state == full.state && full.state.augmentationGenerator != nil)

        let typo = thrown(RecipeError.self) {
            _ = try Recipe.parse(
                yaml: tinyRecipeYAML(datasets: datasets) + "augmentation:\n  digits:\n    - {kind: hflip, wieght: 2}\n",
                source: "a.yaml")
        }
        #expect("\(typo.map { "\($0)" } ?? "")".contains("augmentation.digits.0.wieght"))
        let mosaic = thrown(RecipeError.self) {
            _ = try Recipe.parse(
                yaml: tinyRecipeYAML(datasets: datasets) + "augmentation:\n  digits:\n    - {kind: mosaic}\n",
                source: "a.yaml")
        }
        #expect("\(mosaic.map { "\($0)" } ?? "")".contains("mosaic needs a scenes dataset"))
    }
}
