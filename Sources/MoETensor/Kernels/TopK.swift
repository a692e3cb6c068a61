/// Top-k selection per row (the MoE router picks each token's experts with it).
///
///     forward:  indices[r, :] = the K allowed columns of row r with the largest values,
///               in descending value order, ties broken towards the lower column index;
///               values[r, j] = inp[r, indices[r, j]]
///     backward: dinp[r, indices[r, j]] += dvalues[r, j]
///
/// Shapes: R = `rows` (tokens), E = `cols` (experts), K = `k`.
/// `allowed` [E] masks columns out of the selection (e.g. disabled experts); nil allows all.

/// Selects the `k` largest allowed entries of every row of `inp[rows, cols]`.
public func topKForward(
    indices: UnsafeMutablePointer<Int32>, values: UnsafeMutablePointer<Float>,
    inp: UnsafePointer<Float>, allowed: UnsafePointer<Bool>?, rows: Int, cols: Int, k: Int
) {
    precondition(rows >= 0 && cols > 0 && k > 0, "topK: bad shape")
    let allowedCount = allowed.map { a in (0..<cols).reduce(0) { $0 + (a[$1] ? 1 : 0) } } ?? cols
    precondition(k <= allowedCount, "topK: k = \(k) but only \(allowedCount) columns allowed")
    Parallel.forEachChunk(count: rows, minimumPerThread: max(1, 8192 / cols)) { range in
        for r in range {
            let x = inp + r * cols
            let idx = indices + r * k
            let val = values + r * k
            // Insertion into a sorted list of length ≤ k. Scanning columns in ascending order
            // and inserting only ahead of strictly smaller values keeps ties in index order.
            var filled = 0
            for c in 0..<cols {
                if let allowed, !allowed[c] { continue }
                let v = x[c]
                if filled == k && !(v > val[k - 1]) { continue }
                var pos = min(filled, k - 1)
                while pos > 0 && v > val[pos - 1] {
                    val[pos] = val[pos - 1]
                    idx[pos] = idx[pos - 1]
                    pos -= 1
                }
                val[pos] = v
                idx[pos] = Int32(c)
                filled = min(filled + 1, k)
            }
        }
    }
}

/// Accumulates `dinp[r, indices[r, j]] += dvalues[r, j]`.
public func topKBackward(
    dinp: UnsafeMutablePointer<Float>, dvalues: UnsafePointer<Float>,
    indices: UnsafePointer<Int32>, rows: Int, cols: Int, k: Int
) {
    precondition(rows >= 0 && cols > 0 && k > 0, "topK: bad shape")
    for r in 0..<rows {
        for j in 0..<k {
            let c = Int(indices[r * k + j])
            precondition(c >= 0 && c < cols, "topK: index \(c) out of range 0..<\(cols)")
            dinp[r * cols + c] += dvalues[r * k + j]
        }
    }
}
