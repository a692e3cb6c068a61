import MoETensor

/// What a dataset's head predicts.
///
/// - classification: logits `[B, C]` from the class token.
/// - detection: per patch cell `[B, gh·gw, (C + 1) + 4]`: class logits (channel 0 is
///   background, c + 1 is class c), then box regression (dx, dy, log w, log h) relative to
///   the cell.
/// - segmentation: per patch cell `[B, gh·gw, C + 1]` logits (channel 0 is background).
///
/// Patch cells are in row-major grid order; the class token is not part of dense outputs.
public enum TaskKind: String, Codable, Sendable, Equatable, CaseIterable {
    case classification
    case detection
    case segmentation
}

/// One dataset the backbone serves: its input size, its head and, in every MoE layer, its
/// own router and expert-availability mask.
public struct DatasetSpec: Codable, Sendable, Equatable {
    public var name: String
    public var task: TaskKind
    /// Number of classes of the head; for detection and segmentation the number of object
    /// classes C, background not included.
    public var classes: Int
    /// Input image height and width; position embeddings are resampled when they differ
    /// from the model's base `imageSize`.
    public var height: Int
    public var width: Int
    /// Per MoE layer, which of the experts its router covers this dataset may pick; `nil`
    /// means all. Rows have `routerExperts ?? experts` entries.
    public var expertMask: [[Bool]]?
    /// How many experts (the first ones of each layer) this dataset's router covers, i.e. its
    /// router's columns; `nil` means all `experts`. Expansion appends experts after the old
    /// ones and pins the old datasets' routers here, so they never see the new experts and
    /// compute exactly what they computed before.
    public var routerExperts: Int?
    /// Experts picked per token for this dataset; `nil` means the model's `topK`
    /// (Top-K reduction gives a dataset a smaller K while the others keep theirs).
    public var topK: Int?
    /// Names of the classes (own-data sources; `classes` of them), for `eval`, `inspect`
    /// and `predict`; nil for built-in data and checkpoints written before they existed.
    public var classNames: [String]?
    /// Per-channel input normalisation x = (p / 255 − inputMean[c]) / inputStd[c] the data
    /// was trained with (own-data sources), so `predict` prepares images identically.
    public var inputMean: [Float]?
    public var inputStd: [Float]?

    public init(
        name: String, task: TaskKind = .classification, classes: Int, height: Int, width: Int,
        expertMask: [[Bool]]? = nil, routerExperts: Int? = nil, topK: Int? = nil
    ) {
        self.name = name
        self.task = task
        self.classes = classes
        self.height = height
        self.width = width
        self.expertMask = expertMask
        self.routerExperts = routerExperts
        self.topK = topK
    }

    /// Box-regression values per cell of a detection head: dx, dy, log w, log h.
    public static let boxChannels = 4

    /// Values the head produces per image (classification) or per patch cell (dense tasks):
    /// C, (C + 1) + 4 or C + 1.
    public var outputChannels: Int {
        switch task {
        case .classification: classes
        case .detection: classes + 1 + Self.boxChannels
        case .segmentation: classes + 1
        }
    }
}

/// The architecture of a `VisionMoE`, saved in every checkpoint so it rebuilds itself.
///
/// Shape legend: B batch, N tokens (grid + class token), D `width`, H `heads`,
/// E `experts`, K `topK`, F `expertHidden`.
public struct ModelConfig: Codable, Sendable, Equatable {
    public var channels: Int = 1
    /// Base input size (square); the learned position embedding covers its patch grid.
    public var imageSize: Int = 28
    public var patchSize: Int = 4
    public var width: Int = 128
    public var depth: Int = 6
    public var heads: Int = 4
    /// Dense-equivalent MLP hidden size is `mlpRatio * width`.
    public var mlpRatio: Int = 4
    /// Experts per MoE layer; 0 gives the dense baseline (every MLP dense).
    public var experts: Int = 12
    public var topK: Int = 4
    /// Expert hidden size; `nil` means `mlpRatio * width / topK`, so active FLOPs match a
    /// dense MLP [MTHL A2].
    public var expertHiddenOverride: Int? = nil
    /// MoE MLP in every block (1) or every second block (2, the odd ones).
    public var moeEvery: Int = 1
    /// Softmax over the K picked experts instead of using the full-softmax probabilities.
    public var renormalize: Bool = false
    public var layerNormEpsilon: Float = 1e-6
    public var datasets: [DatasetSpec] = []

    public init() {}

    enum CodingKeys: String, CodingKey {
        case channels, imageSize, patchSize, width, depth, heads, mlpRatio, experts, topK
        case expertHiddenOverride = "expertHidden"
        case moeEvery, renormalize, layerNormEpsilon, datasets
    }

