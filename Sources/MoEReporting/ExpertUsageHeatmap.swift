import Foundation

/// Self-contained SVG heatmaps of expert usage (for `moe inspect`): one row per dataset, one
/// column per expert, a cell's value e.g. the fraction of the dataset's tokens routed to
/// that expert in one MoE layer.
///
/// Layout per panel: a title line, column labels above the grid (rotated −45° when longer
/// than a cell is wide), row labels left of it, then `rows × columns` cells of 36 × 28 px,
/// each an `<rect class="cell">` with a `<title>` tooltip holding the exact value. Colour:
/// linear from white (value 0) to dark blue `#08306b` (the panel's largest value; a panel
/// whose values are all ≤ 0 is all white); the scale used is printed under the panel.
/// Non-finite values are grey. A value is printed in its cell (`%.2f`, white text on dark
/// cells) when it fits the cell's width. All text is XML-escaped (`& < > " '`), and
/// characters XML 1.0 forbids are replaced by U+FFFD, so the output always parses.
public enum ExpertUsageHeatmap {
    /// One panel: a title, `rows` row labels, `cols` column labels and `values[rows][cols]`.
    public typealias Panel = (
        title: String, rowLabels: [String], columnLabels: [String], values: [[Double]]
    )

    static let cellWidth = 36.0
    static let cellHeight = 28.0
    static let margin = 12.0
    static let fontSize = 12.0
    static let charWidth = 7.0  // generous estimate of a 12 px sans-serif glyph
    static let panelGap = 24.0
    static let dark = (r: 8.0, g: 48.0, b: 107.0)  // #08306b

    /// One heatmap as a complete SVG document.
    public static func svg(
        title: String, rowLabels: [String], columnLabels: [String], values: [[Double]],
        caption: String? = nil
    ) -> String {
        svgGrid(
            panels: [(title: title, rowLabels: rowLabels, columnLabels: columnLabels, values: values)],
            caption: caption)
    }

    /// Several panels (e.g. one per MoE layer) stacked vertically in one SVG document, with
    /// an optional caption at the bottom.
    public static func svgGrid(panels: [Panel], caption: String? = nil) -> String {
        for panel in panels {
            precondition(
                panel.values.count == panel.rowLabels.count,
                "panel '\(panel.title)': \(panel.values.count) rows of values, \(panel.rowLabels.count) row labels")
            precondition(
                panel.values.allSatisfy { $0.count == panel.columnLabels.count },
                "panel '\(panel.title)': every row needs \(panel.columnLabels.count) values")
        }
        var body: [String] = []
        var y = margin
        var width = 200.0
        for (index, panel) in panels.enumerated() {
            let (fragment, w, h) = renderPanel(panel, index: index, top: y)
            body.append(fragment)
            width = max(width, w)
            y += h + panelGap
        }
        if let caption {
            let captionY = y + fontSize
            body.append(
                "<text class=\"caption\" x=\"\(fmt(margin))\" y=\"\(fmt(captionY))\" font-size=\"\(fmt(fontSize))\">\(escape(caption))</text>"
            )
            width = max(width, 2 * margin + Double(caption.count) * charWidth)
            y = captionY + margin
        }
        let height = max(y, 2 * margin)
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out +=
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(fmt(width))\" height=\"\(fmt(height))\" viewBox=\"0 0 \(fmt(width)) \(fmt(height))\" font-family=\"Helvetica, Arial, sans-serif\">\n"
        out +=
            "<rect class=\"background\" x=\"0\" y=\"0\" width=\"\(fmt(width))\" height=\"\(fmt(height))\" fill=\"#ffffff\"/>\n"
        out += body.joined(separator: "\n")
        out += "\n</svg>\n"
        return out
    }

