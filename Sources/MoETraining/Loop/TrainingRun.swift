import Foundation
import MoETasks

/// How a run ended.
public enum RunOutcome: Sendable, Equatable {
    case finished
    case interrupted
}

/// Summary of a finished or interrupted run.
public struct RunSummary: Sendable {
    public var outcome: RunOutcome
    public var steps: Int
    /// Wall time of this invocation, evaluation and checkpoints included.
    public var seconds: Double
    /// Time spent in training steps during this invocation.
    public var trainingSeconds: Double
    /// Training images per second of step time.
    public var imagesPerSecond: Double
    public var metrics: [String: TaskMetrics]
    public var checkpointPath: String
}

/// The outer loop: steps, progress, JSON-lines metrics, periodic evaluation and atomic
/// checkpoints; Ctrl-C saves and stops; a NaN stops with the last good checkpoint intact.
///
/// Data-parallel (the trainer's collective has N > 1 ranks): every rank steps and evaluates
/// its shard of the test splits (every rank receives the whole metrics); only rank 0 logs,
/// reports progress and writes checkpoints (the state is the same on every rank), and the
/// ranks agree on Ctrl-C so all stop after the same step.
public struct TrainingRun {
    public let trainer: Trainer
    public let checkpointPath: String
    /// The metrics log (nil on ranks other than 0, which write nothing).
    public let log: MetricsLog?
    /// Receives one human-readable progress line at a time.
    public var progress: (String, _ final: Bool) -> Void

    public init(
        trainer: Trainer, checkpointPath: String, log: MetricsLog?,
        progress: @escaping (String, Bool) -> Void
    ) {
        self.trainer = trainer
        self.checkpointPath = checkpointPath
        self.log = log
        self.progress = progress
    }

    public func run(lastCheckpoint: String? = nil) throws -> RunSummary {
        let settings = trainer.recipe.training
        var lastSaved = lastCheckpoint
        let startStep = trainer.state.step
        let startTrainingSeconds = trainer.state.trainingSeconds
        var window = (images: 0, seconds: 0.0)
        var totalImages = 0
        let runStart = Date()

        while !trainer.isFinished {
            if try trainer.anyRankRequests(Interrupt.isRequested) {
                try save()
                say("interrupted at step \(trainer.state.step); saved \(checkpointPath)", true)
                return summary(
                    .interrupted, startStep: startStep, startSeconds: startTrainingSeconds, images: totalImages,
                    since: runStart, metrics: [:])
            }
            let t0 = Date()
            let report: StepReport
            do {
                report = try trainer.step()
            } catch TrainingError.nonFiniteLoss(let step, let dataset, _) {
                try log?.write(["event": "nan", "step": step, "dataset": dataset])
                throw TrainingError.nonFiniteLoss(step: step, dataset: dataset, lastCheckpoint: lastSaved)
            }
            let dt = Date().timeIntervalSince(t0)
            trainer.addTrainingTime(dt)
            window.images += report.images
            window.seconds += dt
            totalImages += report.images

            let step = report.step
            if let diagnostics = report.diagnostics { try log?.write(diagnostics.record(step: step)) }
            if isPrimary && (step % max(settings.logEvery, 1) == 0 || trainer.isFinished) {
                let rate = Double(window.images) / max(window.seconds, 1e-9)
                // The run's average time per step: the last window alone swings with which
                // dataset it sampled.
                let remaining =
                    Double(trainer.state.totalSteps - step) * (trainer.state.trainingSeconds - startTrainingSeconds)
                    / Double(max(step - startStep, 1))
                var record: [String: Any] = [
                    "event": "train", "step": step, "dataset": report.dataset,
                    "loss": Double(report.loss), "lr": Double(report.learningRate),
                    "grad_norm": Double(report.gradientNorm), "images_per_s": rate,
                    "mi_loss": Double(report.mutualInformationLoss),
                    "seconds": trainer.state.trainingSeconds,
                    "step_seconds": window.seconds / Double(max(settings.logEvery, 1)),
                ]
                if !report.taskLosses.isEmpty {
                    record["task_losses"] = report.taskLosses.mapValues(Double.init)
                    record["task_weights"] = report.taskWeights.mapValues(Double.init)
                }
                try log?.write(record)
                let numbers = String(
                    format: "loss %.4f  lr %.2e  %.0f img/s", report.loss, report.learningRate, rate)
                say(
                    "step \(step)/\(trainer.state.totalSteps)  \(report.dataset)  \(numbers)"
                        + "  ETA \(formatDuration(remaining))", false)
                window = (0, 0)
            }
            if settings.evalEvery > 0 && step % settings.evalEvery == 0 && !trainer.isFinished {
                _ = try evaluate(step: step)
            }
            if settings.checkpointEvery > 0 && step % settings.checkpointEvery == 0 && !trainer.isFinished {
                try save()
                lastSaved = checkpointPath
            }
        }
        let metrics = try evaluate(step: trainer.state.step)
        try save()
        return summary(
            .finished, startStep: startStep, startSeconds: startTrainingSeconds, images: totalImages, since: runStart,
            metrics: metrics)
    }

