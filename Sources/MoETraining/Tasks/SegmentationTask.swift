import MoETensor

/// Semantic segmentation: per-cell logits, bilinearly upsampled to pixels, per-pixel
/// softmax cross-entropy (DESIGN §2).
///
/// Layout: logits `[B, gh·gw, C+1]`, one row per patch cell in row-major grid order;
/// channel 0 is background and channel `c + 1` is class `c`. Masks are `[B·H·W]` row-major
/// with the same labels and −1 for ignored pixels.
///
/// Upsampling is `bilinearResizeForward` (`align_corners = false`, no antialiasing) of each
/// image's channel planes `[C+1, gh, gw] → [C+1, H, W]`; with `H = gh·P` the cell centres
/// land exactly on the pixel centres `((j+0.5)·P, (i+0.5)·P)` and the logits are constant
/// beyond the outermost cell centres.
public enum SegmentationTask {
    /// Mean per-pixel cross-entropy of the upsampled logits over the non-ignored pixels:
    ///
    ///     u = upsample(z)                                  [B, C+1, H, W]
    ///     L = (1/N) Σ_{pixels p with m_p ≥ 0} [ logsumexp(u_p) − u_p[m_p] ],  N = #{p : m_p ≥ 0}
    ///     ∂L/∂u_p = (softmax(u_p) − onehot(m_p)) / N   (0 at ignored pixels)
    ///     ∂L/∂z = upsampleᵀ(∂L/∂u)                     (bilinearResizeBackward)
    ///
    /// The mean runs over all non-ignored pixels of the batch together (not per image). A
    /// batch whose pixels are all ignored has loss 0 and a zero gradient.
    ///
    /// - Parameters:
    ///   - logits: `[B, gh·gw, C+1]`.
    ///   - masks: `[B·H·W]` labels in `-1...C` (−1 ignored).
    /// - Returns: the loss, its gradient `[B, gh·gw, C+1]` and `parts["seg"]` (= the loss).
    /// - Throws: `TaskError.invalidGeometry`, `TaskError.shapeMismatch` (logits or masks),
    ///   `TaskError.labelOutOfRange` for a mask label outside `-1...C`.
    public static func loss(logits: Tensor, masks: [Int32], geometry: TaskGeometry) throws -> TaskLossResult {
        let batch = try checkLogits(logits, geometry: geometry)
        let classes = geometry.classes + 1
        let plane = geometry.pixels
        guard masks.count == batch * plane else {
            throw TaskError.shapeMismatch(
                what: "segmentation masks (B·H·W)", expected: [batch * plane], found: [masks.count])
        }
        var counted = 0
        for (i, m) in masks.enumerated() {
            if m >= 0 && Int(m) < classes {
                counted += 1
            } else if m != -1 {
                throw TaskError.labelOutOfRange(
                    what: "segmentation masks", index: i, label: Int(m), valid: -1...(classes - 1))
            }
        }
        var gradient = Tensor(shape: logits.shape)
        guard counted > 0 else { return TaskLossResult(loss: 0, gradient: gradient, parts: ["seg": 0]) }

        let rows = batch * plane
        // Channel-first upsampled logits [B, C+1, H, W]; later reused for their gradient.
        var upsampled = upsample(logits, batch: batch, geometry: geometry)
        // Pixel rows [B·H·W, C+1] for the cross-entropy kernel; later reused for dL/du rows.
        var pixelRows = uninitializedFloats(rows * classes)
        var probs = uninitializedFloats(rows * classes)
        var losses = uninitializedFloats(rows)
        upsampled.withUnsafeBufferPointer { up in
            pixelRows.withUnsafeMutableBufferPointer { pr in
                planesToRows(rows: pr.baseAddress!, planes: up.baseAddress!, batch: batch, channels: classes, plane: plane)
            }
        }
        var sum = 0.0
        masks.withUnsafeBufferPointer { t in
            let targets = t.baseAddress!
            probs.withUnsafeMutableBufferPointer { p in
                pixelRows.withUnsafeMutableBufferPointer { pr in
                    losses.withUnsafeMutableBufferPointer { l in
                        crossEntropyForward(
                            losses: l.baseAddress!, probs: p.baseAddress!, logits: pr.baseAddress!,
                            targets: targets, rows: rows, classes: classes)
                        for r in 0..<rows { sum += Double(l[r]) }
                    }
                    pr.update(repeating: 0)
                    crossEntropyBackward(
                        dlogits: pr.baseAddress!, probs: p.baseAddress!, targets: targets,
                        scale: 1 / Float(counted), rows: rows, classes: classes)
                }
            }
        }
        // dL/du back to channel-first planes, then through the upsampling.
        let cells = geometry.cells
        var planarGradient = [Float](repeating: 0, count: batch * classes * cells)
        upsampled.withUnsafeMutableBufferPointer { up in
            pixelRows.withUnsafeBufferPointer { pr in
                rowsToPlanes(planes: up.baseAddress!, rows: pr.baseAddress!, batch: batch, channels: classes, plane: plane)
            }
            planarGradient.withUnsafeMutableBufferPointer { g in
                bilinearResizeBackward(
                    dinp: g.baseAddress!, dout: up.baseAddress!, channels: batch * classes,
                    inHeight: geometry.gridHeight, inWidth: geometry.gridWidth,
                    outHeight: geometry.imageHeight, outWidth: geometry.imageWidth)
            }
        }
        gradient.withUnsafeMutablePointer { dz in
            planarGradient.withUnsafeBufferPointer { g in
                planesToRows(rows: dz, planes: g.baseAddress!, batch: batch, channels: classes, plane: cells)
            }
        }
        let loss = Float(sum / Double(counted))
        return TaskLossResult(loss: loss, gradient: gradient, parts: ["seg": loss])
    }

