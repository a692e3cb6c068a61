import MoEData
import MoEModel
import MoEOptim
import MoETensor

/// How the tasks' losses or gradients are combined into one update (DESIGN §5).
public enum BalancingMethod: String, Codable, Sendable, CaseIterable {
    /// w_t = 1 for every task.
    case equal
    /// w_t = λ_t (`datasets.<t>.lossWeight`, the paper's static weights); the default.
    case `static`
    /// Task-level backbone-oriented gradient clip: clip each task's whole gradient to S, then
    /// rescale its backbone part to norm exactly S.
    case tbgc
    /// TBGC* (per-task clip only, no backbone rescale).
    case tbgcNoRescale = "tbgc-no-rescale"
    /// GradNorm: learned weights (Σ w = T) that equalise gradient norms on a shared layer W
    /// in proportion to each task's inverse training rate.
    case gradnorm
    /// Uncertainty weighting with learned log σ²: Σ L_t / (2σ_t²) + log σ_t.
    case uncertainty
    /// The analytic optimum of uncertainty weighting: w_t = 1 / L_t (L_t held constant).
    case uncertaintyAnalytic = "uncertainty-analytic"
    /// PCGrad: project each task's shared gradient off the others it conflicts with; sum.
    case pcgrad
    /// GradSplit: a shared layer's output channels split into T groups, group t takes the
    /// gradients of the tasks its relation-matrix row accepts.
    case gradsplit

    /// Whether the method needs each task's shared-parameter gradient kept separately.
    public var needsTaskGradients: Bool {
        switch self {
        case .equal, .static, .uncertainty, .uncertaintyAnalytic: false
        case .tbgc, .tbgcNoRescale, .gradnorm, .pcgrad, .gradsplit: true
        }
    }

    /// Whether the method works only with one batch of every dataset per step.
    public var needsRoundRobin: Bool { self != .equal && self != .static }
}

/// How a step uses the datasets.
public enum StepMode: String, Codable, Sendable, CaseIterable {
    /// The two-step sampler: one dataset per step (DESIGN §3).
    case sampled
    /// One batch of every dataset per step; each task's backward runs and is released in
    /// turn (gradient-level methods use this).
    case roundRobin
}

/// The recipe's `balancing:` section: a method name, or a mapping with the method's
/// parameters (`balancing: {method: gradnorm, alpha: 1.5}`).
public struct BalancingSettings: Codable, Sendable, Equatable {
    public var method: BalancingMethod = .static
    /// GradNorm's α (restoring-force strength).
    public var alpha: Float = 1.5
    /// GradNorm's shared layer W as a parameter-name prefix (`blocks.5.`), `all` for every
    /// shared parameter, or nil for the last shared block (the paper's default).
    public var layer: String?
    /// Learning rate of the balancer's own Adam (GradNorm weights, log σ²).
    public var lr: Float = 0.01
    /// TBGC's common norm S.
    public var norm: Float = 1.0
    /// Initial log σ² of `uncertainty` (LibMTL uses −0.5, nash-mtl 0).
    public var initialLogVariance: Float = 0
    /// GradSplit's relation mask m[t][t'] (1: group t takes task t''s gradient); rows and
    /// columns in dataset order; nil = all ones (plain sum).
    public var relations: [[Float]]?
    /// GradSplit's shared layer (parameter-name prefix whose last dimension is the output
    /// channel); nil = the last block's MLP output (`blocks.<depth-1>.moe.experts.w2`/`b2`
    /// or `.mlp.fc2`).
    public var splitLayer: String?

    public init(method: BalancingMethod = .static) { self.method = method }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case method, alpha, layer, lr, norm, initialLogVariance, relations, splitLayer
    }

    /// The keys a recipe may set in this mapping.
    public static var recipeKeys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let name = try? single.decode(String.self) {
            guard let method = BalancingMethod(rawValue: name) else {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "unknown balancing method '\(name)'; known: "
                            + BalancingMethod.allCases.map(\.rawValue).joined(separator: ", ")))
            }
            self.init(method: method)
            return
        }
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.decodeIfPresent(&method, forKey: .method)
        try c.decodeIfPresent(&alpha, forKey: .alpha)
        layer = try c.decodeIfPresent(String.self, forKey: .layer)
        try c.decodeIfPresent(&lr, forKey: .lr)
        try c.decodeIfPresent(&norm, forKey: .norm)
        try c.decodeIfPresent(&initialLogVariance, forKey: .initialLogVariance)
        relations = try c.decodeIfPresent([[Float]].self, forKey: .relations)
        splitLayer = try c.decodeIfPresent(String.self, forKey: .splitLayer)
    }
}
