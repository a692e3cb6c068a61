import Foundation
import MoEData
import MoEImage

/// Writes generated scenes (`SceneGenerator`) as a user's dataset would look, so the
/// own-data sources can be tried and tested on known ground truth:
/// - `.coco`: `root/images/<split>/<i>.png` and `root/annotations/<split>.json`
///   (category ids 1…C with the item class names, bbox [x0, y0, x1 − x0, y1 − y0]);
/// - `.masks`: `root/images/<split>/<i>.png` and `root/masks/<split>/<i>.png`, the scene
///   mask as is (0 background, c + 1 class c).
public enum SceneExport {
    public enum Format: String, Sendable, CaseIterable {
        case coco, masks
    }

    /// Scenes `0..<count` of `generator` as split `split` under `root`, in `format`.
    public static func write(
        _ generator: SceneGenerator, count: Int, split: String, root: String, format: Format, classNames: [String]
    ) throws {
        let images = (root as NSString).appendingPathComponent("images/\(split)")
        let side = (root as NSString).appendingPathComponent(format == .coco ? "annotations" : "masks/\(split)")
        for folder in [images, side] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        var imageEntries: [[String: Any]] = []
        var annotations: [[String: Any]] = []
        for i in 0..<count {
            let scene = generator.scene(i)
            let name = String(format: "%06d.png", i)
            let s = scene.size
            try PNGEncoder.write(
                DecodedImage(width: s, height: s, channels: 1, pixels: scene.pixels),
                to: (images as NSString).appendingPathComponent(name))
            switch format {
            case .masks:
                try PNGEncoder.write(
                    DecodedImage(width: s, height: s, channels: 1, pixels: scene.mask),
                    to: (side as NSString).appendingPathComponent(name))
            case .coco:
                imageEntries.append(["id": i + 1, "file_name": name, "width": s, "height": s])
                for box in scene.boxes {
                    annotations.append([
                        "id": annotations.count + 1, "image_id": i + 1, "category_id": Int(box.label) + 1,
                        "bbox": [box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0].map(Double.init),
                        "area": Double(box.area), "iscrowd": 0,
                    ])
                }
            }
        }
        guard format == .coco else { return }
        let categories = classNames.enumerated().map { ["id": $0.offset + 1, "name": $0.element] as [String: Any] }
        let json: [String: Any] = ["images": imageEntries, "annotations": annotations, "categories": categories]
        let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        try data.write(
            to: URL(fileURLWithPath: (side as NSString).appendingPathComponent("\(split).json")), options: .atomic)
    }
}