    /// Decodes with defaults for every absent key, so recipes name only what they change.
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.decodeIfPresent(&channels, forKey: .channels)
        try c.decodeIfPresent(&imageSize, forKey: .imageSize)
        try c.decodeIfPresent(&patchSize, forKey: .patchSize)
        try c.decodeIfPresent(&width, forKey: .width)
        try c.decodeIfPresent(&depth, forKey: .depth)
        try c.decodeIfPresent(&heads, forKey: .heads)
        try c.decodeIfPresent(&mlpRatio, forKey: .mlpRatio)
        try c.decodeIfPresent(&experts, forKey: .experts)
        try c.decodeIfPresent(&topK, forKey: .topK)
        expertHiddenOverride = try c.decodeIfPresent(Int.self, forKey: .expertHiddenOverride)
        try c.decodeIfPresent(&moeEvery, forKey: .moeEvery)
        try c.decodeIfPresent(&renormalize, forKey: .renormalize)
        try c.decodeIfPresent(&layerNormEpsilon, forKey: .layerNormEpsilon)
        try c.decodeIfPresent(&datasets, forKey: .datasets)
    }

    public var isDense: Bool { experts == 0 }
    public var expertHidden: Int { expertHiddenOverride ?? mlpRatio * width / max(topK, 1) }
    public var headDim: Int { width / heads }
    public var baseGrid: Int { imageSize / patchSize }
    public var patchDim: Int { channels * patchSize * patchSize }

    /// Whether block `index` has an MoE MLP.
    public func isMoEBlock(_ index: Int) -> Bool {
        !isDense && (moeEvery <= 1 || index % moeEvery == moeEvery - 1)
    }

    /// Indices of the MoE blocks, in order.
    public var moeBlocks: [Int] { (0..<depth).filter(isMoEBlock) }

    /// Columns of `spec`'s routers: the leading experts it may route to.
    public func routerExperts(of spec: DatasetSpec) -> Int { spec.routerExperts ?? experts }

    /// Experts picked per token for `spec`.
    public func topK(of spec: DatasetSpec) -> Int { spec.topK ?? topK }

    /// Whether `spec` may route to expert `expert` of MoE layer `moeLayer`.
    public func allows(_ spec: DatasetSpec, moeLayer: Int, expert: Int) -> Bool {
        guard expert < routerExperts(of: spec) else { return false }
        return spec.expertMask?[moeLayer][expert] ?? true
    }

    public func dataset(named name: String) throws -> DatasetSpec {
        guard let spec = datasets.first(where: { $0.name == name }) else {
            throw ModelError.unknownDataset(name, known: datasets.map(\.name))
        }
        return spec
    }

    /// Checks the numbers fit together; throws `ModelError.invalidConfig` naming the field.
    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ why: String) throws {
            if !ok { throw ModelError.invalidConfig(field: field, reason: why) }
        }
        try validateLimits()
        try check(channels > 0, "channels", "must be positive")
        try check(patchSize > 0, "patchSize", "must be positive")
        try check(
            imageSize % max(patchSize, 1) == 0, "imageSize",
            "\(imageSize) is not a multiple of patchSize \(patchSize)")
        try check(
            width > 0 && heads > 0 && width % heads == 0, "heads",
            "width \(width) must be a positive multiple of heads \(heads)")
        try check(depth > 0, "depth", "must be positive")
        try check(mlpRatio > 0, "mlpRatio", "must be positive")
        try check(experts >= 0, "experts", "must be 0 (dense) or positive")
        try check(
            isDense || (topK >= 1 && topK <= experts), "topK",
            "must be between 1 and experts (\(experts)), got \(topK)")
        try check(isDense || expertHidden > 0, "expertHidden", "must be positive")
        try check(moeEvery == 1 || moeEvery == 2, "moeEvery", "must be 1 or 2, got \(moeEvery)")
        var seen = Set<String>()
        for d in datasets {
            try check(
                !d.name.isEmpty && !d.name.contains("."), "datasets.name",
                "'\(d.name)' must be non-empty and contain no '.'")
            try check(seen.insert(d.name).inserted, "datasets.name", "'\(d.name)' appears twice")
            try check(d.classes > 0, "datasets.\(d.name).classes", "must be positive")
            try check(
                d.height % patchSize == 0 && d.width % patchSize == 0 && d.height > 0
                    && d.width > 0, "datasets.\(d.name).size",
                "\(d.height)x\(d.width) is not a positive multiple of patchSize \(patchSize)")
            if isDense { continue }
            let (visible, k) = (routerExperts(of: d), topK(of: d))
            try check(
                visible >= 1 && visible <= experts, "datasets.\(d.name).routerExperts",
                "must be between 1 and experts (\(experts)), got \(visible)")
            try check(
                k >= 1 && k <= visible, "datasets.\(d.name).topK",
                "must be between 1 and the router's experts (\(visible)), got \(k)")
            if let mask = d.expertMask {
                try check(
                    mask.count == moeBlocks.count, "datasets.\(d.name).expertMask",
                    "has \(mask.count) layers, the model has \(moeBlocks.count) MoE layers")
                for row in mask {
                    try check(
                        row.count == visible, "datasets.\(d.name).expertMask",
                        "rows must have \(visible) entries")
                    try check(
                        row.filter { $0 }.count >= k, "datasets.\(d.name).expertMask",
                        "allows fewer experts than topK \(k) in some layer")
                }
            }
        }
        try validateSize()
    }
}

/// Errors a user can cause when building or running a model.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(field: String, reason: String)
    case unknownDataset(String, known: [String])
    case inputShape(dataset: String, expected: [Int], got: [Int])
    case labelOutOfRange(dataset: String, label: Int, classes: Int)

    public var description: String {
        switch self {
        case .invalidConfig(let field, let reason): "model config '\(field)': \(reason)"
        case .unknownDataset(let name, let known):
            "unknown dataset '\(name)'; the model knows: \(known.joined(separator: ", "))"
        case .inputShape(let dataset, let expected, let got):
            "dataset '\(dataset)' expects images of shape \(expected), got \(got)"
        case .labelOutOfRange(let dataset, let label, let classes):
            "dataset '\(dataset)': label \(label) is outside 0..<\(classes)"
        }
    }
}
