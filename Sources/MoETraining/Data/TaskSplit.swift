import MoEData
import MoEModel
import MoETensor

/// One split of a dataset as the trainer sees it: images of one size and, per image, the
/// targets of the dataset's task.
public protocol TaskSplit: Sendable {
    var count: Int { get }
    var channels: Int { get }
    var height: Int { get }
    var width: Int { get }
    /// Number of classes (object classes for detection and segmentation).
    var classes: Int { get }
    /// Images `[B, C, H, W]` (normalised, written into `images`, reusing its storage) and
    /// the targets of `indices`.
    func makeBatch(indices: [Int], into images: inout Tensor) -> TaskTargets
}

/// Labelled images are a classification split.
public struct ClassificationSplit: TaskSplit {
    public let data: ImageDataset
    public init(_ data: ImageDataset) { self.data = data }

    public var count: Int { data.count }
    public var channels: Int { data.channels }
    public var height: Int { data.height }
    public var width: Int { data.width }
    public var classes: Int { data.classes }

    public func makeBatch(indices: [Int], into images: inout Tensor) -> TaskTargets {
        var labels: [Int32] = []
        data.makeBatch(indices: indices, into: &images, labels: &labels)
        return .labels(labels)
    }
}

/// Scenes composed from Fashion-MNIST items (DESIGN §8) as a detection or segmentation
/// split: `count` scenes generated on demand, deterministic by index.
public struct SceneSplit: TaskSplit {
    public let generator: SceneGenerator
    public let task: TaskKind
    public let count: Int
    /// Normalisation of scene pixels (measured on the train scenes).
    public let mean: Float
    public let std: Float

    public init(generator: SceneGenerator, task: TaskKind, count: Int, mean: Float, std: Float) {
        self.generator = generator
        self.task = task
        self.count = count
        self.mean = mean
        self.std = std
    }

    public var channels: Int { 1 }
    public var height: Int { generator.config.canvas }
    public var width: Int { generator.config.canvas }
    public var classes: Int { generator.classes }

    public func makeBatch(indices: [Int], into images: inout Tensor) -> TaskTargets {
        let batch = generator.makeBatch(indices: indices, mean: mean, std: std)
        images = batch.images
        return task == .detection ? .boxes(batch.boxes) : .masks(batch.masks)
    }
}
