import Foundation
import MoEBalancing
import MoEData
import MoEModel
import MoEOptim
import MoETensor

/// Where a dataset's images come from.
public enum DataSourceKind: String, Codable, Sendable, CaseIterable {
    /// Fashion-MNIST IDX files (Debian's `dataset-fashion-mnist`).
    case fashionMNIST = "fashion-mnist"
    /// scikit-learn's bundled 8×8 digits (Debian's `python3-sklearn`).
    case digits
    /// Canvases composed from Fashion-MNIST items, with boxes and masks (DESIGN §8).
    case scenes
}

/// One dataset of a run: its source, batch size, and its weights in the two-step sampler
/// and the step loss.
public struct DatasetRecipe: Codable, Sendable, Equatable {
    public var name: String
    public var source: DataSourceKind
    /// What the dataset's head predicts; image sources are classification, scenes need
    /// `detection` or `segmentation`.
    public var task: TaskKind
    /// Directory (Fashion-MNIST, scenes' items) or file (digits); `nil` uses the Debian
    /// package's path.
    public var path: String?
    /// How scenes are composed (scenes only).
    public var scene: SceneConfig?
    /// Number of train / test scenes (scenes only).
    public var trainSize: Int = 20_000
    public var testSize: Int = 1_000
    public var batchSize: Int = 64
    /// s_t: relative probability of drawing this dataset for a step.
    public var samplingWeight: Double = 1
    /// λ_t: weight of this dataset's loss.
    public var lossWeight: Float = 1
    /// Fraction held out as the test split where the source has no split of its own (digits).
    public var testFraction: Double = 0.2
    /// Resample images to this square size (digits: e.g. 28 to match a Fashion-MNIST
    /// backbone's patch scale); nil keeps the source's size.
    public var resize: Int?

    public init(name: String, source: DataSourceKind, task: TaskKind = .classification) {
        self.name = name
        self.source = source
        self.task = task
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, source, task, path, scene, trainSize, testSize, batchSize, samplingWeight
        case lossWeight, testFraction, resize
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name), source: try c.decode(DataSourceKind.self, forKey: .source))
        try c.decodeIfPresent(&task, forKey: .task)
        path = try c.decodeIfPresent(String.self, forKey: .path)
        scene = try c.decodeIfPresent(SceneConfig.self, forKey: .scene)
        try c.decodeIfPresent(&trainSize, forKey: .trainSize)
        try c.decodeIfPresent(&testSize, forKey: .testSize)
        try c.decodeIfPresent(&batchSize, forKey: .batchSize)
        try c.decodeIfPresent(&samplingWeight, forKey: .samplingWeight)
        try c.decodeIfPresent(&lossWeight, forKey: .lossWeight)
        try c.decodeIfPresent(&testFraction, forKey: .testFraction)
        resize = try c.decodeIfPresent(Int.self, forKey: .resize)
    }
}
