import Foundation
import MoEData
import MoETasks
import MoETensor
import MoETestSupport
import MoETraining
import Testing

@Suite struct TaskClassificationTests {
    static let logits = Tensor(shape: [4, 3], storage: randomTensorValues(count: 12, seed: 11, scale: 3))
    static let labels: [Int32] = [2, 0, 1, 2]

    @Test func lossEqualsNaiveDoubleCrossEntropy() throws {
        let result = try ClassificationTask.loss(logits: Self.logits, labels: Self.labels)
        var naive = 0.0
        for b in 0..<4 {
            let row = (0..<3).map { Double(Self.logits[b * 3 + $0]) }
            let m = row.max()!
            let lse = m + log(row.map { exp($0 - m) }.reduce(0, +))
            naive += lse - row[Int(Self.labels[b])]
        }
        naive /= 4
        #expect(abs(Double(result.loss) - naive) <= 1e-6 * max(1, naive), "loss \(result.loss) vs naive \(naive)")
        #expect(result.parts["cls"] == result.loss)
        #expect(result.gradient.shape == [4, 3])
    }

    @Test func gradientMatchesFiniteDifferences() throws {
        let result = try ClassificationTask.loss(logits: Self.logits, labels: Self.labels)
        let numeric = numericalGradient(at: Self.logits.storage) { values in
            Double(
                try! ClassificationTask.loss(logits: Tensor(shape: [4, 3], storage: values), labels: Self.labels).loss)
        }
        // float32 loss, h = 1e-2: rounding error ~1e-7 / 2e-2; 2e-2 relative with a 1e-3 floor.
        expectClose(result.gradient.storage, numeric, tolerance: 2e-2, floor: 1e-3)
    }

    @Test func labelsOutOfRangeThrowNotCrash() {
        for bad: Int32 in [-1, -7, 3] {
            let labels: [Int32] = [0, bad, 1, 2]
            #expect(
                throws: TaskError.labelOutOfRange(
                    what: "classification labels", index: 1, label: Int(bad), valid: 0...2)
            ) {
                try ClassificationTask.loss(logits: Self.logits, labels: labels)
            }
        }
    }

    @Test func shapeMismatchNamesBothShapes() {
        do {
            _ = try ClassificationTask.loss(logits: Self.logits, labels: [0, 1])
            Issue.record("no error for 4 logit rows and 2 labels")
        } catch {
            #expect(
                error as? TaskError == .shapeMismatch(what: "classification logits", expected: [2, 3], found: [4, 3]))
            #expect("\(error)".contains("[2, 3]") && "\(error)".contains("[4, 3]"), "\(error)")
        }
        #expect(throws: TaskError.self) {
            try ClassificationTask.loss(logits: Self.logits.reshaped([12]), labels: Self.labels)
        }
    }

    @Test func targetsDispatchToTheTaskLoss() throws {
        let geometry = TaskGeometry(classes: 3, imageHeight: 8, imageWidth: 8, patchSize: 4)
        let direct = try ClassificationTask.loss(logits: Self.logits, labels: Self.labels)
        let viaTargets = try TaskTargets.labels(Self.labels).loss(outputs: Self.logits, geometry: geometry)
        #expect(direct.loss == viaTargets.loss && direct.gradient == viaTargets.gradient)
    }
}
