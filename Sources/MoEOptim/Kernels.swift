import MoETensor

/// Kernels shared by the optimisers and gradient clipping: the split of element-wise updates
/// over the threads, and reductions.
///
/// Sums are accumulated in Double over fixed blocks of `blockSize` elements (eight SIMD lanes
/// per block, lanes added in order), and block sums are added in block order, so a result
/// never depends on the number of worker threads.
enum OptimKernels {
    static let blockSize = 1 << 15

    /// Runs an element-wise update of `count` elements over the worker threads, from 8 Ki
    /// elements a thread: an attention layer's 128×384 weight is split too (it ran serially
    /// at 32 Ki, the other thread idle).
    @inline(__always)
    static func forEachUpdateChunk(count: Int, _ body: (Range<Int>) -> Void) {
        Parallel.forEachChunk(count: count, minimumPerThread: 1 << 13, body)
    }

    /// (Σ a, Σ b) of `body` over consecutive blocks of `0..<count`, blocks spread over the
    /// worker threads, combined in block order.
    static func blockedSums(
        count: Int, _ body: (Range<Int>) -> (Double, Double)
    ) -> (Double, Double) {
        let blocks = (count + blockSize - 1) / blockSize
        if blocks == 0 { return (0, 0) }
        if blocks == 1 { return body(0..<count) }
        var partial = [Double](repeating: 0, count: 2 * blocks)
        partial.withUnsafeMutableBufferPointer { buffer in
            let out = buffer.baseAddress!
            Parallel.forEachChunk(count: blocks, minimumPerThread: 1) { range in
                for b in range {
                    let (x, y) = body(b * blockSize..<min(count, (b + 1) * blockSize))
                    out[2 * b] = x
                    out[2 * b + 1] = y
                }
            }
        }
        var x: Double = 0
        var y: Double = 0
        for b in 0..<blocks {
            x += partial[2 * b]
            y += partial[2 * b + 1]
        }
        return (x, y)
    }

    /// Σ xᵢ² in Double.
    static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        blockedSums(count: count) { range in
            var acc = SIMD8<Double>()
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                let v = SIMD8<Double>(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self))
                acc += v * v
                i += 8
            }
            var sum = lanesInOrder(acc)
            while i < range.upperBound {
                let v = Double(x[i])
                sum += v * v
                i += 1
            }
            return (sum, 0)
        }.0
    }

    /// Adam's moment updates of the 8 values at `i`, stored and returned:
    /// m ← β₁·m + (1 − β₁)·g, v ← β₂·v + (1 − β₂)·g².
    @inline(__always)
    static func updateMoments8(
        grad: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, at i: Int,
        beta1: Float, beta2: Float
    ) -> (m: SIMD8<Float>, v: SIMD8<Float>) {
        let gi = load8(grad, i)
        let mi = beta1 * load8(m, i) + (1 - beta1) * gi
        let vi = beta2 * load8(v, i) + (1 - beta2) * (gi * gi)
        store8(mi, m, i)
        store8(vi, v, i)
        return (mi, vi)
    }

    /// `updateMoments8` of the one value at `i`.
    @inline(__always)
    static func updateMoments(
        grad: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, at i: Int,
        beta1: Float, beta2: Float
    ) -> (m: Float, v: Float) {
        let gi = grad[i]
        let mi = beta1 * m[i] + (1 - beta1) * gi
        let vi = beta2 * v[i] + (1 - beta2) * (gi * gi)
        m[i] = mi
        v[i] = vi
        return (mi, vi)
    }

    @inline(__always)
    static func lanesInOrder(_ v: SIMD8<Double>) -> Double {
        var s: Double = 0
        for lane in 0..<8 { s += v[lane] }
        return s
    }

    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func load8(_ p: UnsafeMutablePointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD8<Float>.self)
    }
}
