/// Image and patch-grid sizes shared by the task heads (DESIGN §2).
///
/// The grid is `gridHeight = imageHeight / patchSize` by `gridWidth = imageWidth / patchSize`
/// cells, in row-major order: cell `(i, j)` is token `i · gridWidth + j`, covers the pixels
/// `[j·P, (j+1)·P) × [i·P, (i+1)·P)` (`P = patchSize`) and is centred at
/// `((j + 0.5)·P, (i + 0.5)·P)`.
public struct TaskGeometry: Sendable, Equatable, Hashable, Codable {
    /// Object classes `C` (labels `0..<C`; segmentation and detection add a background
    /// channel, so they have `C + 1` class logits).
    public var classes: Int
    /// Image height `H` in pixels.
    public var imageHeight: Int
    /// Image width `W` in pixels.
    public var imageWidth: Int
    /// Patch side `P` in pixels.
    public var patchSize: Int

    public init(classes: Int, imageHeight: Int, imageWidth: Int, patchSize: Int) {
        self.classes = classes
        self.imageHeight = imageHeight
        self.imageWidth = imageWidth
        self.patchSize = patchSize
    }

    /// `gh = H / P`.
    public var gridHeight: Int { patchSize > 0 ? imageHeight / patchSize : 0 }
    /// `gw = W / P`.
    public var gridWidth: Int { patchSize > 0 ? imageWidth / patchSize : 0 }
    /// `gh · gw`, the patch tokens per image.
    public var cells: Int { gridHeight * gridWidth }
    /// `H · W`.
    public var pixels: Int { imageHeight * imageWidth }

    /// Checks `classes ≥ 1`, `patchSize ≥ 1` and that `H` and `W` are positive multiples of
    /// the patch size (as the model's patchify requires).
    /// - Throws: `TaskError.invalidGeometry` naming the offending field.
    public func validate() throws {
        guard classes >= 1 else {
            throw TaskError.invalidGeometry(detail: "task geometry: classes \(classes) must be at least 1")
        }
        guard patchSize >= 1 else {
            throw TaskError.invalidGeometry(detail: "task geometry: patchSize \(patchSize) must be at least 1")
        }
        guard imageHeight >= patchSize, imageWidth >= patchSize,
            imageHeight % patchSize == 0, imageWidth % patchSize == 0
        else {
            throw TaskError.invalidGeometry(
                detail: "task geometry: image \(imageHeight)x\(imageWidth) is not a positive multiple "
                    + "of patchSize \(patchSize)")
        }
    }
}
