import MoETensor

/// One branch of multi-branch augmentation [TBGC 2.3]: a single strong augmentation, drawn
/// for a sample with probability ∝ its weight, which may move linearly from `weight` at
/// the first step to `finalWeight` at the last.
public struct AugmentationBranch: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// The sample unchanged.
        case none
        /// Horizontal flip (boxes and masks flipped with the image).
        case hflip
        /// Random resized crop: a window of [minScale, 1] of the side, aspect 1, resized back
        /// (nearest neighbour; masks alike; boxes mapped, clipped, dropped when < 2 px).
        case crop
        /// Additive Gaussian noise of standard deviation `std` (on normalised pixels).
        case noise
        /// Classification: blend with another sample of the batch, λ ∈ [0.5, 1) uniform,
        /// keeping the label of the dominant image (hard labels; no soft-target loss).
        case mixup
        /// Scenes: a 2×2 mosaic of this and three other samples of the batch, each shrunk to
        /// half size (boxes and masks alike).
        case mosaic
    }

    public var kind: Kind
    public var weight: Double = 1
    /// Weight at the last step (linear in between); nil = constant.
    public var finalWeight: Double?
    /// `noise`: standard deviation.
    public var std: Float = 0.1
    /// `crop`: smallest side fraction of the window.
    public var minScale: Float = 0.6

    public init(kind: Kind, weight: Double = 1, finalWeight: Double? = nil) {
        self.kind = kind
        self.weight = weight
        self.finalWeight = finalWeight
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case kind, weight, finalWeight, std, minScale }

    /// The keys a recipe may set in this mapping.
    public static var recipeKeys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(kind: try c.decode(Kind.self, forKey: .kind))
        try c.decodeIfPresent(&weight, forKey: .weight)
        finalWeight = try c.decodeIfPresent(Double.self, forKey: .finalWeight)
        try c.decodeIfPresent(&std, forKey: .std)
        try c.decodeIfPresent(&minScale, forKey: .minScale)
    }

    /// The weight at `progress` ∈ [0, 1] of the run.
    public func weight(at progress: Double) -> Double {
        guard let finalWeight else { return weight }
        return weight + (finalWeight - weight) * min(max(progress, 0), 1)
    }
}
