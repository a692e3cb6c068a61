import CKernels

/// Multi-head self-attention core (the projections are separate `linear` calls).
///
///     S_bh = Q_bh · K_bhᵀ / √hd,   A_bh = softmax_rows(S_bh),   O_bh = A_bh · V_bh
///     backward: dA = dO · Vᵀ,  dV += Aᵀ · dO,  dS = A ⊙ (dA − Σ_row dA ⊙ A),
///               dQ += dS · K / √hd,  dK += dSᵀ · Q / √hd
///
/// Shapes: B = `batch`, N = `tokens`, D = `dim`, H = `heads`, hd = D/H.
/// qkv [B, N, 3D]: Q in columns [0, D), K in [D, 2D), V in [2D, 3D); head h owns columns
/// h·hd ..< (h+1)·hd of each. att [B, H, N, N] keeps the probabilities for backward.
/// out [B, N, D] has the heads concatenated along the last dimension.
///
/// Every GEMM reads its head straight out of the packed buffer through the leading
/// dimension (3D or D), so nothing is copied. The B·H heads are independent and spread over
/// the worker threads; each head's GEMMs are small enough that OpenBLAS runs them on the
/// calling thread.
///
/// `path: .automatic` runs each head as one fused AVX2/FMA kernel when the CPU has it, hd is
/// a multiple of 8 and N ≤ `fusedAttentionMaxTokens` (CKernels/attention_avx2.c: the head's
/// Q, K, V copied to a per-thread workspace, K transposed; scores and softmax six query rows
/// at a time, A·V three; the backward's dA, dS, dQ likewise, in the workspace, and dK, dV from
/// the columns of dS and A). Only the summation order differs from the OpenBLAS path, which
/// stays the reference (`.portable`). A head's result never depends on the thread it ran on.
/// While a fused head computes, it fetches share h/H of the next image's operands into L2
/// (`HeadsAhead`): in a training step they come back from memory.

/// Above this many tokens the per-head OpenBLAS products are large enough to pay for packing.
public let fusedAttentionMaxTokens = 256

/// Writes `att` (softmax probabilities) and `out` (attention-weighted values). With `att` nil
/// (inference) the probabilities are not kept: each head's stay in cache.
public func attentionForward(
    out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>?,
    qkv: UnsafePointer<Float>, batch: Int, tokens: Int, dim: Int, heads: Int, path: KernelPath = .automatic
) {
    let (n, headDim, scale) = attentionHeadShape(batch: batch, tokens: tokens, dim: dim, heads: heads)
    let fused = usesFusedAttention(path, tokens: n, headDim: headDim)
    let wide = wideProducts(path)
    /// One head on the OpenBLAS path: a [N, N] receives the probabilities.
    func headForward(
        _ o: UnsafeMutablePointer<Float>, _ a: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Float>,
        _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>
    ) {
        gemm(
            transA: false, transB: true, m: n, n: n, k: headDim,
            alpha: scale, a: q, lda: 3 * dim, b: k, ldb: 3 * dim, beta: 0, c: a, ldc: n)
        Profiler.measure(.softmax, "attention forward") {
            for row in 0..<n { softmaxRow(out: a + row * n, inp: a + row * n, cols: n) }
        }
        gemm(
            transA: false, transB: false, m: n, n: headDim, k: n, alpha: 1, a: a, lda: n, b: v, ldb: 3 * dim,
            beta: 0, c: o, ldc: dim)
    }
    // QKᵀ and A·V: 2 products of 2·N·N·hd FLOPs per head, B·H heads.
    let flops = 4 * Double(batch * n * n * dim)
    Profiler.measure(.attention, "\(fused ? "fused " : "")forward B·H×\(n)×\(n)×\(headDim)", flops: flops) {
        forEachHead(batch: batch, heads: heads) { b, h, bh in
            let q = qkv + b * n * 3 * dim + h * headDim
            let k = q + dim
            let v = q + 2 * dim
            // The row softmax runs inside (no separate softmax row for fused heads); a head
            // whose workspace could not be allocated runs the OpenBLAS path below.
            if fused {
                let ahead = HeadsAhead(b: b, h: h, batch: batch, heads: heads)
                let status = withUnsafeTemporaryAllocation(of: moe_prefetch_span.self, capacity: 2) { spans in
                    spans[0] = ahead.share(of: qkv, floatsPerImage: n * 3 * dim)
                    spans[1] = ahead.share(of: out, floatsPerImage: n * dim)
                    return moe_attention_head_forward_avx2(
                        out + b * n * dim + h * headDim, dim, att.map { $0 + bh * n * n }, q, k, v, 3 * dim, n,
                        headDim, scale, wide, spans.baseAddress, 2)
                }
                if status == 0 { return }
            }
            guard let att else {
                var probabilities = [Float](repeating: 0, count: n * n)
                return probabilities.withUnsafeMutableBufferPointer { a in
                    headForward(out + b * n * dim + h * headDim, a.baseAddress!, q, k, v)
                }
            }
            headForward(out + b * n * dim + h * headDim, att + bh * n * n, q, k, v)
        }
    }
}

