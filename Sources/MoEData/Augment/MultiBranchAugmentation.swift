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
        let weights = branches.map { $0.weight(at: progress) }
        var batch = AugmentedBatch(images: images, targets: targets)
        for i in 0..<batch.b {
            let branch = branches[draw(weights, &rng)]
            switch branch.kind {
            case .none: continue
            case .hflip: batch.flipHorizontally(i)
            case .noise: batch.addNoise(i, std: branch.std, rng: &rng)
            case .crop: batch.cropAndResize(i, minScale: branch.minScale, rng: &rng)
            case .mixup: batch.mixUp(i, rng: &rng)
            case .mosaic: batch.mosaic(i, rng: &rng)
            }
        }
        images = Tensor(shape: images.shape, storage: batch.pixels)
        targets = batch.augmentedTargets
    }
}

/// A batch being augmented sample by sample: pixels and targets in flat arrays, plus the
/// un-augmented batch that mixup and mosaic partners read from.
private struct AugmentedBatch {
    let b: Int, c: Int, h: Int, w: Int
    var plane: Int { c * h * w }
    let source: Tensor
    let sourceTargets: TaskTargets
    var pixels: [Float]
    var labels: [Int32] = []
    var masks: [Int32] = []
    var boxes: [[Box]] = []

    init(images: Tensor, targets: TaskTargets) {
        (b, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        source = images
        sourceTargets = targets
        pixels = images.storage
        switch targets {
        case .labels(let l): labels = l
        case .masks(let m): masks = m
        case .boxes(let x): boxes = x
        }
    }

    var augmentedTargets: TaskTargets {
        switch sourceTargets {
        case .labels: .labels(labels)
        case .masks: .masks(masks)
        case .boxes: .boxes(boxes)
        }
    }

    mutating func flipHorizontally(_ i: Int) {
        let base = i * plane
        for ch in 0..<c {
            for y in 0..<h {
                let row = base + (ch * h + y) * w
                for x in 0..<(w / 2) { pixels.swapAt(row + x, row + w - 1 - x) }
            }
        }
        if !masks.isEmpty {
            for y in 0..<h {
                let row = (i * h + y) * w
                for x in 0..<(w / 2) { masks.swapAt(row + x, row + w - 1 - x) }
            }
        }
        if !boxes.isEmpty {
            let width = Float(w)
            boxes[i] = boxes[i].map {
                Box(x0: width - $0.x1, y0: $0.y0, x1: width - $0.x0, y1: $0.y1, label: $0.label)
            }
        }
    }

    mutating func addNoise(_ i: Int, std: Float, rng: inout SeededGenerator) {
        let base = i * plane
        for k in 0..<plane { pixels[base + k] += std * rng.normal() }
    }

    /// Random resized crop: a square of side `s · min(H, W)` (s ~ U[minScale, 1]) resized
    /// back to H × W by nearest neighbour; boxes smaller than 2 px afterwards are dropped.
    mutating func cropAndResize(_ i: Int, minScale: Float, rng: inout SeededGenerator) {
        let base = i * plane
        let scale = minScale + (1 - minScale) * rng.uniform()
        let side = (Float(min(h, w)) * scale)
        let ox = rng.uniform() * (Float(w) - side)
        let oy = rng.uniform() * (Float(h) - side)
        let sx = side / Float(w)
        let sy = side / Float(h)
        let (h, w) = (self.h, self.w)
        func sourceY(_ y: Int) -> Int { min(h - 1, Int(oy + (Float(y) + 0.5) * sy)) }
        func sourceX(_ x: Int) -> Int { min(w - 1, Int(ox + (Float(x) + 0.5) * sx)) }
        let original = Array(pixels[base..<(base + plane)])
        for ch in 0..<c {
            for y in 0..<h {
                let yy = sourceY(y)
                for x in 0..<w { pixels[base + (ch * h + y) * w + x] = original[(ch * h + yy) * w + sourceX(x)] }
            }
        }
        if !masks.isEmpty {
            let m0 = Array(masks[(i * h * w)..<((i + 1) * h * w)])
            for y in 0..<h {
                let yy = sourceY(y)
                for x in 0..<w { masks[(i * h + y) * w + x] = m0[yy * w + sourceX(x)] }
            }
        }
        if !boxes.isEmpty {
            boxes[i] = boxes[i].compactMap { box in
                let x0 = max(0, (box.x0 - ox) / sx)
                let x1 = min(Float(w), (box.x1 - ox) / sx)
                let y0 = max(0, (box.y0 - oy) / sy)
                let y1 = min(Float(h), (box.y1 - oy) / sy)
                return x1 - x0 >= 2 && y1 - y0 >= 2 ? Box(x0: x0, y0: y0, x1: x1, y1: y1, label: box.label) : nil
            }
        }
    }

    /// Classification only: blends the image with another sample's, λ ~ U[0.5, 1].
    mutating func mixUp(_ i: Int, rng: inout SeededGenerator) {
        guard !labels.isEmpty, b > 1 else { return }
        let base = i * plane
        let j = (i + 1 + Int(rng.next() % UInt64(b - 1))) % b
        let lambda = 0.5 + 0.5 * rng.uniform()
        let plane = self.plane
        source.storage.withUnsafeBufferPointer { s in
            for k in 0..<plane { pixels[base + k] = lambda * s[base + k] + (1 - lambda) * s[j * plane + k] }
        }
    }

    /// Dense tasks only: four half-size samples (this one and three random partners) tiled
    /// 2 × 2, with their masks and boxes; boxes smaller than 2 px are dropped.
    mutating func mosaic(_ i: Int, rng: inout SeededGenerator) {
        guard labels.isEmpty, b > 1 else { return }
        let base = i * plane
        let partners = [i] + (0..<3).map { _ in Int(rng.next() % UInt64(b)) }
        var newBoxes: [Box] = []
        let hh = h / 2
        let hw = w / 2
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
                    let nb = Box(
                        x0: box.x0 / 2 + Float(qx), y0: box.y0 / 2 + Float(qy),
                        x1: box.x1 / 2 + Float(qx), y1: box.y1 / 2 + Float(qy), label: box.label)
                    if nb.x1 - nb.x0 >= 2 && nb.y1 - nb.y0 >= 2 { newBoxes.append(nb) }
                }
            }
        }
        if !boxes.isEmpty { boxes[i] = newBoxes }
    }
}
