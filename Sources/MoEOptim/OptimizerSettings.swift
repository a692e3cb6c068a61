import MoEModel
import MoETensor

/// Which update rule an `Optimizer` applies; see `SGD`, `AdamW` and `LAMB`.
public enum OptimizerKind: String, Codable, Sendable, CaseIterable {
    case sgd, adamw, lamb
    /// AdamW with separate moments per task for shared parameters (`AdamPerTask`).
    case adamPerTask = "adam-per-task"
}

/// Hyper-parameters shared by every optimiser (each kind reads the fields it needs).
///
/// Decodes from partial YAML/JSON: every key is optional and falls back to the default
/// below. Keys: `kind`, `lr`, `weightDecay`, `beta1`, `beta2`, `eps`, `momentum`,
/// `nesterov`, `clip`.
public struct OptimizerSettings: Codable, Sendable, Equatable {
    /// Update rule.
    public var kind: OptimizerKind = .adamw
    /// Peak learning rate; an `LRSchedule` multiplies into it and `step(_:lr:)` gets the result.
    public var learningRate: Float = 1e-3
    /// Weight-decay coefficient λ, applied only to trainable parameters with `decays == true`.
    public var weightDecay: Float = 0.05
    /// First-moment decay β₁ (AdamW, LAMB).
    public var beta1: Float = 0.9
    /// Second-moment decay β₂ (AdamW, LAMB).
    public var beta2: Float = 0.999
    /// Denominator guard ε (AdamW, LAMB).
    public var epsilon: Float = 1e-8
    /// Momentum μ (SGD); 0 disables the momentum buffer.
    public var momentum: Float = 0.9
    /// Nesterov momentum (SGD).
    public var nesterov: Bool = false
    /// Maximum global L2 norm of the trainable gradients; 0 = off. Applied by the caller
    /// with `GradientClipping.clip(_:maxNorm:)` (or `clipGradientsAndStep(_:lr:)`),
    /// never implicitly by `step(_:lr:)`.
    public var clipNorm: Float = 0

    /// All defaults: AdamW, lr 1e-3, weight decay 0.05, β = (0.9, 0.999), ε = 1e-8.
    public init() {}

    public init(
        kind: OptimizerKind = .adamw,
        learningRate: Float = 1e-3,
        weightDecay: Float = 0.05,
        beta1: Float = 0.9,
        beta2: Float = 0.999,
        epsilon: Float = 1e-8,
        momentum: Float = 0.9,
        nesterov: Bool = false,
        clipNorm: Float = 0
    ) {
        self.kind = kind
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.momentum = momentum
        self.nesterov = nesterov
        self.clipNorm = clipNorm
    }

    enum CodingKeys: String, CodingKey {
        case kind
        case learningRate = "lr"
        case weightDecay
        case beta1, beta2
        case epsilon = "eps"
        case momentum, nesterov
        case clipNorm = "clip"
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.decodeIfPresent(&kind, forKey: .kind)
        try c.decodeIfPresent(&learningRate, forKey: .learningRate)
        try c.decodeIfPresent(&weightDecay, forKey: .weightDecay)
        try c.decodeIfPresent(&beta1, forKey: .beta1)
        try c.decodeIfPresent(&beta2, forKey: .beta2)
        try c.decodeIfPresent(&epsilon, forKey: .epsilon)
        try c.decodeIfPresent(&momentum, forKey: .momentum)
        try c.decodeIfPresent(&nesterov, forKey: .nesterov)
        try c.decodeIfPresent(&clipNorm, forKey: .clipNorm)
    }
}
