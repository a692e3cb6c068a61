import Foundation
import MoEModel
import MoETensor

extension Benchmark {
    /// The breakdown by kernel class of training steps of `config` on a fixed random batch
    /// (no data preparation: the batch is made once), after the same warm-up as `train`.
    public static func profileTrain(
        name: String, config: ModelConfig, batch: Int = 64, steps: Int = 10
    ) throws -> ProfileTable {
        let (_, _, step) = try trainingStep(config: config, batch: batch)
        let unprofiled = try medianSeconds(warmup: 3, samples: steps, step)
        var table = try profile(title: "\(name) train b\(batch)", steps: steps, step)
        table.unprofiledStepSeconds = unprofiled
        return table
    }

    /// The breakdown of inference forward passes of `config` on a fixed random batch.
    public static func profileInfer(
        name: String, config: ModelConfig, batch: Int = 256, steps: Int = 10
    ) throws -> ProfileTable {
        let (model, dataset, images, _) = try randomModelAndBatch(config: config, batch: batch)
        let step = { _ = try model.forward(images: images, dataset: dataset.name, training: false) }
        let unprofiled = try medianSeconds(warmup: 2, samples: steps, step)
        var table = try profile(title: "\(name) infer b\(batch)", steps: steps, step)
        table.unprofiledStepSeconds = unprofiled
        return table
    }

    /// Runs `body` `steps` times with `Profiler` on (the caller is expected to have warmed it
    /// up) and tabulates the totals against the steps' wall time.
    public static func profile(title: String, steps: Int, _ body: () throws -> Void) rethrows -> ProfileTable {
        Profiler.start()
        let t0 = DispatchTime.now().uptimeNanoseconds
        do {
            for _ in 0..<steps { try body() }
        } catch {
            Profiler.stop()
            throw error
        }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let totals = Profiler.stop()
        return ProfileTable(title: title, totals: totals, steps: steps, wallSeconds: wall)
    }
}
