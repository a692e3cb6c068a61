import CKernels

/// Broadcast bias add over rows.
///
///     forward:  out[R,C] += b[C]
///     backward: db[C] += Σ_r dout[r,C]   (dout itself passes through unchanged)
///
/// Shapes: R = `rows`, C = `cols`.

/// `out[r, c] += bias[c]` for every row.
public func biasForward(
    out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, cols: Int
) {
    precondition(rows >= 0 && cols > 0, "bias: bad shape")
    Parallel.forEachChunk(count: rows, minimumPerThread: max(1, 32768 / cols)) { range in
        for r in range {
            let row = out + r * cols
            for c in 0..<cols { row[c] += bias[c] }
        }
    }
}

/// Rows `biasBackward` sums on their own before adding them to `dbias`: calls over
/// consecutive ranges that start at multiples of it give the same sums as one call.
public let biasBackwardRowBlock = 64

/// `dbias[c] += Σ_r dout[r, c]` (column sums). `path: .automatic` sums sixteen columns per
/// register on CPUs with AVX-512F (`moe_bias_backward_avx512`), in the same order.
public func biasBackward(
    dbias: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, rows: Int, cols: Int,
    path: KernelPath = .automatic
) {
    precondition(rows >= 0 && cols > 0, "bias: bad shape")
    // Row blocks are summed separately first so float error grows with blocks, not rows.
    // Columns are independent, so the threads take column ranges: every sum keeps one order.
    let columnsPerThread = rows * cols >= 1 << 16 ? 16 : cols
    let avx512 = path.usesAVX512
    Parallel.forEachChunk(count: cols, minimumPerThread: columnsPerThread) { columns in
        let width = columns.count
        if avx512 {
            let lo = columns.lowerBound
            return moe_bias_backward_avx512(dbias + lo, dout + lo, cols, rows, width, biasBackwardRowBlock)
        }
        var partial = [Float](repeating: 0, count: width)
        partial.withUnsafeMutableBufferPointer { partialBuffer in
            let (partial, dbias) = (partialBuffer.baseAddress!, dbias + columns.lowerBound)
            var r0 = 0
            while r0 < rows {
                let r1 = min(rows, r0 + biasBackwardRowBlock)
                partial.update(repeating: 0, count: width)
                for r in r0..<r1 {
                    let row = dout + r * cols + columns.lowerBound
                    for c in 0..<width { partial[c] += row[c] }
                }
                for c in 0..<width { dbias[c] += partial[c] }
                r0 = r1
            }
        }
    }
}