    /// A panel's SVG group, its width and height.
    private static func renderPanel(_ panel: Panel, index: Int, top: Double)
        -> (String, Double, Double)
    {
        let rows = panel.rowLabels.count
        let cols = panel.columnLabels.count
        let rowLabelWidth = Double(panel.rowLabels.map(\.count).max() ?? 0) * charWidth + 8
        let longestColumn = Double(panel.columnLabels.map(\.count).max() ?? 0) * charWidth
        let rotate = longestColumn > cellWidth - 4
        let columnLabelHeight = rotate ? longestColumn * 0.71 + fontSize : fontSize + 6
        let gridX = margin + rowLabelWidth
        let titleY = top + fontSize + 2
        let gridY = titleY + 6 + columnLabelHeight
        let finite = panel.values.flatMap { $0 }.filter(\.isFinite)
        let maximum = finite.max() ?? 0
        let scale = maximum > 0 ? maximum : 1

        var lines: [String] = []
        lines.append("<g class=\"panel\" id=\"panel-\(index)\">")
        lines.append(
            "<text class=\"title\" x=\"\(fmt(margin))\" y=\"\(fmt(titleY))\" font-size=\"\(fmt(fontSize + 2))\" font-weight=\"bold\">\(escape(panel.title))</text>"
        )
        for (c, label) in panel.columnLabels.enumerated() {
            let x = gridX + (Double(c) + 0.5) * cellWidth
            let y = gridY - 4
            if rotate {
                lines.append(
                    "<text class=\"column-label\" x=\"\(fmt(x))\" y=\"\(fmt(y))\" font-size=\"\(fmt(fontSize))\" transform=\"rotate(-45 \(fmt(x)) \(fmt(y)))\">\(escape(label))</text>"
                )
            } else {
                lines.append(
                    "<text class=\"column-label\" x=\"\(fmt(x))\" y=\"\(fmt(y))\" font-size=\"\(fmt(fontSize))\" text-anchor=\"middle\">\(escape(label))</text>"
                )
            }
        }
        for r in 0..<rows {
            let y = gridY + Double(r) * cellHeight
            lines.append(
                "<text class=\"row-label\" x=\"\(fmt(gridX - 6))\" y=\"\(fmt(y + cellHeight / 2 + fontSize / 3))\" font-size=\"\(fmt(fontSize))\" text-anchor=\"end\">\(escape(panel.rowLabels[r]))</text>"
            )
            for c in 0..<cols {
                let value = panel.values[r][c]
                let x = gridX + Double(c) * cellWidth
                let level = value.isFinite ? min(max(value / scale, 0), 1) : 0
                let fill = value.isFinite ? colour(level) : "#bbbbbb"
                let text = value.isFinite ? String(format: "%.2f", value) : "n/a"
                lines.append(
                    "<rect class=\"cell\" x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(cellWidth))\" height=\"\(fmt(cellHeight))\" fill=\"\(fill)\" stroke=\"#dddddd\" stroke-width=\"0.5\"><title>\(escape(panel.rowLabels[r])) / \(escape(panel.columnLabels[c])): \(escape(String(describing: value)))</title></rect>"
                )
                if Double(text.count) * charWidth * 0.85 <= cellWidth - 2 {
                    lines.append(
                        "<text class=\"value\" x=\"\(fmt(x + cellWidth / 2))\" y=\"\(fmt(y + cellHeight / 2 + 3.5))\" font-size=\"10\" text-anchor=\"middle\" fill=\"\(level > 0.5 ? "#ffffff" : "#000000")\">\(text)</text>"
                    )
                }
            }
        }
        let legendY = gridY + Double(rows) * cellHeight + fontSize + 4
        lines.append(
            "<text class=\"legend\" x=\"\(fmt(gridX))\" y=\"\(fmt(legendY))\" font-size=\"10\" fill=\"#555555\">colour: 0 (white) to \(escape(String(format: "%.3g", scale))) (dark)</text>"
        )
        lines.append("</g>")
        let width = gridX + Double(cols) * cellWidth + margin + (rotate ? longestColumn * 0.71 : 0)
        let titleWidth = 2 * margin + Double(panel.title.count) * (charWidth + 1)
        return (lines.joined(separator: "\n"), max(width, titleWidth, gridX + 200), legendY - top)
    }

    /// White → `#08306b` at `level ∈ [0, 1]`.
    static func colour(_ level: Double) -> String {
        func channel(_ dark: Double) -> Int { Int((255 + (dark - 255) * level).rounded()) }
        let r = channel(dark.r)
        let g = channel(dark.g)
        let b = channel(dark.b)
        return "#" + [r, g, b].map { String(format: "%02x", $0) }.joined()
    }

    /// XML text/attribute escaping; characters XML 1.0 does not allow become U+FFFD.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                let v = scalar.value
                let allowed =
                    v == 0x9 || v == 0xA || v == 0xD || (0x20...0xD7FF).contains(v)
                    || (0xE000...0xFFFD).contains(v) || (0x10000...0x10FFFF).contains(v)
                out.unicodeScalars.append(allowed ? scalar : "\u{FFFD}")
            }
        }
        return out
    }

    private static func fmt(_ x: Double) -> String {
        x == x.rounded() ? String(Int(x)) : String(format: "%.1f", x)
    }
}
