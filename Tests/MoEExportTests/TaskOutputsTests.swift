import MoETasks
import MoETensor
import Testing

/// The pre-NMS detection outputs and upsampled segmentation logits an exported graph
/// reproduces agree with moe's own decoding.
@Suite struct TaskOutputsTests {
    func random(_ shape: [Int], seed: UInt64, scale: Float = 2) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        var t = Tensor(shape: shape)
        for i in 0..<t.count { t.storage[i] = Float.random(in: -scale...scale, using: &rng) }
        return t
    }

    @Test("every detection decode keeps is a cell's best score and its box")
    func detection() throws {
        let geometry = TaskGeometry(classes: 3, imageHeight: 16, imageWidth: 12, patchSize: 4)
        let outputs = random([2, geometry.cells, 3 + 1 + 4], seed: 9)
        let (scores, boxes) = try DetectionTask.scoresAndBoxes(outputs: outputs, geometry: geometry)
        #expect(scores.shape == [2, geometry.cells, 3] && boxes.shape == [2, geometry.cells, 4])
        let decoded = DetectionTask.decode(outputs: outputs, geometry: geometry)
        #expect(decoded.allSatisfy { !$0.isEmpty })
        for (b, detections) in decoded.enumerated() {
            for d in detections {
                let match = (0..<geometry.cells).contains { cell in
                    let r = b * geometry.cells + cell
                    let s = Array(scores.storage[(r * 3)..<(r * 3 + 3)])
                    let box = Array(boxes.storage[(r * 4)..<(r * 4 + 4)])
                    return s.max() == d.score && s.firstIndex(of: d.score) == Int(d.box.label)
                        && box == [d.box.x0, d.box.y0, d.box.x1, d.box.y1]
                }
                #expect(match, "detection \(d) has no matching cell")
            }
        }
    }

    @Test("the argmax of the upsampled logits is SegmentationTask.predict")
    func segmentation() throws {
        let geometry = TaskGeometry(classes: 2, imageHeight: 8, imageWidth: 12, patchSize: 4)
        let logits = random([2, geometry.cells, 3], seed: 4)
        let up = try SegmentationTask.upsampledLogits(logits, geometry: geometry)
        #expect(up.shape == [2, 3, 8, 12])
        let labels = SegmentationTask.predict(logits: logits, geometry: geometry)
        let plane = geometry.pixels
        for b in 0..<2 {
            for p in 0..<plane {
                let values = (0..<3).map { up.storage[(b * 3 + $0) * plane + p] }
                #expect(Int32(values.firstIndex(of: values.max()!)!) == labels[b * plane + p])
            }
        }
        // Pixel (0, 0) lies before the first cell centre, where the upsampling is constant.
        #expect(up.storage[0] == logits.storage[0])
    }
}
