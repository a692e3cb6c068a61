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

/// `dbias[c] += Σ_r dout[r, c]` (column sums).
public func biasBackward(
    dbias: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, rows: Int, cols: Int
) {
    precondition(rows >= 0 && cols > 0, "bias: bad shape")
    // Serial on purpose: it is a few hundred thousand adds and stays deterministic.
    // Row blocks are summed separately first so float error grows with blocks, not rows.
    let block = 64
    var partial = [Float](repeating: 0, count: cols)
    partial.withUnsafeMutableBufferPointer { partialBuffer in
        let partial = partialBuffer.baseAddress!
        var r0 = 0
        while r0 < rows {
            let r1 = min(rows, r0 + block)
            partial.update(repeating: 0, count: cols)
            for r in r0..<r1 {
                let row = dout + r * cols
                for c in 0..<cols { partial[c] += row[c] }
            }
            for c in 0..<cols { dbias[c] += partial[c] }
            r0 = r1
        }
    }
}
