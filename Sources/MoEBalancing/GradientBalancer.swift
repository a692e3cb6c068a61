import Foundation
import MoEModel
import MoEOptim
import MoETensor

/// What the trainer knows after every task of a round-robin step has run its backward.
public struct TaskGradientSet {
    /// L_t as computed (unweighted), dataset order.
    public var losses: [Float]
    /// w_t each task's loss was multiplied by before its backward.
    public var weights: [Float]
    /// Per task, w_t·∇L_t over the shared parameters (flat, `TaskParameterLayout` order);
    /// empty when the gradients were accumulated directly.
    public var shared: [[Float]]
    /// ‖w_t·∇L_t‖ over dataset t's own parameters (head, routers).
    public var ownedNorms: [Float]

    public init(losses: [Float], weights: [Float], shared: [[Float]], ownedNorms: [Float]) {
        self.losses = losses
        self.weights = weights
        self.shared = shared
        self.ownedNorms = ownedNorms
    }
}

/// How to form the step's gradient from the buffered per-task gradients.
public struct GradientCombination: Equatable {
    /// Shared gradient = Σ_t coefficients[t] · shared[t].
    public var coefficients: [Float]
    /// Factor on each dataset's own (head, router) gradients.
    public var ownedScales: [Float]
    /// GradSplit: mask m[g][t] applied on the split layer's output-channel groups.
    public var channelMask: [[Float]]?

    public static func sum(tasks: Int) -> GradientCombination {
        GradientCombination(
            coefficients: Array(repeating: 1, count: tasks),
            ownedScales: Array(repeating: 1, count: tasks))
    }
}

/// Everything a balancer learns during a run; saved in the checkpoint's training state so a
/// resumed run continues bit for bit.
public struct BalancerState: Codable, Sendable, Equatable {
    /// GradNorm's task weights (Σ = T).
    public var weights: [Float] = []
    /// Uncertainty weighting's log σ_t².
    public var logVariances: [Float] = []
    /// L_t(0), recorded at the first step (GradNorm).
    public var initialLosses: [Float]?
    /// The balancer's own Adam moments over its learned parameters.
    public var adamM: [Float] = []
    public var adamV: [Float] = []
    public var adamSteps: Int = 0
    /// PCGrad's task-order generator.
    public var generator: SeededGenerator

    public init(seed: UInt64) { generator = SeededGenerator(seed: seed &+ 0xBA1A) }

    /// One Adam step (β = 0.9, 0.999, ε = 1e-8) of `values` along `gradient`.
    mutating func adamStep(_ values: inout [Float], gradient: [Float], lr: Float) {
        if adamM.count != values.count {
            adamM = Array(repeating: 0, count: values.count)
            adamV = Array(repeating: 0, count: values.count)
        }
        adamSteps += 1
        let bc1 = 1 - Float(pow(0.9, Double(adamSteps)))
        let bc2 = 1 - Float(pow(0.999, Double(adamSteps)))
        for i in values.indices {
            adamM[i] = 0.9 * adamM[i] + 0.1 * gradient[i]
            adamV[i] = 0.999 * adamV[i] + 0.001 * gradient[i] * gradient[i]
            values[i] -= lr * (adamM[i] / bc1) / ((adamV[i] / bc2).squareRoot() + 1e-8)
        }
    }
}

/// A multi-task balancing method (DESIGN §5): chooses each task's loss weight before its
/// backward, then, from the per-task gradients, how to combine them, and learns from the step.
public protocol GradientBalancer {
    var method: BalancingMethod { get }
    var state: BalancerState { get set }
    /// w_t for task `t` whose (unweighted) loss this step is `loss`.
    func lossWeight(task t: Int, loss: Float) -> Float
    /// The combination for this step; updates learned state (GradNorm's weights, log σ²).
    mutating func finish(_ set: TaskGradientSet, layout: TaskParameterLayout) -> GradientCombination
}

extension GradientBalancer {
    /// Per-task weights to log: what the loss was multiplied by this step.
    public func loggedWeights(_ set: TaskGradientSet) -> [Float] { set.weights }
}

/// The balancer for `settings`; `lossWeights` are the recipe's λ_t.
public func makeBalancer(
    _ settings: BalancingSettings, datasets: [String], lossWeights: [Float], seed: UInt64,
    depth: Int
) -> any GradientBalancer {
    let state = BalancerState(seed: seed)
    let tasks = datasets.count
    switch settings.method {
    case .equal:
        return StaticWeighting(method: .equal, weights: Array(repeating: 1, count: tasks), state: state)
    case .static:
        return StaticWeighting(method: .static, weights: lossWeights, state: state)
    case .tbgc, .tbgcNoRescale:
        return TBGC(norm: settings.norm, rescale: settings.method == .tbgc, state: state)
    case .gradnorm:
        return GradNorm(
            alpha: settings.alpha, lr: settings.lr,
            layer: settings.layer ?? ParameterName.block(depth - 1) + ".", tasks: tasks, state: state)
    case .uncertainty:
        return UncertaintyWeighting(
            learned: true, lr: settings.lr, initialLogVariance: settings.initialLogVariance,
            tasks: tasks, state: state)
    case .uncertaintyAnalytic:
        return UncertaintyWeighting(learned: false, lr: 0, initialLogVariance: 0, tasks: tasks, state: state)
    case .pcgrad:
        return PCGrad(state: state)
    case .gradsplit:
        let ones = Array(repeating: Array(repeating: Float(1), count: tasks), count: tasks)
        return GradSplit(relations: settings.relations ?? ones, state: state)
    }
}
