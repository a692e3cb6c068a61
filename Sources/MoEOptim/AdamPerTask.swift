import Foundation
import MoETensor

/// AdamW with separate moments per task for the shared parameters (AdaTask-style; DESIGN §5
/// "per-task Adam"). Parameters owned by one dataset (its head and routers) keep one pair of
/// moments; each shared parameter keeps one pair per task. An update of scope
/// `.task(t, decaysShared:)` updates the shared parameters with task t's moments and only
/// task t's own parameters (other tasks' own parameters are skipped). Round-robin training
/// applies one such update per task with that task's gradient, so every task's update is
/// normalised by its own second moment: scaling one task's loss by any factor leaves the
/// updates unchanged (up to ε). Scope `.all` is plain AdamW.
///
/// State: `optim.m.<p>`, `optim.v.<p>` (own parameters), `optim.m.<task>.<p>`,
/// `optim.v.<task>.<p>` (shared); metadata adds `optim.paramSteps.<task>`.
public final class AdamPerTask: Optimizer {
    public let settings: OptimizerSettings
    public let tasks: [String]
    var own = OptimizerState(slotNames: ["m", "v"])
    var perTask: [OptimizerState]

    public init(settings: OptimizerSettings, tasks: [String]) {
        self.settings = settings
        self.tasks = tasks
        perTask = tasks.map { OptimizerState(slotNames: ["m.\($0)", "v.\($0)"]) }
    }

    public var stepCount: Int { own.stepCount }

    public var keepsPerTaskMoments: Bool { true }

    public func step(_ store: ParameterStore, lr: Float) { step(store, lr: lr, scope: .all) }

    public func step(_ store: ParameterStore, lr: Float, scope: UpdateScope) {
        own.stepCount += 1
        let (task, decayShared): (Int?, Bool) =
            switch scope {
            case .all: (nil, true)
            case .task(let t, let decays): (t, decays)
            }
        store.updateEachTrainable { p in
            let owner = TaskParameterLayout.owner(of: p.name, datasets: tasks)
            if let owner, let task, owner != task { return }
            let isShared = owner == nil
            let count = p.value.count
            let decay: Float = p.decays && (!isShared || decayShared) ? 1 - lr * settings.weightDecay : 1
            let body:
                (
                    UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>,
                    UnsafeMutablePointer<Float>, Int
                ) -> Void = { theta, g, m, v, t in
                    AdamW.update(
                        theta: theta, grad: g, m: m, v: v, t: t, count: count, decay: decay, lr: lr,
                        settings: self.settings)
                }
            if isShared, let task {
                perTask[task].updateWithMoments(p, body)
            } else {
                own.updateWithMoments(p, body)
            }
        }
    }

    public func stateTensors() -> [(name: String, tensor: Tensor)] {
        own.tensors() + perTask.flatMap { $0.tensors() }
    }

    public var stateMetadata: [String: String] {
        var meta = own.metadata(kind: .adamPerTask)
        for (t, name) in tasks.enumerated() {
            meta["\(OptimizerState.paramStepsKey).\(name)"] =
                perTask[t].metadata(kind: .adamPerTask)[OptimizerState.paramStepsKey]
        }
        return meta
    }

    public func loadState(
        tensors: [String: Tensor], metadata: [String: String], store: ParameterStore
    ) throws {
        let restoredOwn = try own.loading(
            kind: .adamPerTask, tensors: tensors, metadata: metadata, store: store)
        var restored: [OptimizerState] = []
        for (t, name) in tasks.enumerated() {
            var meta = metadata
            meta[OptimizerState.paramStepsKey] = metadata["\(OptimizerState.paramStepsKey).\(name)"] ?? "{}"
            restored.append(
                try perTask[t].loading(
                    kind: .adamPerTask, tensors: tensors, metadata: meta, store: store))
        }
        own = restoredOwn
        perTask = restored
    }
}
