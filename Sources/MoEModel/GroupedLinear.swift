import MoETensor
import Synchronization

/// The experts' two-layer MLPs, `h = x·W1 + b1`, `a = GELU(h)`, `y = a·W2 + b2`, over rows
/// grouped by expert as `MoELayer` runs them: expert `j` owns rows `offsets[j]..<offsets[j + 1]`
/// and slice `j` of the stacked weights `[E, in, out]` and biases `[E, out]`. Experts without
/// rows are skipped.
///
/// The work is cut into blocks of at most `gemmRowBlock` (192, or 384 on the AVX-512 kernel)
/// of an expert's rows (`gemmRowBlocks`), claimed by the worker threads; each block runs its
/// steps back to back with single-threaded GEMMs, so its hidden rows (96 or 192 KB at
/// F = 128) are still in L2 when GELU and the next GEMM read them. In the backward an expert's blocks run in order on one thread, each followed by the
/// weight gradients of the rows it completes, in the GEMM kernel's own K chunks
/// (`gemmInnerChunks`). Each block writes only its own rows, so results do not depend on which
/// thread ran it, and they are bit for bit those of running the layers one after the other
/// (`ExpertMLPTests`): OpenBLAS rounds a row by its place in the register tiles counted from
/// the first row of a call, and the blocks start where `gemm`'s own calls would have tiles
/// start (moe's AVX-512 kernel rounds every row alike).
enum GroupedLinear {
    /// Writes `activation` (a; h first, then GELU of it in place), `derivative` (GELU′(h), when
    /// given: training) and `out` (y) for every grouped row. x [T·K, D], a [T·K, F], y [T·K, D].
    /// x is `inp`, or with a `gather` each block's rows gathered just before its first GEMM, on
    /// the thread that multiplies them (`ExpertGather`). `owner` names the profiler row.
    static func forwardMLP(
        out: UnsafeMutablePointer<Float>, activation: UnsafeMutablePointer<Float>,
        derivative: UnsafeMutablePointer<Float>?,
        inp: UnsafePointer<Float>, w1: UnsafePointer<Float>, b1: UnsafePointer<Float>,
        w2: UnsafePointer<Float>, b2: UnsafePointer<Float>, dim: Int, hiddenDim f: Int, offsets: [Int],
        owner: String = "experts", gather: ExpertGather? = nil
    ) {
        let rows = offsets.last ?? 0
        Profiler.measure(
            .gemm, "\(owner) Σ\(rows)×\(f)×\(dim) \(gather == nil ? "" : "gather + ")MLP forward (2 GEMMs + GELU)",
            flops: 4 * Double(rows * dim * f), opaque: true
        ) {
            forEachBlockConcurrently(offsets, dim: dim, hiddenDim: f) { j, start, n, whole, worker in
                let x = gather?.rows(start..<start + n, worker: worker, dim: dim) ?? inp + start * dim
                let a = activation + start * f
                linearBlock(
                    out: a, inp: x, weight: w1 + j * dim * f, bias: b1 + j * f, rows: n, inDim: dim,
                    outDim: f, whole: whole)
                if let derivative {
                    geluForward(out: a, derivative: derivative + start * f, inp: a, count: n * f)
                } else {
                    geluForward(out: a, inp: a, count: n * f)
                }
                linearBlock(
                    out: out + start * dim, inp: a, weight: w2 + j * f * dim, bias: b2 + j * dim, rows: n, inDim: f,
                    outDim: dim, whole: whole)
            }
        }
    }

