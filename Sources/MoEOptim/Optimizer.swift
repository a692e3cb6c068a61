import Foundation
import MoETensor

/// An optimiser: one update rule applied independently to every trainable parameter of a
/// `ParameterStore` (mlx-swift style), with per-parameter state keyed by parameter name.
///
/// Contract shared by `SGD`, `AdamW` and `LAMB`:
/// - Frozen parameters (`isTrainable == false`) are never touched: no weight decay, no moment
///   update, value bit-identical; their state is not even allocated.
/// - Parameters without a gradient this step (`hasGradient == false`: zeroed and not reached
///   by the backward pass, e.g. another dataset's head) are skipped the same way, so their
///   moments, update counts and values wait for the next step that reaches them.
/// - Weight decay applies only where `decays == true` (and the parameter is trainable).
/// - State (moments, momentum buffers, per-parameter step counts) is allocated lazily, with
///   the parameter's shape, the first time a parameter is updated. Parameters added later
///   (model expansion) therefore start from fresh zero state and their own bias correction;
///   a parameter whose shape changed (`reshapeValue`) also restarts from zero state.
/// - `step(_:lr:)` does not clip gradients; call `GradientClipping.clip(_:maxNorm:)` first,
///   or use `clipGradientsAndStep(_:lr:)`.
public protocol Optimizer {
    /// Hyper-parameters the optimiser was made with (`learningRate` is the peak; the `lr`
    /// passed to `step` is what is actually used).
    var settings: OptimizerSettings { get }
    /// Number of `step(_:lr:)` calls so far (restored by `loadState`).
    var stepCount: Int { get }
    /// Applies one update to every trainable parameter of `store` with learning rate `lr`
    /// (already scheduled). Frozen parameters (isTrainable == false) are never touched: no
    /// decay, no moment update, value bit-identical.
    mutating func step(_ store: ParameterStore, lr: Float)
    /// One update of `scope`; optimisers without per-task moments treat every scope as
    /// `.all`.
    mutating func step(_ store: ParameterStore, lr: Float, scope: UpdateScope)
    /// Whether shared parameters keep one set of moments per task (`adam-per-task`): a
    /// round-robin step then applies one update per task with that task's gradient.
    var keepsPerTaskMoments: Bool { get }
    /// Optimiser state as named tensors for checkpoints: `"optim.m.<param name>"`,
    /// `"optim.v.<param name>"` (AdamW, LAMB) or `"optim.momentum.<param name>"` (SGD),
    /// sorted by name. Scalars (kind, step counts) are in `stateMetadata`.
    func stateTensors() -> [(name: String, tensor: Tensor)]
    /// `"optim.kind"`, `"optim.stepCount"` and `"optim.paramSteps"` (a JSON object mapping
    /// each parameter with state to its own update count).
    var stateMetadata: [String: String] { get }
    /// Restores state saved by `stateTensors()`/`stateMetadata`; throws `OptimizerStateError`
    /// naming the missing or mismatched tensor. On error the optimiser is left unchanged.
    /// State of parameters that `store` no longer has is dropped; parameters of `store`
    /// without saved state get fresh zero state on their next update.
    mutating func loadState(
        tensors: [String: Tensor], metadata: [String: String], store: ParameterStore) throws
}

/// Which update of a step `Optimizer.step(_:lr:scope:)` applies.
public enum UpdateScope: Sendable, Equatable {
    /// Every trainable parameter that has a gradient.
    case all
    /// Task `t`'s update: shared parameters with t's moments, t's own parameters, no other
    /// task's own parameters; weight decay on shared parameters only if `decaysShared`
    /// (once per step, however many task updates it has).
    case task(Int, decaysShared: Bool)
}

extension Optimizer {
    public mutating func step(_ store: ParameterStore, lr: Float, scope: UpdateScope) {
        step(store, lr: lr)
    }

    public var keepsPerTaskMoments: Bool { false }

