/// Cuts images into non-overlapping square patches (the ViT patch embedding's im2col; the
/// embedding itself is a `linear` over the patch vectors).
///
///     out[b, gy·GW + gx, (c·P + py)·P + px] = img[b, c, gy·P + py, gx·P + px]
///
/// Shapes: B = `batch`, C = `channels`, H×W = `height`×`width`, P = `patch`,
/// GH = H/P, GW = W/P. img [B, C, H, W] -> out [B, GH·GW, C·P·P]. Patch vectors are
/// flattened (c, py, px), the order of a PyTorch conv weight [D, C, P, P], so pretrained
/// patch-embedding weights load as a [C·P·P, D] transpose.

/// Gathers every patch of `img` into a row of `out`.
public func patchifyForward(
    out: UnsafeMutablePointer<Float>, img: UnsafePointer<Float>,
    batch: Int, channels: Int, height: Int, width: Int, patch: Int
) {
    forEachPatchRow(batch: batch, channels: channels, height: height, width: width, patch: patch) {
        vector, pixel in
        (out + vector).update(from: img + pixel, count: patch)
    }
}

/// Accumulates `dimg += unpatchify(dout)`.
public func patchifyBackward(
    dimg: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
    batch: Int, channels: Int, height: Int, width: Int, patch: Int
) {
    // Patches do not overlap, so every image element has exactly one writer.
    forEachPatchRow(batch: batch, channels: channels, height: height, width: width, patch: patch) {
        vector, pixel in
        let dst = dimg + pixel
        let src = dout + vector
        for px in 0..<patch { dst[px] += src[px] }
    }
}

/// Checks the shape, then calls `body(vector, pixel)` for every row of every patch: the row's
/// `patch` values start at offset `vector` of the patch vectors and at offset `pixel` of the
/// image. The patches are spread over the worker threads.
@inline(__always)
private func forEachPatchRow(
    batch: Int, channels: Int, height: Int, width: Int, patch: Int, _ body: (_ vector: Int, _ pixel: Int) -> Void
) {
    precondition(batch >= 0 && channels > 0 && patch > 0, "patchify: bad shape")
    precondition(
        height % patch == 0 && width % patch == 0,
        "patchify: image \(height)x\(width) is not a multiple of patch \(patch)")
    let gridW = width / patch
    let patches = (height / patch) * gridW
    let patchSize = channels * patch * patch
    Parallel.forEachChunk(count: batch * patches, minimumPerThread: max(1, 16384 / patchSize)) { range in
        for bp in range {
            let b = bp / patches
            let gy = (bp % patches) / gridW
            let gx = (bp % patches) % gridW
            var vector = bp * patchSize
            for c in 0..<channels {
                for py in 0..<patch {
                    body(vector, ((b * channels + c) * height + gy * patch + py) * width + gx * patch)
                    vector += patch
                }
            }
        }
    }
}