/// Accumulates into `dqkv` [B, N, 3D], or with `accumulate` false overwrites it (bit for bit
/// what accumulating onto zeros gives; what it held is never read). `datt` [B, H, N, N] is
/// scratch for heads that run the OpenBLAS path (fused heads keep dS in their workspace and
/// leave it untouched).
public func attentionBackward(
    dqkv: UnsafeMutablePointer<Float>, datt: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>, att: UnsafePointer<Float>,
    batch: Int, tokens: Int, dim: Int, heads: Int, accumulate: Bool = true, path: KernelPath = .automatic
) {
    let (n, headDim, scale) = attentionHeadShape(batch: batch, tokens: tokens, dim: dim, heads: heads)
    let fused = usesFusedAttention(path, tokens: n, headDim: headDim)
    let wide = wideProducts(path)
    // dA, dV, dQ, dK: 4 products of 2·N·N·hd FLOPs per head.
    let flops = 8 * Double(batch * n * n * dim)
    Profiler.measure(.attention, "\(fused ? "fused " : "")backward B·H×\(n)×\(n)×\(headDim)", flops: flops) {
        forEachHead(batch: batch, heads: heads) { b, h, bh in
            let offset = b * n * 3 * dim + h * headDim
            let q = qkv + offset
            let k = q + dim
            let v = q + 2 * dim
            let dq = dqkv + offset
            let dk = dq + dim
            let dv = dq + 2 * dim
            let a = att + bh * n * n
            let da = datt + bh * n * n
            let dO = dout + b * n * dim + h * headDim
            if fused {
                let ahead = HeadsAhead(b: b, h: h, batch: batch, heads: heads)
                let status = withUnsafeTemporaryAllocation(of: moe_prefetch_span.self, capacity: 4) { spans in
                    spans[0] = ahead.share(of: qkv, floatsPerImage: n * 3 * dim)
                    spans[1] = ahead.share(of: dqkv, floatsPerImage: n * 3 * dim)
                    spans[2] = ahead.share(of: dout, floatsPerImage: n * dim)
                    spans[3] = ahead.nextHead(of: att, floatsPerHead: n * n)
                    return moe_attention_head_backward_avx2(
                        dq, dk, dv, dO, dim, q, k, v, 3 * dim, a, n, headDim, scale, wide, accumulate ? 1 : 0,
                        spans.baseAddress, 4)
                }
                if status == 0 { return }
            }
            if !accumulate {
                for row in 0..<n {
                    for part in 0..<3 { (dq + row * 3 * dim + part * dim).update(repeating: 0, count: headDim) }
                }
            }
            // dA = dO · Vᵀ (overwrites the scratch), dV += Aᵀ · dO.
            gemm(
                transA: false, transB: true, m: n, n: n, k: headDim,
                alpha: 1, a: dO, lda: dim, b: v, ldb: 3 * dim, beta: 0, c: da, ldc: n)
            gemm(
                transA: true, transB: false, m: n, n: headDim, k: n,
                alpha: 1, a: a, lda: n, b: dO, ldb: dim, beta: 1, c: dv, ldc: 3 * dim)
            // dS in place of dA; the 1/√hd of the scores is folded into the GEMMs' alpha.
            Profiler.measure(.softmax, "attention backward") {
                for row in 0..<n { softmaxBackwardRowInPlace(grad: da + row * n, out: a + row * n, cols: n) }
            }
            gemm(
                transA: false, transB: false, m: n, n: headDim, k: n,
                alpha: scale, a: da, lda: n, b: k, ldb: 3 * dim, beta: 1, c: dq, ldc: 3 * dim)
            gemm(
                transA: true, transB: false, m: n, n: headDim, k: n,
                alpha: scale, a: da, lda: n, b: q, ldb: 3 * dim, beta: 1, c: dk, ldc: 3 * dim)
        }
    }
}

