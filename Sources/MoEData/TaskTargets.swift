/// The ground truth of one batch, by task.
public enum TaskTargets: Sendable, Equatable {
    /// Classification: one label in `0..<C` per image, `[B]`.
    case labels([Int32])
    /// Segmentation: row-major label maps `[B · H · W]` (`p = (b · H + y) · W + x`);
    /// 0 background, `c + 1` class `c`, −1 ignored.
    case masks([Int32])
    /// Detection: the ground-truth boxes of every image (pixel coordinates, exclusive max).
    case boxes([[Box]])
}
