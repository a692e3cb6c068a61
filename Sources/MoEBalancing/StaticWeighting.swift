import MoEOptim

/// `equal` (w_t = 1) and `static` (w_t = λ_t): fixed loss weights, gradients summed.
public struct StaticWeighting: GradientBalancer {
    public let method: BalancingMethod
    public let weights: [Float]
    public var state: BalancerState

    public func lossWeight(task t: Int, loss: Float) -> Float { weights[t] }

    public mutating func finish(_ set: TaskGradientSet, layout: TaskParameterLayout) -> GradientCombination {
        .sum(tasks: set.losses.count)
    }
}