/// What head (b, h) asks the caches for while it computes (`moe_prefetch_span`): the heads
/// of one image run one after another on a thread, and the activations come back from
/// memory, so each head fetches share h/H of the next image's rows of an operand, or the next
/// head's block of one kept per head. Past the last image or head: nothing.
private struct HeadsAhead {
    let b: Int, h: Int, batch: Int, heads: Int

    func share(of operand: UnsafeRawPointer?, floatsPerImage: Int) -> moe_prefetch_span {
        guard let operand, b + 1 < batch else { return moe_prefetch_span(start: nil, bytes: 0) }
        let (from, to) = (h * floatsPerImage / heads, (h + 1) * floatsPerImage / heads)
        let float = MemoryLayout<Float>.stride
        return moe_prefetch_span(start: operand + float * ((b + 1) * floatsPerImage + from), bytes: float * (to - from))
    }

    func nextHead(of operand: UnsafeRawPointer?, floatsPerHead: Int) -> moe_prefetch_span {
        let next = b * heads + h + 1
        guard let operand, next < batch * heads else { return moe_prefetch_span(start: nil, bytes: 0) }
        let float = MemoryLayout<Float>.stride
        return moe_prefetch_span(start: operand + float * next * floatsPerHead, bytes: float * floatsPerHead)
    }
}

/// Checks the shape; returns the tokens N, the head width hd = D/H and the score scale 1/√hd.
private func attentionHeadShape(
    batch: Int, tokens: Int, dim: Int, heads: Int
) -> (tokens: Int, headDim: Int, scale: Float) {
    precondition(batch >= 0 && tokens > 0 && heads > 0, "attention: bad shape")
    precondition(dim % heads == 0, "attention: dim \(dim) not divisible by heads \(heads)")
    let headDim = dim / heads
    return (tokens, headDim, 1 / Float(headDim).squareRoot())
}

/// The fused kernel's `wide` flag: its products sixteen lanes wide (same bits as eight).
private func wideProducts(_ path: KernelPath) -> Int32 { path.usesAVX512 ? 1 : 0 }

/// Whether the heads run as one fused AVX2/FMA kernel each (see the top of this file).
private func usesFusedAttention(_ path: KernelPath, tokens: Int, headDim: Int) -> Bool {
    path.usesAVX2 && headDim % 8 == 0 && tokens <= fusedAttentionMaxTokens
}

/// Runs `body(b, h, bh)` for head `h` of image `b` (`bh = b·H + h`), for all B·H heads,
/// spread over the worker threads.
@inline(__always)
private func forEachHead(batch: Int, heads: Int, _ body: (_ b: Int, _ h: Int, _ bh: Int) -> Void) {
    Parallel.forEach(count: batch * heads) { bh in body(bh / heads, bh % heads, bh) }
}