    /// Clips the global gradient norm to `settings.clipNorm` (if > 0), then takes one step.
    /// Returns the pre-clip global gradient norm (always computed, for logging).
    @discardableResult
    public mutating func clipGradientsAndStep(_ store: ParameterStore, lr: Float) -> Float {
        let norm = GradientClipping.clip(store, maxNorm: settings.clipNorm)
        step(store, lr: lr)
        return norm
    }
}

/// The optimiser for `settings.kind`.
/// `tasks` (dataset names) tell `adam-per-task` which parameters are shared.
public func makeOptimizer(_ settings: OptimizerSettings, tasks: [String] = []) -> any Optimizer {
    switch settings.kind {
    case .sgd: SGD(settings: settings)
    case .adamw: AdamW(settings: settings)
    case .lamb: LAMB(settings: settings)
    case .adamPerTask: AdamPerTask(settings: settings, tasks: tasks)
    }
}

/// Why optimiser state could not be restored from a checkpoint.
public enum OptimizerStateError: Error, CustomStringConvertible, Equatable {
    /// A state tensor the metadata promises is absent.
    case missingTensor(String)
    /// A state tensor's shape differs from its parameter's shape.
    case shapeMismatch(name: String, expected: [Int], found: [Int])
    /// `optim.*` metadata is absent, unparsable or for another optimiser kind.
    case badMetadata(String)
    /// A state tensor holds values no optimiser can have written.
    case badValues(name: String, detail: String)

    public var description: String {
        switch self {
        case .missingTensor(let name):
            "optimiser state tensor '\(name)' is missing from the checkpoint; it was saved "
                + "by a different optimiser or is truncated (resume with a fresh optimiser "
                + "to load only the weights)"
        case .shapeMismatch(let name, let expected, let found):
            "optimiser state tensor '\(name)' has shape \(found), but its parameter has "
                + "shape \(expected); the model was changed after the checkpoint was saved "
                + "(resume with a fresh optimiser)"
        case .badValues(let name, let detail):
            "optimiser state tensor '\(name)' holds \(detail) values; the checkpoint is damaged "
                + "(resume with a fresh optimiser to load only the weights)"
        case .badMetadata(let detail):
            "bad optimiser metadata: \(detail) (was the checkpoint saved with the same "
                + "optimiser kind?)"
        }
    }
}

/// Per-parameter optimiser state shared by the three optimisers: a fixed list of slots
/// (e.g. `m`, `v`), each a tensor per parameter name, and each parameter's update count.
public struct OptimizerState: Sendable {
    /// What every optimiser-state tensor and metadata key of a checkpoint starts with.
    public static let prefix = "optim."
    /// Metadata keys: the optimiser kind, its `stepCount`, and each parameter's own step count.
    public static let kindKey = prefix + "kind"
    public static let stepCountKey = prefix + "stepCount"
    public static let paramStepsKey = prefix + "paramSteps"
    /// Slot names used in tensor names: `"optim.<slot>.<param name>"`.
    let slotNames: [String]
    /// `slots[i][paramName]` is slot `i` of that parameter.
    var slots: [[String: Tensor]]
    /// Updates applied to each parameter (its bias-correction step `t`).
    var paramSteps: [String: Int] = [:]
    /// `step(_:lr:)` calls so far (the optimiser's `stepCount`).
    var stepCount = 0

    init(slotNames: [String]) {
        self.slotNames = slotNames
        self.slots = Array(repeating: [:], count: slotNames.count)
    }

    /// Removes and returns slot `slot` of `name`, uniquely referenced so it mutates in place;
    /// zeros if there is none or its shape is stale. Put it back with `put`.
    mutating func take(_ slot: Int, _ name: String, shape: [Int]) -> Tensor {
        if let t = slots[slot].removeValue(forKey: name), t.shape == shape { return t }
        paramSteps[name] = nil  // fresh (or reshaped) state restarts bias correction
        return Tensor(shape: shape)
    }

    mutating func put(_ slot: Int, _ name: String, _ tensor: Tensor) {
        slots[slot][name] = tensor
    }

