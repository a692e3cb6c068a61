import Foundation
import MoEImage
import MoETasks
import MoETraining

/// How `moe predict` prints and saves one image's prediction.
enum PredictionOutput {
    /// Writes the annotated image (detection) or the class-index mask (segmentation) as
    /// `<folder>/<stem>.png`; returns its path, or nil when nothing is written.
    static func write(_ output: Predictor.Output, image: DecodedImage, source: String, folder: String?) throws
        -> String?
    {
        guard let folder else { return nil }
        let stem = ((source as NSString).lastPathComponent as NSString).deletingPathExtension
        let path = (folder as NSString).appendingPathComponent(stem + ".png")
        switch output {
        case .classes: return nil
        case .boxes(let detections):
            var canvas = image.converted(toChannels: 3)
            for d in detections {
                canvas.drawRectangle(
                    x0: Int(d.box.x0), y0: Int(d.box.y0), x1: Int(d.box.x1.rounded(.up)) - 1,
                    y1: Int(d.box.y1.rounded(.up)) - 1, colour: colour(Int(d.label)))
            }
            try PNGEncoder.write(canvas, to: path)
        case .mask(let mask):
            try PNGEncoder.write(mask, to: path)
        }
        return path
    }

    /// A distinct colour per class.
    static func colour(_ label: Int) -> [UInt8] {
        let palette: [[UInt8]] = [
            [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
            [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
        ]
        return palette[label % palette.count]
    }

    /// One line of text, or one JSON object, for the image at `path`.
    static func describe(
        _ output: Predictor.Output, path: String, names: [String], written: String?, json: Bool
    ) -> String {
        var object: [String: Any] = ["image": path]
        var text = path + ":"
        switch output {
        case .classes(let top):
            object["classes"] = top.map { ["label": $0.label, "name": $0.name, "probability": Double($0.probability)] }
            text += top.map { String(format: " %@ %.3f", $0.name, $0.probability) }.joined(separator: ",")
        case .boxes(let detections):
            object["boxes"] = detections.map { d in
                [
                    "label": Int(d.label), "name": name(Int(d.label), names), "score": Double(d.score),
                    "box": [d.box.x0, d.box.y0, d.box.x1, d.box.y1].map(Double.init),
                ] as [String: Any]
            }
            text += " \(detections.count) boxes"
            for d in detections.prefix(20) {
                text += String(
                    format: "\n  %@ %.3f [%.1f, %.1f, %.1f, %.1f]", name(Int(d.label), names), d.score, d.box.x0,
                    d.box.y0, d.box.x1, d.box.y1)
            }
        case .mask(let mask):
            var counts = [Int](repeating: 0, count: names.count + 1)
            for v in mask.pixels where Int(v) < counts.count { counts[Int(v)] += 1 }
            let total = Double(max(mask.pixels.count, 1))
            let shares = ["background"] + names
            object["size"] = [mask.width, mask.height]
            object["shares"] = Dictionary(uniqueKeysWithValues: zip(shares, counts.map { Double($0) / total }))
            text += " \(mask.width)×\(mask.height) mask,"
            text += zip(shares, counts).map { String(format: " %@ %.1f%%", $0, 100 * Double($1) / total) }
                .joined(separator: ",")
        }
        if let written {
            object["output"] = written
            text += "\n  wrote \(written)"
        }
        guard json, let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            return text
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func name(_ label: Int, _ names: [String]) -> String {
        names.indices.contains(label) ? names[label] : String(label)
    }
}
