import MoETensor

/// Semantic segmentation: per-cell logits, bilinearly upsampled to pixels, per-pixel
/// softmax cross-entropy (DESIGN §2).
///
/// Layout: logits `[B, gh·gw, C+1]`, one row per patch cell in row-major grid order;
/// channel 0 is background and channel `c + 1` is class `c`. Masks are `[B·H·W]` row-major
/// with the same labels and −1 for ignored pixels.
///
/// Upsampling is bilinear, `align_corners = false`, no antialiasing (PyTorch
/// `F.interpolate(mode: "bilinear")`) of each image's channel planes `[C+1, gh, gw] →
/// [C+1, H, W]`: with `H = gh·P` the cell centres land exactly on the pixel coordinates
/// `((j+0.5)·P, (i+0.5)·P)` and the logits are constant beyond the outermost cell centres.
/// It runs as two separable `bilinearResizeForward` passes on the channel-last layout
/// (`upsampleRows`), so no transposes are needed.
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
        let sum = TaskScratch.with { scratch in
            // Upsampled logits as pixel rows [B·H·W, C+1], later overwritten with dL/du.
            scratch.rows.resize(rows * classes)
            scratch.probs.resize(rows * classes)
            scratch.losses.resize(rows)
            scratch.middle.resize(batch * geometry.gridHeight * geometry.imageWidth * classes)
            let pixelRows = scratch.rows.pointer
            let probs = scratch.probs.pointer
            let losses = scratch.losses.pointer
            let middle = scratch.middle.pointer
            logits.withUnsafePointer { z in
                upsampleRows(out: pixelRows, logits: z, middle: middle, batch: batch, geometry: geometry)
            }
            var sum = 0.0
            masks.withUnsafeBufferPointer { t in
                let targets = t.baseAddress!
                crossEntropyForward(
                    losses: losses, probs: probs, logits: pixelRows, targets: targets, rows: rows, classes: classes)
                for r in 0..<rows { sum += Double(losses[r]) }
                scratch.rows.zero()
                crossEntropyBackward(
                    dlogits: pixelRows, probs: probs, targets: targets, scale: 1 / Float(counted), rows: rows,
                    classes: classes)
            }
            // dL/du back through both upsampling passes, straight into the [B, gh·gw, C+1] layout.
            scratch.middle.zero()
            gradient.withUnsafeMutablePointer { dz in
                upsampleRowsBackward(dlogits: dz, drows: pixelRows, dmiddle: middle, batch: batch, geometry: geometry)
            }
            return sum
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
        var labels = [Int32](repeating: 0, count: batch * plane)
        withUpsampledRows(logits, batch: batch, geometry: geometry) { u in
            labels.withUnsafeMutableBufferPointer { out in
                let o = out.baseAddress!
                Parallel.forEachChunk(count: batch * plane, minimumPerThread: max(1, 16384 / classes)) { range in
                    for r in range {
                        let row = u + r * classes
                        var best = 0
                        var bestValue = row[0]
                        for k in 1..<classes where row[k] > bestValue {
                            best = k
                            bestValue = row[k]
                        }
                        o[r] = Int32(best)
                    }
                }
            }
        }
        return labels
    }

    /// The upsampled per-pixel logits `[B, C+1, H, W]` (channels first) of cell logits
    /// `[B, gh·gw, C+1]`: what `loss` and `predict` compare and argmax, and what an exported
    /// segmentation graph outputs.
    public static func upsampledLogits(_ logits: Tensor, geometry: TaskGeometry) throws -> Tensor {
        let batch = try checkLogits(logits, geometry: geometry)
        let (classes, plane) = (geometry.classes + 1, geometry.pixels)
        var out = Tensor(shape: [batch, classes, geometry.imageHeight, geometry.imageWidth])
        withUpsampledRows(logits, batch: batch, geometry: geometry) { u in
            out.withUnsafeMutablePointer { o in
                for b in 0..<batch {
                    for pixel in 0..<plane {
                        for k in 0..<classes {
                            o[(b * classes + k) * plane + pixel] = u[(b * plane + pixel) * classes + k]
                        }
                    }
                }
            }
        }
        return out
    }

    /// Runs `body` on the upsampled pixel rows `[B, H, W, C+1]` of `logits` (scratch memory,
    /// valid only inside `body`).
    static func withUpsampledRows(
        _ logits: Tensor, batch: Int, geometry: TaskGeometry, _ body: (UnsafeMutablePointer<Float>) -> Void
    ) {
        let classes = geometry.classes + 1
        TaskScratch.with { scratch in
            scratch.rows.resize(batch * geometry.pixels * classes)
            scratch.middle.resize(batch * geometry.gridHeight * geometry.imageWidth * classes)
            let u = scratch.rows.pointer
            logits.withUnsafePointer { z in
                upsampleRows(out: u, logits: z, middle: scratch.middle.pointer, batch: batch, geometry: geometry)
            }
            body(u)
        }
    }

    /// Validates the geometry and `logits` `[B, gh·gw, C+1]`; returns `B`.
    static func checkLogits(_ logits: Tensor, geometry: TaskGeometry) throws -> Int {
        try geometry.validate()
        let expected = [logits.shape.first ?? 0, geometry.cells, geometry.classes + 1]
        guard logits.shape == expected else {
            throw TaskError.shapeMismatch(
                what: "segmentation logits [B, gh·gw, C+1]", expected: expected, found: logits.shape)
        }
        return expected[0]
    }

    /// Bilinear upsampling of channel-last cell logits `[B, gh, gw, K]` to channel-last
    /// pixel rows `[B, H, W, K]` (`K = C+1`), as two separable passes of
    /// `bilinearResizeForward` that keep the channels innermost:
    ///
    ///     horizontal: B·gh planes [gw, K] → [W, K]       (width K unchanged)
    ///     vertical:   B planes [gh, W·K] → [H, W·K]       (width unchanged)
    ///
    /// An unchanged axis (in = out) has taps `i0 = o` with weight exactly 1, so each pass is
    /// the 1-D align_corners=false interpolation and their composition is the 2-D bilinear
    /// resize of every channel plane, without transposing to channels-first and back. The
    /// large vertical pass runs over long rows of `W·K` values. `middle` holds `B·gh·W·K`
    /// floats.
    static func upsampleRows(
        out: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, middle: UnsafeMutablePointer<Float>,
        batch: Int, geometry g: TaskGeometry
    ) {
        let k = g.classes + 1
        bilinearResizeForward(
            out: middle, inp: logits, channels: batch * g.gridHeight, inHeight: g.gridWidth, inWidth: k,
            outHeight: g.imageWidth, outWidth: k)
        bilinearResizeForward(
            out: out, inp: middle, channels: batch, inHeight: g.gridHeight, inWidth: g.imageWidth * k,
            outHeight: g.imageHeight, outWidth: g.imageWidth * k)
    }

    /// Transpose of `upsampleRows`: accumulates into `dlogits` `[B, gh·gw, K]` from pixel-row
    /// gradients `drows` `[B·H·W, K]`; `dmiddle` (`B·gh·W·K` floats) must be zero on entry.
    static func upsampleRowsBackward(
        dlogits: UnsafeMutablePointer<Float>, drows: UnsafePointer<Float>, dmiddle: UnsafeMutablePointer<Float>,
        batch: Int, geometry g: TaskGeometry
    ) {
        let k = g.classes + 1
        bilinearResizeBackward(
            dinp: dmiddle, dout: drows, channels: batch, inHeight: g.gridHeight, inWidth: g.imageWidth * k,
            outHeight: g.imageHeight, outWidth: g.imageWidth * k)
        bilinearResizeBackward(
            dinp: dlogits, dout: dmiddle, channels: batch * g.gridHeight, inHeight: g.gridWidth, inWidth: k,
            outHeight: g.imageWidth, outWidth: k)
    }
}