    /// Given `dout` = ∂L/∂y, writes `dHidden` (∂L/∂h = ∂L/∂a ⊙ GELU′(h), the product with
    /// GELU′ taken as the GEMM stores it) and `dinp` (∂L/∂x) of every grouped row (what they
    /// held is ignored: each block writes its rows, while they are in L2), and accumulates the
    /// weight and bias gradients of the experts whose `trainable` entry is true (all when
    /// nil). `derivative` is the forward's GELU′(h). `outputGradients(rows)`, when given, first
    /// writes those rows of `dout`, on the thread that then uses them. `owner` names the
    /// profiler row.
    static func backwardMLP(
        dinp: UnsafeMutablePointer<Float>, dHidden: UnsafeMutablePointer<Float>, dw1: UnsafeMutablePointer<Float>?,
        db1: UnsafeMutablePointer<Float>?, dw2: UnsafeMutablePointer<Float>?, db2: UnsafeMutablePointer<Float>?,
        dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, activation: UnsafePointer<Float>,
        derivative: UnsafePointer<Float>, w1: UnsafePointer<Float>, w2: UnsafePointer<Float>, dim: Int,
        hiddenDim f: Int, offsets: [Int], trainable: [Bool]?, owner: String = "experts",
        outputGradients: ((_ rows: Range<Int>) -> Void)? = nil
    ) {
        var learningRows = 0
        forEachGroup(offsets) { j, _, n in if trainable?[j] ?? true { learningRows += n } }
        let rows = offsets.last ?? 0
        // Per layer: dX for every row, dW for the rows of learning experts, 2·rows·D·F each.
        let flops = 4 * Double((rows + (dw1 == nil ? 0 : learningRows)) * dim * f)
        Profiler.measure(
            .gemm,
            "\(owner) Σ\(rows)×\(f)×\(dim) \(outputGradients == nil ? "" : "scatter-add backward + ")"
                + "MLP backward (4 GEMMs + GELU)",
            flops: flops, opaque: true
        ) {
            /// ∂L/∂h and ∂L/∂x of one block of expert `j`'s rows, which stay in L2 from one
            /// product to the next.
            func rowGradients(_ j: Int, _ start: Int, _ n: Int, _ whole: Bool) {
                outputGradients?(start..<start + n)
                let (dh, dx) = (dHidden + start * f, dinp + start * dim)
                inputGradientBlock(
                    dinp: dh, dout: dout + start * dim, weight: w2 + j * f * dim, factor: derivative + start * f,
                    rows: n, inDim: f, outDim: dim, whole: whole)
                inputGradientBlock(
                    dinp: dx, dout: dh, weight: w1 + j * dim * f, rows: n, inDim: dim, outDim: f,
                    whole: whole)
            }
            /// Every block's ∂L/∂h and ∂L/∂x, blocks on any thread.
            func allRowGradients() {
                forEachBlockConcurrently(offsets, dim: dim, hiddenDim: f) { j, start, n, whole, _ in
                    rowGradients(j, start, n, whole)
                }
            }
            let learns = dw1 != nil || db1 != nil || dw2 != nil || db2 != nil
            guard learns else { return allRowGradients() }
            // Whole experts per thread balance only when none holds more than a thread's share.
            let largest = (0..<offsets.count - 1).map { offsets[$0 + 1] - offsets[$0] }.max() ?? 0
            guard largest * Parallel.threads <= rows else {
                // Every block on any thread, then each learning expert's weight gradients
                // summed over all its rows at once.
                allRowGradients()
                return forEachGroupConcurrently(offsets) { j, start, n in
                    guard trainable?[j] ?? true else { return }
                    linearBackward(
                        dinp: nil, dweight: dw2.map { $0 + j * f * dim }, dbias: db2.map { $0 + j * dim },
                        dout: dout + start * dim, inp: activation + start * f, weight: w2 + j * f * dim, rows: n,
                        inDim: f, outDim: dim)
                    linearBackward(
                        dinp: nil, dweight: dw1.map { $0 + j * dim * f }, dbias: db1.map { $0 + j * f },
                        dout: dHidden + start * f, inp: inp + start * dim, weight: w1 + j * dim * f, rows: n,
                        inDim: dim, outDim: f)
                }
            }
            // Each expert on one thread, its blocks in order: after each block, the weight and
            // bias gradients of the rows it completes, while they are still in cache.
            let gradients = ExpertGradients(
                dw1: dw1, db1: db1, dw2: dw2, db2: db2, dout: dout, dHidden: dHidden, inp: inp,
                activation: activation, dim: dim, hiddenDim: f)
            forEachGroupConcurrently(offsets) { j, start, n in
                let (blocks, whole) = rowBlocks(rows: n, dim: dim, hiddenDim: f)
                let learning = trainable?[j] ?? true
                let chunks = learning ? innerChunks(rows: n, dim: dim, hiddenDim: f) : []
                var (products, sums) = (0, 0)
                for block in blocks {
                    rowGradients(j, start + block.lowerBound, block.count, whole)
                    guard learning else { continue }
                    for chunk in chunks where chunk.lowerBound >= products && chunk.upperBound <= block.upperBound {
                        gradients.addProducts(expert: j, start: start, rows: chunk, of: n)
                        products = chunk.upperBound
                    }
                    // Bias sums go in whole row blocks of their own (or up to the last row).
                    let blockRows = biasBackwardRowBlock
                    let summable = block.upperBound == n ? n : block.upperBound / blockRows * blockRows
                    if summable > sums {
                        gradients.addBiases(expert: j, start: start, rows: sums..<summable)
                        sums = summable
                    }
                }
            }
        }
    }

