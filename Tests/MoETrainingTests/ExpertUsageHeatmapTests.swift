import Foundation
import MoEReporting
import MoETraining
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Collects element names, `class` attributes and text.
private final class Collector: NSObject, XMLParserDelegate {
    var elements: [String] = []
    var classes: [String: Int] = [:]
    var text = ""
    var rootAttributes: [String: String] = [:]

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
        qualifiedName qName: String?, attributes: [String: String] = [:]
    ) {
        if elements.isEmpty { rootAttributes = attributes }
        elements.append(elementName)
        if let c = attributes["class"] { classes[c, default: 0] += 1 }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
}

private func parse(_ svg: String) throws -> Collector {
    let parser = XMLParser(data: Data(svg.utf8))
    let collector = Collector()
    parser.delegate = collector
    let ok = parser.parse()
    #expect(ok, "XML parse error: \(String(describing: parser.parserError))")
    return collector
}

@Suite struct ExpertUsageHeatmapTests {
    @Test func singlePanelParsesWithOneRectPerCell() throws {
        let values: [[Double]] = [[0.5, 0.25, 0.25, 0], [0, 0.1, 0.2, 0.7], [0.25, 0.25, 0.25, 0.25]]
        let svg = ExpertUsageHeatmap.svg(
            title: "Layer 3 MoE", rowLabels: ["fmnist", "digits", "scenes"],
            columnLabels: ["e0", "e1", "e2", "e3"], values: values, caption: "fraction of tokens")
        let c = try parse(svg)
        #expect(c.elements.first == "svg")
        #expect(c.rootAttributes["xmlns"] == "http://www.w3.org/2000/svg")
        #expect(c.classes["cell"] == 12)
        #expect(c.classes["row-label"] == 3 && c.classes["column-label"] == 4)
        #expect(c.classes["value"] == 12)
        #expect(c.text.contains("Layer 3 MoE") && c.text.contains("fraction of tokens"))
        #expect(c.text.contains("0.70") && c.text.contains("fmnist"))
        // Largest value is darkest, zero is white.
        #expect(svg.contains("fill=\"#08306b\"") && svg.contains("fill=\"#ffffff\""))
    }

    @Test func specialCharactersAreEscaped() throws {
        let evil = "a<b & \"c\" 'd'>\u{1}"
        let svg = ExpertUsageHeatmap.svg(
            title: "T&E <layer>", rowLabels: [evil, "ok"], columnLabels: ["<e0>", "e&1"],
            values: [[1, .nan], [0.5, 0.5]], caption: "x < y & z")
        let c = try parse(svg)
        #expect(c.classes["cell"] == 4)
        #expect(c.text.contains("a<b & \"c\" 'd'>\u{FFFD}"))
        #expect(c.text.contains("T&E <layer>") && c.text.contains("<e0>") && c.text.contains("e&1"))
        #expect(c.text.contains("x < y & z"))
        #expect(!svg.contains("<e0>") && svg.contains("&lt;e0&gt;") && svg.contains("e&amp;1"))
        #expect(c.text.contains("n/a"))
    }

    @Test func gridStacksOnePanelPerLayer() throws {
        let panels: [ExpertUsageHeatmap.Panel] = (0..<3).map { l in
            (
                title: "blocks.\(2 * l + 1).moe", rowLabels: ["fmnist", "digits"],
                columnLabels: (0..<8).map { "expert-\($0)" },
                values: (0..<2).map { r in (0..<8).map { Double((r + $0 + l) % 8) / 28 } }
            )
        }
        let svg = ExpertUsageHeatmap.svgGrid(panels: panels, caption: "usage")
        let c = try parse(svg)
        #expect(c.classes["panel"] == 3)
        #expect(c.classes["cell"] == 3 * 2 * 8)
        #expect(c.classes["column-label"] == 24)
        // Long column labels are rotated.
        #expect(svg.contains("rotate(-45"))
        // Panels do not overlap: titles at increasing y.
        let ys = svg.components(separatedBy: "<text class=\"title\"").dropFirst().map {
            Double($0.components(separatedBy: "y=\"")[1].components(separatedBy: "\"")[0])!
        }
        #expect(ys.count == 3 && ys[0] < ys[1] && ys[1] < ys[2])
    }

    @Test func valuesAreOmittedWhenTheyDoNotFit() throws {
        let svg = ExpertUsageHeatmap.svg(
            title: "wide", rowLabels: ["a"], columnLabels: ["x", "y"], values: [[123456.5, 0.5]],
            caption: nil)
        let c = try parse(svg)
        #expect(c.classes["cell"] == 2 && c.classes["value"] == 1)
    }
}