    /// Per-pixel argmax label map `[B·H·W]` (0 background, `c + 1` class `c`) of the
    /// upsampled logits (ties go to the lower channel).
    ///
    /// `logits` must be `[B, gh·gw, C+1]` for a valid geometry (a precondition; `loss`
    /// reports the same problems as errors).
    public static func predict(logits: Tensor, geometry: TaskGeometry) -> [Int32] {
        let batch: Int
        do {
            batch = try checkLogits(logits, geometry: geometry)
        } catch {
            preconditionFailure("SegmentationTask.predict: \(error)")
        }
        let classes = geometry.classes + 1
        let plane = geometry.pixels
        let upsampled = upsample(logits, batch: batch, geometry: geometry)
        var labels = [Int32](repeating: 0, count: batch * plane)
        upsampled.withUnsafeBufferPointer { up in
            labels.withUnsafeMutableBufferPointer { out in
                let u = up.baseAddress!
                let o = out.baseAddress!
                Parallel.forEachChunk(count: batch * plane, minimumPerThread: max(1, 16384 / classes)) { range in
                    for r in range {
                        let b = r / plane
                        let base = u + b * classes * plane + (r - b * plane)
                        var best = 0
                        var bestValue = base[0]
                        for k in 1..<max(classes, 1) where base[k * plane] > bestValue {
                            best = k
                            bestValue = base[k * plane]
                        }
                        o[r] = Int32(best)
                    }
                }
            }
        }
        return labels
    }

    /// Validates the geometry and `logits` `[B, gh·gw, C+1]`; returns `B`.
    static func checkLogits(_ logits: Tensor, geometry: TaskGeometry) throws -> Int {
        try geometry.validate()
        let expected = [logits.shape.first ?? 0, geometry.cells, geometry.classes + 1]
        guard logits.shape == expected else {
            throw TaskError.shapeMismatch(what: "segmentation logits [B, gh·gw, C+1]", expected: expected, found: logits.shape)
        }
        return expected[0]
    }

    /// Channel-first upsampled logits `[B, C+1, H, W]` of cell logits `[B, gh·gw, C+1]`.
    static func upsample(_ logits: Tensor, batch: Int, geometry: TaskGeometry) -> [Float] {
        let classes = geometry.classes + 1
        let cells = geometry.cells
        var planes = uninitializedFloats(batch * classes * cells)
        var upsampled = uninitializedFloats(batch * classes * geometry.pixels)
        logits.withUnsafePointer { z in
            planes.withUnsafeMutableBufferPointer { p in
                rowsToPlanes(planes: p.baseAddress!, rows: z, batch: batch, channels: classes, plane: cells)
            }
        }
        planes.withUnsafeBufferPointer { p in
            upsampled.withUnsafeMutableBufferPointer { u in
                bilinearResizeForward(
                    out: u.baseAddress!, inp: p.baseAddress!, channels: batch * classes,
                    inHeight: geometry.gridHeight, inWidth: geometry.gridWidth,
                    outHeight: geometry.imageHeight, outWidth: geometry.imageWidth)
            }
        }
        return upsampled
    }
}
