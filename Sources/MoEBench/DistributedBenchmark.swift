import Foundation
import MoERecipe
import MoETraining

/// One `moe bench --distributed` measurement: data-parallel training steps of a recipe on N
/// ranks, split into compute and communication, against one rank alone.
public struct DistributedBenchResult: Codable, Sendable {
    public var recipe: String
    public var ranks: Int
    public var threadsPerRank: Int
    /// Timed steps (after warm-up).
    public var steps: Int
    /// Median wall time of a step on rank 0, milliseconds.
    public var millisecondsPerStep: Double
    /// Median of (step time − time inside the all-reduces), milliseconds.
    public var computeMilliseconds: Double
    /// Median time inside the all-reduces (waiting for the slowest rank included), milliseconds.
    public var allReduceMilliseconds: Double
    /// Time in expert all-to-all exchanges; nil without expert parallelism.
    public var allToAllMilliseconds: Double?
    /// 4 × trainable parameters in rank 0's store: the gradient bucket of a step that reaches
    /// every parameter (this rank's experts only, with a sharded expert store).
    public var gradientBytes: Double
    /// 4 × the floats rank 0 holds after the timed steps: weights, gradients and optimiser
    /// state, and the expert banks' part of them (DESIGN §11.2).
    public var storeBytesPerRank: Double
    public var expertStoreBytesPerRank: Double
    /// Bytes each rank hands to the all-reduces per step (gradient bucket, losses, MI; 0 on
    /// one rank, which reduces nothing).
    public var payloadBytesPerStep: Double
    /// Bytes each rank sends (and receives) per step in a ring all-reduce: 2(N−1)/N × payload.
    public var ringBytesPerStep: Double
    /// Global training images per second (all ranks together).
    public var imagesPerSecond: Double
    /// One rank alone, same threads, same recipe: measured by rank 0 before the distributed
    /// part (`measured`), given on the command line (`given`), or this run itself on one
    /// rank (`this run`).
    public var singleImagesPerSecond: Double?
    public var singleSource: String?
    /// `imagesPerSecond / singleImagesPerSecond`.
    public var speedup: Double?
    /// `speedup / ranks`.
    public var scalingEfficiency: Double?

    enum CodingKeys: String, CodingKey {
        case recipe, ranks, steps, speedup
        case threadsPerRank = "threads_per_rank"
        case millisecondsPerStep = "ms_per_step"
        case computeMilliseconds = "compute_ms"
        case allReduceMilliseconds = "allreduce_ms"
        case allToAllMilliseconds = "alltoall_ms"
        case gradientBytes = "gradient_bytes"
        case storeBytesPerRank = "store_bytes_per_rank"
        case expertStoreBytesPerRank = "expert_store_bytes_per_rank"
        case payloadBytesPerStep = "payload_bytes_per_step"
        case ringBytesPerStep = "ring_bytes_per_step"
        case imagesPerSecond = "images_per_s"
        case singleImagesPerSecond = "single_images_per_s"
        case singleSource = "single_source"
        case scalingEfficiency = "scaling_efficiency"
    }
}

/// Data-parallel training throughput (DESIGN §11.3): every rank builds the same trainer,
/// distributes it over the collective (timed by a `TimedCollective`) and steps.
public enum DistributedBenchmark {
    /// bench-tiny (`Benchmark.benchTiny`) on Fashion-MNIST with AdamW, as a recipe.
    public static func benchTinyRecipe(batch: Int) throws -> Recipe {
        try Recipe.parse(
            yaml: """
                name: bench-tiny
                seed: 0
                model: {channels: 1, imageSize: 28, patchSize: 4, width: 128, depth: 6, heads: 4, mlpRatio: 4, experts: 12, topK: 4, expertHidden: 128}
                datasets:
                  fmnist: {source: fashion-mnist, batchSize: \(batch)}
                optimizer: {kind: adamw, lr: 1.0e-3}
                schedule: {kind: constant}
                training: {steps: 1000000, logEvery: 1000000}
                """, source: "bench-tiny")
    }

