/// Per-channel input normalisation x = (p / 255 − mean[c]) / std[c] (`normalize:` of a
/// dataset; default: the training split's measured statistics).
public struct Normalization: Codable, Sendable, Equatable, Hashable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }
}
