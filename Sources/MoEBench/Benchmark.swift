import Foundation
import MoEBalancing
import MoEData
import MoEModel
import MoEOptim
import MoERecipe
import MoETensor

/// One benchmark measurement, as printed by `moe bench`.
public struct BenchResult: Codable, Sendable {
    public var model: String
    /// `train` (forward + backward + optimiser step), `infer` (forward) or `sgemm`.
    public var kind: String
    public var batch: Int
    public var threads: Int
    /// Median wall time of one step, in milliseconds.
    public var millisecondsPerStep: Double
    public var imagesPerSecond: Double
    /// Matrix FLOPs per step / median step time.
    public var gflopsPerSecond: Double
    /// Matrix GFLOP in one step (a training step counts 3 × the forward).
    public var gflopPerStep: Double
    /// This fraction of the SGEMM figure measured in the same run.
    public var fractionOfSGEMM: Double?
    /// Peak resident memory of the process so far, MiB.
    public var peakResidentMiB: Double
    /// For `sgemm`: the GEMM kernel, with OpenBLAS's kernel set when it is OpenBLAS (`GEMMKernel`).
    public var blasCore: String?

    enum CodingKeys: String, CodingKey {
        case model, kind, batch, threads
        case millisecondsPerStep = "ms_per_step"
        case imagesPerSecond = "images_per_s"
        case gflopsPerSecond = "gflops_per_s"
        case gflopPerStep = "gflop_per_step"
        case fractionOfSGEMM = "fraction_of_sgemm"
        case peakResidentMiB = "peak_rss_mib"
        case blasCore = "blas_core"
    }
}

/// Throughput benchmarks: SGEMM peak of this machine and training/inference steps of the
/// reference configurations, all timed in one process so they compare fairly.
public enum Benchmark {
    /// bench-tiny: 1×28×28, patch 4, width 128, depth 6, 4 heads, 12 experts top-4 with
    /// hidden 128, a 10-class head.
    public static var benchTiny: ModelConfig {
        var c = ModelConfig()
        c.channels = 1
        c.imageSize = 28
        c.patchSize = 4
        c.width = 128
        c.depth = 6
        c.heads = 4
        c.mlpRatio = 4
        c.experts = 12
        c.topK = 4
        c.expertHiddenOverride = 128
        c.datasets = [DatasetSpec(name: "fmnist", classes: 10, height: 28, width: 28)]
        return c
    }

    /// bench-tiny-dense: bench-tiny with a dense MLP of hidden 512.
    public static var benchTinyDense: ModelConfig {
        var c = benchTiny
        c.experts = 0
        c.expertHiddenOverride = nil
        return c
    }