    /// Seconds per step (median), seconds in reductions and in expert all-to-alls per step
    /// (medians), compute per step (median), payload bytes per step (mean), images per second.
    struct Timing {
        var step: Double
        var communication: Double
        var exchange: Double
        var compute: Double
        var bytes: Double
        var imagesPerSecond: Double
    }

    /// Times `samples` steps after `warmup` of `trainer`, whose collective is `timed`.
    static func time(_ trainer: Trainer, timed: TimedCollective?, warmup: Int, samples: Int) throws -> Timing {
        for _ in 0..<warmup { try trainer.step() }
        var steps: [Double] = []
        var communication: [Double] = []
        var exchange: [Double] = []
        var bytes = 0
        var images = 0
        for _ in 0..<samples {
            timed?.reset()
            let t0 = DispatchTime.now().uptimeNanoseconds
            images += try trainer.step().images
            steps.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            communication.append(timed?.seconds ?? 0)
            exchange.append(timed?.exchangeSeconds ?? 0)
            bytes += timed?.bytes ?? 0
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        return Timing(
            step: median(steps), communication: median(communication), exchange: median(exchange),
            compute: median(steps.indices.map { steps[$0] - communication[$0] - exchange[$0] }),
            bytes: Double(bytes) / Double(samples), imagesPerSecond: Double(images) / steps.reduce(0, +))
    }

    /// Measures `recipe` on `collective`'s ranks. Unless `singleImagesPerSecond` is given,
    /// rank 0 first times one rank alone (the others wait in a sum; keep threads per rank
    /// equal so the comparison is per rank). Every rank must call this; all return the
    /// same-shaped result, rank 0's timings are the ones to report.
    public static func run(
        recipe: Recipe, collective: any Collective, threads: Int, warmup: Int = 3, samples: Int = 10,
        singleImagesPerSecond: Double? = nil, progress: (String) -> Void = { _ in }
    ) throws -> DistributedBenchResult {
        let data = try RunDataset.loadAll(recipe)
        var single = singleImagesPerSecond
        var source: String? = single == nil ? nil : "given"
        if single == nil && collective.size > 1 {
            if collective.rank == 0 {
                progress("timing one rank alone (\(warmup) + \(samples) steps)")
                let alone = try Trainer(recipe: recipe, data: data)
                single = try time(alone, timed: nil, warmup: warmup, samples: samples).imagesPerSecond
            }
            var done = [single ?? 0]
            try collective.allreduceSum(&done)
            single = done[0]
            source = "measured"
        }
        let timed =
            (collective as? any ExpertCollective).map { TimedExpertCollective($0) } ?? TimedCollective(collective)
        let trainer = try Trainer(recipe: recipe, data: data)
        try trainer.distribute(over: timed)
        progress("timing \(collective.size) ranks (\(warmup) + \(samples) steps)")
        let t = try time(trainer, timed: timed, warmup: warmup, samples: samples)
        let n = Double(collective.size)
        if single == nil {
            (single, source) = (t.imagesPerSecond, "this run")
        }
        let speedup = single.map { t.imagesPerSecond / $0 }
        return DistributedBenchResult(
            recipe: recipe.name, ranks: collective.size, threadsPerRank: threads, steps: samples,
            millisecondsPerStep: 1e3 * t.step, computeMilliseconds: 1e3 * t.compute,
            allReduceMilliseconds: 1e3 * t.communication,
            allToAllMilliseconds: recipe.training.expertGroupSize > 1 ? 1e3 * t.exchange : nil,
            gradientBytes: Double(4 * trainer.model.store.trainableScalarCount),
            storeBytesPerRank: Double(4 * trainer.storeFootprint.total),
            expertStoreBytesPerRank: Double(4 * trainer.storeFootprint.experts), payloadBytesPerStep: t.bytes,
            ringBytesPerStep: 2 * (n - 1) / n * t.bytes,
            imagesPerSecond: t.imagesPerSecond, singleImagesPerSecond: single, singleSource: source,
            speedup: speedup, scalingEfficiency: speedup.map { $0 / n })
    }
}
