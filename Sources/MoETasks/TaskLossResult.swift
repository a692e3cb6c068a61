import MoETensor

/// A task loss, its gradient with respect to the head outputs, and its parts for logging.
public struct TaskLossResult: Sendable {
    /// The scalar loss that the gradient belongs to.
    public var loss: Float
    /// `∂loss / ∂outputs`, same shape as the outputs passed in.
    public var gradient: Tensor
    /// Named components, e.g. `"cls"` and `"box"` for detection (unweighted), for logging.
    public var parts: [String: Float]

    public init(loss: Float, gradient: Tensor, parts: [String: Float] = [:]) {
        self.loss = loss
        self.gradient = gradient
        self.parts = parts
    }
}
