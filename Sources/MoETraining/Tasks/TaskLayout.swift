import MoETensor

// Layout helpers shared by the task losses: channel-first <-> channel-last copies and
// scratch arrays that are overwritten before use.

/// `rows[b, s, k] = planes[b, k, s]`: channel-first `[B, K, S]` to channel-last `[B, S, K]`.
func planesToRows(
    rows: UnsafeMutablePointer<Float>, planes: UnsafePointer<Float>, batch: Int, channels: Int, plane: Int
) {
    Parallel.forEachChunk(count: batch * plane, minimumPerThread: max(1, 16384 / channels)) { range in
        for r in range {
            let b = r / plane
            let src = planes + b * channels * plane + (r - b * plane)
            let dst = rows + r * channels
            for k in 0..<channels { dst[k] = src[k * plane] }
        }
    }
}

/// `planes[b, k, s] = rows[b, s, k]`: channel-last `[B, S, K]` to channel-first `[B, K, S]`.
func rowsToPlanes(
    planes: UnsafeMutablePointer<Float>, rows: UnsafePointer<Float>, batch: Int, channels: Int, plane: Int
) {
    Parallel.forEachChunk(count: batch * plane, minimumPerThread: max(1, 16384 / channels)) { range in
        for r in range {
            let b = r / plane
            let dst = planes + b * channels * plane + (r - b * plane)
            let src = rows + r * channels
            for k in 0..<channels { dst[k * plane] = src[k] }
        }
    }
}

/// A float array of `count` elements whose contents the caller overwrites completely.
func uninitializedFloats(_ count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}
