import Foundation
import MoEData
import MoETasks
import MoETensor
import MoETestSupport
import MoETraining
import Testing

/// Wall-clock time of each task loss at training size (B = 32, 48×48, C = 10). Opt-in
/// (`MOE_TASK_TIMING=1`), best run with `-c release` on an idle machine; prints, asserts
/// nothing about speed. Changes `Parallel.threads` while it runs.
@Suite struct TaskTimingTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["MOE_TASK_TIMING"] != nil))
    func lossTimings() throws {
        let threads = Parallel.threads
        defer { Parallel.threads = threads }
        for (patch, threadCount) in [(4, threads), (8, threads), (4, 1)] {
            Parallel.threads = threadCount
            let g = TaskGeometry(classes: 10, imageHeight: 48, imageWidth: 48, patchSize: patch)
            let batch = 32
            var generator = SeededGenerator(seed: 71)
            let k = g.classes + 1
            let logits = Tensor(
                shape: [batch, g.classes], storage: randomTensorValues(count: batch * g.classes, seed: 72))
            let labels = (0..<batch).map { _ in Int32(generator.index(below: g.classes)) }
            let seg = Tensor(
                shape: [batch, g.cells, k], storage: randomTensorValues(count: batch * g.cells * k, seed: 73))
            let masks = (0..<(batch * g.pixels)).map { _ in Int32(generator.index(below: k + 1)) - 1 }
            let det = Tensor(
                shape: [batch, g.cells, k + 4], storage: randomTensorValues(count: batch * g.cells * (k + 4), seed: 74))
            let boxes: [[Box]] = (0..<batch).map { _ in
                (0..<4).map { _ in
                    let x = Float(generator.index(below: 30))
                    let y = Float(generator.index(below: 30))
                    let s = Float(14 + generator.index(below: 4))
                    return Box(x0: x, y0: y, x1: x + s, y1: y + s, label: Int32(generator.index(below: 10)))
                }
            }
            func time(_ name: String, _ body: () throws -> Void) rethrows {
                try body()
                let runs = 50
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<runs { try body() }
                let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(runs)
                print(String(format: "P=%d threads=%d %@: %.3f ms", patch, threadCount, name, ms))
            }
            try time("classification loss") { _ = try ClassificationTask.loss(logits: logits, labels: labels) }
            try time("segmentation loss") { _ = try SegmentationTask.loss(logits: seg, masks: masks, geometry: g) }
            time("segmentation predict") { _ = SegmentationTask.predict(logits: seg, geometry: g) }
            try time("detection loss") { _ = try DetectionTask.loss(outputs: det, boxes: boxes, geometry: g) }
            time("detection decode") { _ = DetectionTask.decode(outputs: det, geometry: g) }
        }
    }
}
