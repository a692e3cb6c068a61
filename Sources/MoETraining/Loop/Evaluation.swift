import MoEData
import MoEModel
import MoETasks
import MoETensor

/// Classification metrics on one split.
public struct ClassificationMetrics: Codable, Sendable, Equatable {
    /// Fraction of examples whose top-scoring class is the label.
    public var top1: Double
    /// Fraction whose label is among the five highest scores.
    public var top5: Double
    /// Mean cross-entropy.
    public var loss: Double
    public var count: Int
}

/// Evaluation of a model on labelled images.
public enum Evaluation {
    /// Test metrics of `dataset`'s task: top-1/top-5 and loss, mAP@0.5, or mIoU and pixel
    /// accuracy, over every test example in order.
    ///
    /// With a `collective` of N > 1 ranks (DESIGN §11.3), every rank must call this with the
    /// same model and data: rank r evaluates the contiguous examples `[r·n/N, (r+1)·n/N)`,
    /// and the ranks sum counts, loss sums and confusion matrices and gather the detections,
    /// so every rank returns the metrics of the whole split (detection and segmentation
    /// exactly, the classification loss up to the order of a Double sum).
    public static func evaluate(
        model: VisionMoE, dataset: RunDataset, batchSize: Int, collective: any Collective = SingleProcess()
    ) throws -> TaskMetrics {
        let shard = EvaluationShard(collective: collective)
        let spec = try model.config.dataset(named: dataset.name)
        let split = dataset.test
        guard split.count > 0 else {
            throw TrainingError.datasetMismatch(
                detail: "dataset '\(dataset.name)' has an empty test split; nothing to evaluate "
                    + "(hint: raise datasets.\(dataset.name).testFraction or testSize)")
        }
        switch spec.task {
        case .classification:
            let local = try classificationSums(
                model: model, dataset: dataset.name, examples: shard.examples(of: split.count), batchSize: batchSize
            ) { range, images, labels throws(TrainingError) in
                guard case .labels(let found) = split.makeBatch(indices: Array(range), into: &images) else {
                    throw TrainingError.datasetMismatch(detail: "dataset '\(dataset.name)' has no labelled images")
                }
                labels = found
            }
            let m = metrics(of: try shard.sum(local), count: split.count)
            return TaskMetrics(
                task: .classification, count: m.count,
                values: ["top1": m.top1, "top5": m.top5, "loss": m.loss])
        case .detection, .segmentation:
            let geometry = TaskObjective.geometry(spec, patchSize: model.config.patchSize)
            var images = Tensor(shape: [0])
            var truth: [[Box]] = []
            var found: [[Detection]] = []
            var segmentation = try SegmentationMetrics(classes: spec.classes + 1, ignoreLabel: -1)
            for range in EvaluationShard.batches(shard.examples(of: split.count), batchSize: batchSize) {
                let targets = split.makeBatch(indices: Array(range), into: &images)
                let outputs = try model.forward(images: images, dataset: dataset.name, training: false)
                switch targets {
                case .boxes(let boxes):
                    truth += boxes
                    found += DetectionTask.decode(outputs: outputs, geometry: geometry)
                case .masks(let masks):
                    try segmentation.update(
                        prediction: SegmentationTask.predict(logits: outputs, geometry: geometry),
                        target: masks)
                case .labels:
                    throw TrainingError.datasetMismatch(
                        detail: "dataset '\(dataset.name)' gave labels, not boxes or masks")
                }
            }
            if spec.task == .detection {
                let all = try shard.gather(truth: truth, detections: found)
                let scores = try DetectionMetrics.averagePrecision(groundTruth: all.truth, detections: all.detections)
                return TaskMetrics(task: .detection, count: split.count, values: ["mAP50": scores.mAP])
            }
            segmentation = try shard.sum(segmentation)
            return TaskMetrics(
                task: .segmentation, count: split.count,
                values: ["mIoU": segmentation.meanIoU, "pixelAccuracy": segmentation.pixelAccuracy])
        }
    }

    /// Runs `model` over every example of `data` in order, batches of `batchSize`.
    public static func classify(
        model: VisionMoE, dataset name: String, data: ImageDataset, batchSize: Int
    ) throws -> ClassificationMetrics {
        let sums = try classificationSums(
            model: model, dataset: name, examples: 0..<data.count, batchSize: batchSize
        ) { range, images, labels in
            data.makeBatch(indices: Array(range), into: &images, labels: &labels)
        }
        return metrics(of: sums, count: data.count)
    }

    /// Top-1/top-5 and mean loss from `[top-1 hits, top-5 hits, loss sum]` over `count` examples.
    static func metrics(of sums: [Double], count: Int) -> ClassificationMetrics {
        let n = Double(max(count, 1))
        return ClassificationMetrics(top1: sums[0] / n, top5: sums[1] / n, loss: sums[2] / n, count: count)
    }

    /// `[top-1 hits, top-5 hits, loss sum]` over `examples`, in batches of at most
    /// `batchSize`: `fill(range, &images, &labels)` writes a batch.
    static func classificationSums(
        model: VisionMoE, dataset name: String, examples: Range<Int>, batchSize: Int,
        fill: (Range<Int>, inout Tensor, inout [Int32]) throws(TrainingError) -> Void
    ) throws -> [Double] {
        var correct1 = 0
        var correct5 = 0
        var lossSum = 0.0
        var images = Tensor(shape: [0])
        var labels: [Int32] = []
        for range in EvaluationShard.batches(examples, batchSize: batchSize) {
            try fill(range, &images, &labels)
            let logits = try model.forward(images: images, dataset: name, training: false)
            let classes = logits.shape[1]
            var losses = [Float](repeating: 0, count: range.count)
            var probs = [Float](repeating: 0, count: range.count * classes)
            logits.withUnsafePointer { l in
                crossEntropyForward(
                    losses: &losses, probs: &probs, logits: l, targets: labels, rows: range.count,
                    classes: classes)
            }
            for b in 0..<range.count {
                lossSum += Double(losses[b])
                let label = Int(labels[b])
                let row = b * classes
                let target = logits[row + label]
                // Rank = number of classes scoring strictly higher (ties favour the label).
                var higher = 0
                for c in 0..<classes where logits[row + c] > target { higher += 1 }
                if higher == 0 { correct1 += 1 }
                if higher < 5 { correct5 += 1 }
            }
        }
        return [Double(correct1), Double(correct5), lossSum]
    }
}
