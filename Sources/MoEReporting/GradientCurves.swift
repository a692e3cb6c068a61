import Foundation

/// Line charts of the gradient-conflict diagnostics (`event: grad` records of metrics.jsonl,
/// written every `training.diagnosticsEvery` roundRobin steps), for `moe inspect --gradients`.
///
/// Panels, each a 560 × 180 px plot over training steps: backbone gradient norm per task;
/// pairwise cosine similarity, gradient magnitude similarity and conflicting-sign fraction
/// per task pair (backbone); cosine similarity of every layer group averaged over pairs.
public enum GradientCurves {
    /// One named curve: (step, value) points.
    public typealias Series = (name: String, points: [(Double, Double)])

    /// The `grad` records of a JSON-lines log, in file order.
    public static func records(jsonLines text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["event"] as? String == "grad"
            else { return nil }
            return object
        }
    }

    /// Series of `layer`'s `field` (`norm`, `cosine`, `gms`, `conflict`), one per key.
    public static func series(_ records: [[String: Any]], layer: String, field: String) -> [Series] {
        var points: [String: [(Double, Double)]] = [:]
        for r in records {
            guard let step = r["step"] as? Int, let layers = r["layers"] as? [String: Any],
                let l = layers[layer] as? [String: Any], let values = l[field] as? [String: Any]
            else { continue }
            for (k, v) in values {
                if let d = (v as? NSNumber)?.doubleValue { points[k, default: []].append((Double(step), d)) }
            }
        }
        return points.keys.sorted().map { ($0, points[$0]!) }
    }

    /// Per layer group, the cosine averaged over task pairs.
    public static func layerCosines(_ records: [[String: Any]]) -> [Series] {
        var points: [String: [(Double, Double)]] = [:]
        for r in records {
            guard let step = r["step"] as? Int, let layers = r["layers"] as? [String: Any] else { continue }
            for (name, value) in layers {
                guard let l = value as? [String: Any], let c = l["cosine"] as? [String: Any] else { continue }
                let v = c.values.compactMap { ($0 as? NSNumber)?.doubleValue }
                if !v.isEmpty { points[name, default: []].append((Double(step), v.reduce(0, +) / Double(v.count))) }
            }
        }
        return points.keys.sorted().map { ($0, points[$0]!) }
    }

    static let palette = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf",
    ]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A complete SVG document of the panels built from `records`.
    public static func svg(records: [[String: Any]], title: String) -> String {
        let panels: [(String, [Series])] = [
            ("backbone gradient norm per task", series(records, layer: "backbone", field: "norm")),
            ("backbone cosine similarity per task pair", series(records, layer: "backbone", field: "cosine")),
            ("backbone gradient magnitude similarity per pair", series(records, layer: "backbone", field: "gms")),
            ("backbone fraction of conflicting signs per pair", series(records, layer: "backbone", field: "conflict")),
            ("cosine similarity per layer (mean over pairs)", layerCosines(records)),
        ]
        let (w, h, left, top) = (560.0, 180.0, 60.0, 40.0)
        let panelHeight = h + 70
        var out = [String]()
        let total = top + Double(panels.count) * panelHeight
        out.append(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(left + w + 200))\" height=\"\(Int(total))\" font-family=\"sans-serif\" font-size=\"12\">"
        )
        out.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")
        out.append("<text x=\"\(left)\" y=\"20\" font-size=\"14\">\(escape(title))</text>")
        for (p, (name, curves)) in panels.enumerated() {
            let y0 = top + Double(p) * panelHeight + 20
            out.append("<text x=\"\(left)\" y=\"\(y0 - 6)\">\(escape(name))</text>")
            out.append("<rect x=\"\(left)\" y=\"\(y0)\" width=\"\(w)\" height=\"\(h)\" fill=\"none\" stroke=\"#999\"/>")
            let all = curves.flatMap(\.points)
            guard !all.isEmpty else {
                out.append("<text x=\"\(left + 10)\" y=\"\(y0 + 20)\">no data</text>")
                continue
            }
            let xs = all.map(\.0)
            let ys = all.map(\.1).filter(\.isFinite)
            let (xMin, xMax) = (xs.min()!, max(xs.max()!, xs.min()! + 1))
            var (yMin, yMax) = (min(ys.min() ?? 0, 0), ys.max() ?? 1)
            if yMax - yMin < 1e-12 { yMax = yMin + 1 }
            func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * w }
            func py(_ v: Double) -> Double { y0 + h - (v - yMin) / (yMax - yMin) * h }
            if yMin < 0 && yMax > 0 {
                out.append(
                    "<line x1=\"\(left)\" x2=\"\(left + w)\" y1=\"\(py(0))\" y2=\"\(py(0))\" stroke=\"#ccc\" stroke-dasharray=\"4 3\"/>"
                )
            }
            out.append(
                String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>", left - 4, y0 + 10, yMax))
            out.append(
                String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>", left - 4, y0 + h, yMin))
            out.append(String(format: "<text x=\"%.1f\" y=\"%.1f\">step %.0f</text>", left, y0 + h + 16, xMin))
            out.append(
                String(
                    format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">step %.0f</text>", left + w, y0 + h + 16,
                    xMax))
            for (i, c) in curves.enumerated() {
                let colour = palette[i % palette.count]
                let path = c.points.filter { $0.1.isFinite }
                    .map { String(format: "%.1f,%.1f", px($0.0), py($0.1)) }.joined(separator: " ")
                out.append("<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" points=\"\(path)\"/>")
                out.append(
                    "<text x=\"\(left + w + 10)\" y=\"\(y0 + 14 + Double(i) * 15)\" fill=\"\(colour)\">\(escape(c.name))</text>"
                )
            }
        }
        out.append("</svg>")
        return out.joined(separator: "\n")
    }
}