    /// Adam-style update of one parameter: calls `body(θ, g, m, v, t)` with its value,
    /// gradient, moment slots 0 and 1 (zero on first use) and its incremented update count.
    mutating func updateWithMoments(
        _ p: Parameter,
        _ body: (
            UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>,
            UnsafeMutablePointer<Float>, Int
        ) -> Void
    ) {
        let name = p.name
        var m = take(0, name, shape: p.value.shape)
        var v = take(1, name, shape: p.value.shape)
        let t = nextStep(name)
        let grad = p.grad
        grad.withUnsafePointer { g in
            m.withUnsafeMutablePointer { mp in
                v.withUnsafeMutablePointer { vp in
                    p.value.withUnsafeMutablePointer { theta in body(theta, g, mp, vp, t) }
                }
            }
        }
        put(0, name, m)
        put(1, name, v)
    }

    /// Increments and returns the update count of `name`.
    mutating func nextStep(_ name: String) -> Int {
        let t = (paramSteps[name] ?? 0) + 1
        paramSteps[name] = t
        return t
    }

    func tensors() -> [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = []
        for (i, slot) in slotNames.enumerated() {
            for name in slots[i].keys.sorted() {
                out.append((name: "\(Self.prefix)\(slot).\(name)", tensor: slots[i][name]!))
            }
        }
        return out
    }

    func metadata(kind: OptimizerKind) -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let steps = (try? encoder.encode(paramSteps)).flatMap { String(data: $0, encoding: .utf8) }
        return [
            Self.kindKey: kind.rawValue,
            Self.stepCountKey: String(stepCount),
            Self.paramStepsKey: steps ?? "{}",
        ]
    }

    /// Decodes saved state, the global step count included, or throws.
    func loading(
        kind: OptimizerKind, tensors: [String: Tensor], metadata: [String: String],
        store: ParameterStore
    ) throws -> OptimizerState {
        guard let savedKind = metadata[Self.kindKey] else {
            throw OptimizerStateError.badMetadata("'\(Self.kindKey)' is missing")
        }
        guard savedKind == kind.rawValue else {
            throw OptimizerStateError.badMetadata(
                "'\(Self.kindKey)' is '\(savedKind)', this optimiser is '\(kind.rawValue)'")
        }
        guard let countText = metadata[Self.stepCountKey], let stepCount = Int(countText),
            (0...(1 << 40)).contains(stepCount)
        else {
            throw OptimizerStateError.badMetadata(
                "'\(Self.stepCountKey)' is missing or not a non-negative integer")
        }
        guard let stepsText = metadata[Self.paramStepsKey],
            let stepsData = stepsText.data(using: .utf8),
            let steps = try? JSONDecoder().decode([String: Int].self, from: stepsData)
        else {
            throw OptimizerStateError.badMetadata(
                "'\(Self.paramStepsKey)' is missing or not a JSON object of integers")
        }
        var restored = OptimizerState(slotNames: slotNames)
        restored.stepCount = stepCount
        for name in steps.keys.sorted() where store.contains(name) {
            let shape = try store.parameter(named: name).value.shape
            for (i, slot) in slotNames.enumerated() {
                let key = "\(Self.prefix)\(slot).\(name)"
                guard let tensor = tensors[key] else { throw OptimizerStateError.missingTensor(key) }
                guard tensor.shape == shape else {
                    throw OptimizerStateError.shapeMismatch(
                        name: key, expected: shape, found: tensor.shape)
                }
                guard tensor.storage.allSatisfy({ $0.isFinite && (slot.first != "v" || $0 >= 0) }) else {
                    throw OptimizerStateError.badValues(
                        name: key, detail: slot.first == "v" ? "NaN, infinite or negative" : "NaN or infinite")
                }
                restored.slots[i][name] = tensor
            }
            guard let count = steps[name], (0...(1 << 40)).contains(count) else {
                throw OptimizerStateError.badMetadata("'\(Self.paramStepsKey)' of '\(name)' is outside 0...2^40")
            }
            restored.paramSteps[name] = count
        }
        return restored
    }
}
