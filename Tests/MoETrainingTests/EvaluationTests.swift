import Foundation
import Testing

@testable import MoEData
@testable import MoETraining

/// `Evaluation.classify` counts every example once, whatever the batch size, with
/// 0 ≤ top-1 ≤ top-5 ≤ 1 matching a direct count over the logits, a finite mean
/// cross-entropy; and a briefly trained model beats chance.
@Suite struct EvaluationTests {
    @Test("classify on 37 images matches a direct count over the logits, for any batch size")
    func smallDataset() throws {
        let trainer = try tinyTrainer(try tinyRecipe())
        for _ in 0..<3 { try trainer.step() }
        let data = try #require(trainer.data[0].test as? ClassificationSplit).data.subset(Array(0..<37))
        let whole = try Evaluation.classify(model: trainer.model, dataset: "digits", data: data, batchSize: 37)
        #expect(whole.count == 37)
        #expect(0 <= whole.top1 && whole.top1 <= whole.top5 && whole.top5 <= 1)
        #expect(whole.loss.isFinite && whole.loss > 0)

        let (images, labels) = data.makeBatch(indices: 0..<37)
        let logits = try trainer.model.forward(images: images, dataset: "digits")
        var top1 = 0
        var top5 = 0
        var loss = 0.0
        for b in 0..<37 {
            let row: [Double] = (0..<10).map { Double(logits[b * 10 + $0]) }
            let label = Int(labels[b])
            let target: Double = row[label]
            let higher = row.filter { $0 > target }.count
            if higher == 0 { top1 += 1 }
            if higher < 5 { top5 += 1 }
            let m: Double = row.max()!
            let sum: Double = row.map { exp($0 - m) }.reduce(0, +)
            loss += m + log(sum) - target
        }
        #expect(whole.top1 == Double(top1) / 37 && whole.top5 == Double(top5) / 37)
        #expect(abs(whole.loss - loss / 37) < 1e-4)

        for batchSize in [1, 16, 100] {
            let m = try Evaluation.classify(model: trainer.model, dataset: "digits", data: data, batchSize: batchSize)
            #expect(m.count == 37)
            #expect(abs(m.top1 - whole.top1) <= 1.0 / 37 && abs(m.loss - whole.loss) < 1e-4, "batch \(batchSize)")
        }
    }

    @Test("60 steps on digits lift test top-1 well above chance (0.1)")
    func learns() throws {
        let recipe = try tinyRecipe(steps: 60, overrides: ["schedule.kind=constant"])
        let trainer = try tinyTrainer(recipe)
        let test = try #require(trainer.data[0].test as? ClassificationSplit).data
        let untrained = try Evaluation.classify(model: trainer.model, dataset: "digits", data: test, batchSize: 512)
        for _ in 0..<60 { try trainer.step() }
        let trained = try trainer.evaluate()["digits"]!
        #expect(trained.count == test.count && test.count == 359)
        let top1 = trained.values["top1"] ?? 0
        #expect(top1 > 0.3, "top-1 \(top1)")
        #expect(top1 > untrained.top1 + 0.15 && (trained.values["loss"] ?? .infinity) < untrained.loss)
    }
}