    /// Calls `body(j, start, rows)` for every expert `j` with rows on the worker threads, which
    /// claim experts largest first (rows are uneven: early in training most tokens pick the
    /// same few experts). Calls inside `body` run on the calling thread.
    private static func forEachGroupConcurrently(
        _ offsets: [Int], _ body: (_ j: Int, _ start: Int, _ rows: Int) -> Void
    ) {
        var groups: [Int] = []
        forEachGroup(offsets) { j, _, _ in groups.append(j) }
        let size = { (j: Int) in offsets[j + 1] - offsets[j] }
        groups.sort { size($0) != size($1) ? size($0) > size($1) : $0 < $1 }
        claimConcurrently(groups.count) { g, _ in body(groups[g], offsets[groups[g]], size(groups[g])) }
    }

    /// Calls `body(i, worker)` for `i` in `0..<count`, in order of claiming: each worker
    /// thread (`worker` < `Parallel.threads`) takes the next unclaimed index until none is
    /// left, so uneven items balance themselves.
    private static func claimConcurrently(_ count: Int, _ body: (_ i: Int, _ worker: Int) -> Void) {
        let next = Atomic<Int>(0)
        Parallel.forEach(count: min(Parallel.threads, count)) { worker in
            while true {
                let i = next.add(1, ordering: .relaxed).oldValue
                guard i < count else { return }
                body(i, worker)
            }
        }
    }

    /// `out = inp·weight + bias` over one block of rows: one GEMM on this thread for a block
    /// of `gemmRowBlocks`, `linearForward` for an expert's rows taken whole.
    private static func linearBlock(
        out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, rows: Int, inDim: Int, outDim: Int, whole: Bool
    ) {
        guard !whole else {
            return linearForward(
                out: out, inp: inp, weight: weight, bias: bias, rows: rows, inDim: inDim, outDim: outDim)
        }
        serialGEMM(
            transA: false, transB: false, m: rows, n: outDim, k: inDim, a: inp, lda: inDim, b: weight, ldb: outDim,
            bias: bias, c: out, ldc: outDim)
    }

    /// `dinp = dout·weightᵀ` (times `factor` element-wise, when given) over one block of rows:
    /// bit for bit `linearBackward` into zeros, then `geluBackward` into zeros (beta 0 writes
    /// what 0 + alpha·product does, and skips a pass zeroing the rows).
    private static func inputGradientBlock(
        dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        factor: UnsafePointer<Float>? = nil, rows: Int, inDim: Int, outDim: Int, whole: Bool
    ) {
        let product = whole ? gemm : serialGEMM
        product(false, true, rows, inDim, outDim, 1, dout, outDim, weight, outDim, 0, nil, factor, dinp, inDim)
    }