    /// Rank 0, the only rank that logs and saves.
    private var isPrimary: Bool { trainer.collective.rank == 0 }

    /// Progress lines come from rank 0 only.
    private func say(_ line: String, _ final: Bool) {
        if isPrimary { progress(line, final) }
    }

    /// Every rank evaluates (with full expert banks, DESIGN §11.2); rank 0 logs, expert
    /// usage included.
    private func evaluate(step: Int) throws -> [String: TaskMetrics] {
        try trainer.withFullExpertBanks {
            let metrics = try trainer.evaluate()
            if isPrimary { try logEvaluation(metrics, step: step) }
            return metrics
        }
    }

    /// Rank 0 writes; with a sharded expert store every rank takes part in gathering the banks.
    private func save() throws {
        guard isPrimary || trainer.expertShard != nil else { return }
        let checkpoint = try trainer.checkpoint()
        if isPrimary { try checkpoint.write(to: URL(fileURLWithPath: checkpointPath)) }
    }

    private func logEvaluation(_ metrics: [String: TaskMetrics], step: Int) throws {
        for (name, m) in metrics.sorted(by: { $0.key < $1.key }) {
            var record: [String: Any] = [
                "event": "eval", "step": step, "dataset": name, "split": "test",
                "task": m.task.rawValue,
            ]
            for (key, value) in m.values { record[key] = value }
            try log?.write(record)
            progress("eval step \(step)  \(name)  \(m.summary)", true)
        }
        if let board = log?.tensorBoard, !trainer.model.config.isDense {
            for d in trainer.data {
                let usage = try ExpertUsage.measure(model: trainer.model, dataset: d, images: 256)
                for (layer, counts) in usage.enumerated() {
                    try board.histogram(tag: "experts/\(d.name)/layer\(layer)", counts: counts, step: step)
                }
            }
        }
        let mi = trainer.bufferMutualInformation
        if !mi.isEmpty {
            try log?.write(["event": "mi", "step": step, "buffer_mi": mi])
            progress("buffer MI per MoE layer: " + mi.map { String(format: "%.4f", $0) }.joined(separator: " "), true)
        }
    }

    private func summary(
        _ outcome: RunOutcome, startStep: Int, startSeconds: Double, images: Int, since start: Date,
        metrics: [String: TaskMetrics]
    ) -> RunSummary {
        let training = trainer.state.trainingSeconds - startSeconds
        return RunSummary(
            outcome: outcome, steps: trainer.state.step - startStep,
            seconds: Date().timeIntervalSince(start), trainingSeconds: training,
            imagesPerSecond: Double(images) / max(training, 1e-9), metrics: metrics,
            checkpointPath: checkpointPath)
    }
}

/// "1h02m", "3m05s", "42s".
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
