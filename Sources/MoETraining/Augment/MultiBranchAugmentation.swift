import MoEData
import MoETensor

/// Multi-branch augmentation: for every sample of a batch, one branch is drawn (probability
/// ∝ the branches' weights at this point of the run) and applied to its image and targets.
/// Draws come from the generator the caller passes (the training state's, so a resumed run
/// repeats them exactly).
public enum MultiBranchAugmentation {
    /// Draws a branch index with probabilities ∝ `weights`.
    static func draw(_ weights: [Double], _ rng: inout SeededGenerator) -> Int {
        let total = weights.reduce(0, +)
        guard total > 0 else { return 0 }
        var u = Double(rng.uniform()) * total
        for (i, w) in weights.enumerated() {
            if u < w { return i }
            u -= w
        }
        return weights.count - 1
    }

    /// Augments `images` ([B, C, H, W]) and `targets` in place.
    public static func apply(
        branches: [AugmentationBranch], progress: Double, images: inout Tensor,
        targets: inout TaskTargets, rng: inout SeededGenerator
    ) {
        guard !branches.isEmpty, images.shape.count == 4 else { return }
        let (b, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        let plane = c * h * w
        let weights = branches.map { $0.weight(at: progress) }
        let source = images  // partners of mixup / mosaic read the un-augmented batch
        let sourceTargets = targets
        var pixels = images.storage
        var labels: [Int32] = [], masks: [Int32] = [], boxes: [[Box]] = []
        switch targets {
        case .labels(let l): labels = l
        case .masks(let m): masks = m
        case .boxes(let x): boxes = x
        }
        let isMasks = !masks.isEmpty
        for i in 0..<b {
            let branch = branches[draw(weights, &rng)]
            let base = i * plane
            switch branch.kind {
            case .none:
                continue
            case .hflip:
                for ch in 0..<c {
                    for y in 0..<h {
                        let row = base + (ch * h + y) * w
                        for x in 0..<(w / 2) { pixels.swapAt(row + x, row + w - 1 - x) }
                    }
                }
                if isMasks {
                    for y in 0..<h {
                        let row = (i * h + y) * w
                        for x in 0..<(w / 2) { masks.swapAt(row + x, row + w - 1 - x) }
                    }
                }
                if !boxes.isEmpty {
                    boxes[i] = boxes[i].map {
                        Box(x0: Float(w) - $0.x1, y0: $0.y0, x1: Float(w) - $0.x0, y1: $0.y1, label: $0.label)
                    }
                }
            case .noise:
                for k in 0..<plane { pixels[base + k] += branch.std * rng.normal() }
            case .crop:
                let scale = branch.minScale + (1 - branch.minScale) * rng.uniform()
                let side = (Float(min(h, w)) * scale)
                let ox = rng.uniform() * (Float(w) - side), oy = rng.uniform() * (Float(h) - side)
                let sx = side / Float(w), sy = side / Float(h)
                let original = Array(pixels[base..<(base + plane)])
                for ch in 0..<c {
                    for y in 0..<h {
                        let yy = min(h - 1, Int(oy + (Float(y) + 0.5) * sy))
                        for x in 0..<w {
                            let xx = min(w - 1, Int(ox + (Float(x) + 0.5) * sx))
                            pixels[base + (ch * h + y) * w + x] = original[(ch * h + yy) * w + xx]
                        }
                    }
                }
                if isMasks {
                    let m0 = Array(masks[(i * h * w)..<((i + 1) * h * w)])
                    for y in 0..<h {
                        let yy = min(h - 1, Int(oy + (Float(y) + 0.5) * sy))
                        for x in 0..<w {
                            let xx = min(w - 1, Int(ox + (Float(x) + 0.5) * sx))
                            masks[(i * h + y) * w + x] = m0[yy * w + xx]
                        }
                    }
                }
                if !boxes.isEmpty {
                    boxes[i] = boxes[i].compactMap { box in
                        let x0 = max(0, (box.x0 - ox) / sx), x1 = min(Float(w), (box.x1 - ox) / sx)
                        let y0 = max(0, (box.y0 - oy) / sy), y1 = min(Float(h), (box.y1 - oy) / sy)
                        return x1 - x0 >= 2 && y1 - y0 >= 2 ? Box(x0: x0, y0: y0, x1: x1, y1: y1, label: box.label) : nil
                    }
                }
            case .mixup:
                guard !labels.isEmpty, b > 1 else { continue }
                let j = (i + 1 + Int(rng.next() % UInt64(b - 1))) % b
                let lambda = 0.5 + 0.5 * rng.uniform()
                source.storage.withUnsafeBufferPointer { s in
                    for k in 0..<plane { pixels[base + k] = lambda * s[base + k] + (1 - lambda) * s[j * plane + k] }
                }
            case .mosaic:
                guard labels.isEmpty, b > 1 else { continue }
                let partners = [i] + (0..<3).map { _ in Int(rng.next() % UInt64(b)) }
                var newBoxes: [Box] = []
                let hh = h / 2, hw = w / 2
                for (q, j) in partners.enumerated() {
                    let (qy, qx) = (q / 2 * hh, q % 2 * hw)
                    for ch in 0..<c {
                        for y in 0..<hh {
                            for x in 0..<hw {
                                pixels[base + (ch * h + qy + y) * w + qx + x] =
                                    source.storage[j * plane + (ch * h + 2 * y) * w + 2 * x]
                            }
                        }
                    }
                    if case .masks(let m) = sourceTargets {
                        for y in 0..<hh {
                            for x in 0..<hw { masks[(i * h + qy + y) * w + qx + x] = m[(j * h + 2 * y) * w + 2 * x] }
                        }
                    }
                    if case .boxes(let all) = sourceTargets {
                        for box in all[j] {
                            let nb = Box(x0: box.x0 / 2 + Float(qx), y0: box.y0 / 2 + Float(qy),
                                         x1: box.x1 / 2 + Float(qx), y1: box.y1 / 2 + Float(qy), label: box.label)
                            if nb.x1 - nb.x0 >= 2 && nb.y1 - nb.y0 >= 2 { newBoxes.append(nb) }
                        }
                    }
                }
                if !boxes.isEmpty { boxes[i] = newBoxes }
            }
        }
        images = Tensor(shape: images.shape, storage: pixels)
        switch targets {
        case .labels: targets = .labels(labels)
        case .masks: targets = .masks(masks)
        case .boxes: targets = .boxes(boxes)
        }
    }
}