    /// Median of `samples` timings of `body` after at least `warmup` untimed runs and
    /// `minimumWarmupSeconds` of them (new worker threads take a while to be spread over
    /// the cores by the scheduler; the first ~0.2 s of SGEMM run at single-core speed).
    public static func medianSeconds(
        warmup: Int, samples: Int, minimumWarmupSeconds: Double = 1, _ body: () throws -> Void
    ) rethrows -> Double {
        let warmupStart = DispatchTime.now().uptimeNanoseconds
        var runs = 0
        while runs < warmup
            || Double(DispatchTime.now().uptimeNanoseconds - warmupStart) / 1e9 < minimumWarmupSeconds
        {
            try body()
            runs += 1
        }
        var times: [Double] = []
        for _ in 0..<samples {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        times.sort()
        return times[times.count / 2]
    }

    /// SGEMM GFLOP/s on `size`³ through the same `gemm` (and `GEMMKernel`) the model uses.
    public static func sgemm(size: Int = 1024, samples: Int = 10, threads: Int) -> BenchResult {
        var rng = SeededGenerator(seed: 1)
        let a = (0..<(size * size)).map { _ in rng.uniform() - 0.5 }
        let b = (0..<(size * size)).map { _ in rng.uniform() - 0.5 }
        var c = [Float](repeating: 0, count: size * size)
        let seconds = medianSeconds(warmup: 2, samples: samples) {
            gemm(
                transA: false, transB: false, m: size, n: size, k: size, a: a, lda: size,
                b: b, ldb: size, c: &c, ldc: size)
        }
        let gflop = 2 * pow(Double(size), 3) / 1e9
        return BenchResult(
            model: "sgemm-\(size)", kind: "sgemm", batch: 0, threads: threads,
            millisecondsPerStep: seconds * 1e3, imagesPerSecond: 0,
            gflopsPerSecond: gflop / seconds, gflopPerStep: gflop, fractionOfSGEMM: nil,
            peakResidentMiB: peakResidentMiB(), blasCore: GEMMKernel.current.name)
    }

    /// Times full training steps (forward, backward, AdamW) of `config` on random images.
    public static func train(
        name: String, config: ModelConfig, batch: Int = 64, samples: Int = 10, threads: Int,
        sgemmGFLOPs: Double?
    ) throws -> BenchResult {
        let (model, dataset, step) = try trainingStep(config: config, batch: batch)
        let seconds = try medianSeconds(warmup: 3, samples: samples, step)
        let gflop = 3 * (try model.forwardFLOPs(dataset: dataset.name, batch: batch)) / 1e9
        return result(name, "train", batch, threads, seconds, gflop, sgemmGFLOPs)
    }

    /// A model of `config`, its dataset, and one full training step on a fixed random batch
    /// (zero gradients, forward, softmax cross-entropy, backward, AdamW), with the step's
    /// non-kernel parts marked for `Profiler`.
    static func trainingStep(
        config: ModelConfig, batch: Int
    ) throws -> (VisionMoE, DatasetSpec, () throws -> Void) {
        let (model, dataset, images, labels) = try randomModelAndBatch(config: config, batch: batch)
        var optimizer = makeOptimizer(OptimizerSettings())
        var dlogits = Tensor(shape: [batch, dataset.classes])
        var probs = [Float](repeating: 0, count: batch * dataset.classes)
        var losses = [Float](repeating: 0, count: batch)
        let step = {
            Profiler.measure(.optimizer, "zero gradients", opaque: true) { model.store.zeroGradients() }
            let logits = try model.forward(images: images, dataset: dataset.name)
            Profiler.measure(.loss, "cross-entropy", opaque: true) {
                logits.withUnsafePointer { l in
                    crossEntropyForward(
                        losses: &losses, probs: &probs, logits: l, targets: labels,
                        rows: batch, classes: dataset.classes)
                }
                dlogits.zero()
                dlogits.withUnsafeMutablePointer { d in
                    crossEntropyBackward(
                        dlogits: d, probs: probs, targets: labels,
                        scale: 1 / Float(batch), rows: batch, classes: dataset.classes)
                }
            }
            model.backward(outputGradient: dlogits)
            Profiler.measure(.optimizer, "AdamW step", opaque: true) { optimizer.step(model.store, lr: 1e-3) }
        }
        return (model, dataset, step)
    }

    /// Times inference forward passes of `config` on random images.
    public static func infer(
        name: String, config: ModelConfig, batch: Int = 256, samples: Int = 10, threads: Int,
        sgemmGFLOPs: Double?
    ) throws -> BenchResult {
        let (model, dataset, images, _) = try randomModelAndBatch(config: config, batch: batch)
        let seconds = try medianSeconds(warmup: 2, samples: samples) {
            _ = try model.forward(images: images, dataset: dataset.name, training: false)
        }
        let gflop = try model.forwardFLOPs(dataset: dataset.name, batch: batch) / 1e9
        return result(name, "infer", batch, threads, seconds, gflop, sgemmGFLOPs)
    }

    static func result(
        _ name: String, _ kind: String, _ batch: Int, _ threads: Int, _ seconds: Double,
        _ gflop: Double, _ sgemm: Double?
    ) -> BenchResult {
        let rate = gflop / seconds
        return BenchResult(
            model: name, kind: kind, batch: batch, threads: threads,
            millisecondsPerStep: seconds * 1e3, imagesPerSecond: Double(batch) / seconds,
            gflopsPerSecond: rate, gflopPerStep: gflop, fractionOfSGEMM: sgemm.map { rate / $0 },
            peakResidentMiB: peakResidentMiB())
    }

    /// A model of `config` (seed 0) and a random batch of images and labels for its first dataset.
    static func randomModelAndBatch(
        config: ModelConfig, batch: Int
    ) throws -> (VisionMoE, DatasetSpec, Tensor, [Int32]) {
        let model = try VisionMoE(config: config, seed: 0)
        let dataset = config.datasets[0]
        var rng = SeededGenerator(seed: 7)
        var images = Tensor(shape: [batch, config.channels, dataset.height, dataset.width])
        for i in 0..<images.count { images[i] = rng.normal() }
        let labels = (0..<batch).map { _ in Int32(rng.index(below: dataset.classes)) }
        return (model, dataset, images, labels)
    }

    /// Peak resident set size (VmHWM) of this process in MiB, or 0 where unavailable.
    public static func peakResidentMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else {
            return 0
        }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kb / 1024
        }
        return 0
    }
}