    /// Calls `body(j, start, rows, whole, worker)` for every block of rows of every expert `j`
    /// on the worker threads, which claim blocks in expert order.
    private static func forEachBlockConcurrently(
        _ offsets: [Int], dim: Int, hiddenDim f: Int,
        _ body: (_ j: Int, _ start: Int, _ rows: Int, _ whole: Bool, _ worker: Int) -> Void
    ) {
        var blocks: [(j: Int, start: Int, rows: Int, whole: Bool)] = []
        forEachGroup(offsets) { j, start, n in
            let (split, whole) = rowBlocks(rows: n, dim: dim, hiddenDim: f)
            for rows in split { blocks.append((j, start + rows.lowerBound, rows.count, whole)) }
        }
        claimConcurrently(blocks.count) { b, worker in
            body(blocks[b].j, blocks[b].start, blocks[b].rows, blocks[b].whole, worker)
        }
    }

    /// The blocks of an expert's `n` rows: the `gemmRowBlocks` of its products (at most
    /// `gemmRowBlock` rows, whose input, hidden and output rows stay in L2), so each row
    /// rounds exactly as in one `linearForward`/`linearBackward` over all the expert's rows. An expert whose two
    /// layers' products would split differently (or by columns) comes whole, `whole` set.
    private static func rowBlocks(rows n: Int, dim: Int, hiddenDim f: Int) -> (blocks: [Range<Int>], whole: Bool) {
        if let split = gemmRowBlocks(m: n, n: f, k: dim), split == gemmRowBlocks(m: n, n: dim, k: f) {
            return (split, false)
        }
        return ([0..<n], true)
    }

    /// The K chunks of an expert's weight gradients over its `n` rows: one chunking serves dW2
    /// (F×D) and dW1 (D×F), so it is the kernel's only where `gemmInnerChunks` gives it for both.
    private static func innerChunks(rows n: Int, dim: Int, hiddenDim f: Int) -> [Range<Int>] {
        let chunks = gemmInnerChunks(m: f, n: dim, k: n)
        return chunks == gemmInnerChunks(m: dim, n: f, k: n) ? chunks : [0..<n]
    }

    /// Calls `body(j, start, rows)` for every expert `j` with rows, in expert order.
    @inline(__always)
    private static func forEachGroup(_ offsets: [Int], _ body: (_ j: Int, _ start: Int, _ rows: Int) -> Void) {
        for j in 0..<(offsets.count - 1) where offsets[j + 1] > offsets[j] {
            body(j, offsets[j], offsets[j + 1] - offsets[j])
        }
    }
}

/// The weight and bias gradients of the experts' two layers over a range of an expert's
/// rows: dW2 += aᵀ·∂y, db2 += Σ ∂y, dW1 += xᵀ·∂h, db1 += Σ ∂h, as `linearBackward` computes
/// them, on the calling thread.
private struct ExpertGradients {
    let dw1, db1, dw2, db2: UnsafeMutablePointer<Float>?
    let dout, dHidden, inp, activation: UnsafePointer<Float>
    let dim, hiddenDim: Int

    /// The products over `rows` (one of `gemmInnerChunks`) of expert `j`'s `n` rows,
    /// which start at row `start`.
    func addProducts(expert j: Int, start: Int, rows: Range<Int>, of n: Int) {
        let (d, f) = (dim, hiddenDim)
        if let dw2 {
            gemmTransposedAChunk(
                m: f, n: d, k: n, rows: rows, a: activation + start * f, lda: f, b: dout + start * d, ldb: d,
                c: dw2 + j * f * d, ldc: d)
        }
        if let dw1 {
            gemmTransposedAChunk(
                m: d, n: f, k: n, rows: rows, a: inp + start * d, lda: d, b: dHidden + start * f, ldb: f,
                c: dw1 + j * d * f, ldc: f)
        }
    }

    /// The bias sums over `rows` of expert `j`'s rows, which start at row `start`.
    func addBiases(expert j: Int, start: Int, rows: Range<Int>) {
        let (d, f) = (dim, hiddenDim)
        if let db2 {
            biasBackward(dbias: db2 + j * d, dout: dout + (start + rows.lowerBound) * d, rows: rows.count, cols: d)
        }
        if let db1 {
            biasBackward(dbias: db1 + j * f, dout: dHidden + (start + rows.lowerBound) * f, rows: rows.count, cols: f)
        }
    }
}
