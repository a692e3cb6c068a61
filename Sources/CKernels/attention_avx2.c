// Fused single-head attention, AVX2/FMA, for small N (a head's operands stay in L1/L2).
//
// Each call first copies its head's operands out of the packed activations into a per-thread
// workspace: Q, V (and K, dO) as contiguous N×hd rows, and Kᵀ (Vᵀ) as hd×N' rows (N' = N
// rounded up to 8, zero-padded). The copies cost O(N·hd) against O(N²·hd) products; in the
// activations a head's rows are 3D floats apart and share few L1 sets, so the products
// would stream them from L2 instead. Score rows are then register-blocked outer products
// (six query rows × sixteen keys, one broadcast per query value) with no horizontal sums,
// and A·V combines three rows at a time: twelve independent sums each, enough to hide the
// FMA latency. The backward keeps dS in the workspace too and transposes dS and A there
// (O(N²) against O(N²·hd)), so dK and dV also combine rows.
// Summation order is fixed by the loops alone, so a head's result does not depend on the
// thread it runs on, nor on `wide` (the products in AVX-512, attention_wide.h).
// In a training step the operands come back from memory, not from L2 (the whole layer's
// activations are tens of MB); a head that fetched its own as it started measured 5.2 µs
// against 2.6 on warm caches, so each call also fetches the spans its caller names (the next
// image's rows), a share per six query rows, and the forward streams the probabilities it
// keeps for the backward past the caches (`stream_out`).
#include "CKernels.h"
#include "attention_wide.h"
#include "avx2_math.h"
#include "workspace.h"

#if defined(__x86_64__) || defined(__i386__)
#include <math.h>
#include <stdint.h>

// ---- packing ------------------------------------------------------------------------------

/// dst[r·hd + d] = src[r·ld + d] for r < n, d < hd (a multiple of 8): inline copies, where a
/// memcpy per row measured as a libc call each (1.5 % of a bench-tiny training run's samples).
MOE_AVX2_INLINE void pack_rows(float *dst, const float *src, ptrdiff_t ld, ptrdiff_t n, ptrdiff_t hd) {
    for (ptrdiff_t r = 0; r < n; r++)
        for (ptrdiff_t d = 0; d < hd; d += 8) _mm256_storeu_ps(dst + r * hd + d, _mm256_loadu_ps(src + r * ld + d));
}

/// Rows of the transpose of the 8×8 block r: r[e] lane t ↦ out[t] lane e.
MOE_AVX2_INLINE void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/// dst[d·np + j] = src[j·ld + d] for j < n, d < hd (hd a multiple of 8); 0 for n ≤ j < np.
MOE_AVX2_INLINE void pack_transposed(
    float *dst, const float *src, ptrdiff_t ld, ptrdiff_t n, ptrdiff_t np, ptrdiff_t hd) {
    for (ptrdiff_t j = 0; j < np; j += 8) {
        for (ptrdiff_t d = 0; d < hd; d += 8) {
            __m256 block[8];
            for (int t = 0; t < 8; t++)
                block[t] = j + t < n ? _mm256_loadu_ps(src + (j + t) * ld + d) : _mm256_setzero_ps();
            transpose8(block);
            for (int e = 0; e < 8; e++) _mm256_storeu_ps(dst + (d + e) * np + j, block[e]);
        }
    }
}

/// dst[j·n + i] = src[i·n + j] for the n×n matrix src: 8×8 blocks in registers, the edges
/// element by element.
MOE_AVX2_INLINE void transpose_square(float *dst, const float *src, ptrdiff_t n) {
    ptrdiff_t full = n & ~(ptrdiff_t)7;
    for (ptrdiff_t i = 0; i < full; i += 8) {
        for (ptrdiff_t j = 0; j < full; j += 8) {
            __m256 block[8];
            for (int t = 0; t < 8; t++) block[t] = _mm256_loadu_ps(src + (i + t) * n + j);
            transpose8(block);
            for (int t = 0; t < 8; t++) _mm256_storeu_ps(dst + (j + t) * n + i, block[t]);
        }
        for (ptrdiff_t j = full; j < n; j++)
            for (int t = 0; t < 8; t++) dst[j * n + i + t] = src[(i + t) * n + j];
    }
    for (ptrdiff_t i = full; i < n; i++)
        for (ptrdiff_t j = 0; j < n; j++) dst[j * n + i] = src[i * n + j];
}

// ---- products -----------------------------------------------------------------------------

/// Stores the first `count` lanes of v at p (all 8 when count ≥ 8, none when count ≤ 0).
MOE_AVX2_INLINE void store_lanes(float *p, __m256 v, ptrdiff_t count) {
    if (count >= 8) {
        _mm256_storeu_ps(p, v);
    } else if (count > 0) {
        float lanes[8];
        _mm256_storeu_ps(lanes, v);
        for (ptrdiff_t t = 0; t < count; t++) p[t] = lanes[t];
    }
}

/// s_r[j] = scale·Σ_d x_r[d]·yt[d·np + j] for the R query rows x_r (hd apart) and keys j < n;
/// s rows lds apart. Sixteen keys by R rows of accumulators: per d two loads of yt and R
/// broadcasts feed 2R FMAs; at R = 6 twelve independent sums hide the FMA latency. R ≤ 6,
/// constant after inlining.
MOE_AVX2_INLINE void score_rows(
    float *s, ptrdiff_t lds, const float *x, const float *yt, ptrdiff_t n, ptrdiff_t np, ptrdiff_t hd,
    float scale, const int R) {
    const __m256 sc = _mm256_set1_ps(scale);
    ptrdiff_t j = 0;
    for (; j + 16 <= np; j += 16) {
        __m256 a0[6], a1[6];
        for (int r = 0; r < R; r++) a0[r] = a1[r] = _mm256_setzero_ps();
        const float *y = yt + j;
        for (ptrdiff_t d = 0; d < hd; d++, y += np) {
            __m256 k0 = _mm256_loadu_ps(y), k1 = _mm256_loadu_ps(y + 8);
            for (int r = 0; r < R; r++) {
                __m256 b = _mm256_broadcast_ss(x + r * hd + d);
                a0[r] = _mm256_fmadd_ps(b, k0, a0[r]);
                a1[r] = _mm256_fmadd_ps(b, k1, a1[r]);
            }
        }
        for (int r = 0; r < R; r++) {
            store_lanes(s + r * lds + j, _mm256_mul_ps(a0[r], sc), n - j);
            store_lanes(s + r * lds + j + 8, _mm256_mul_ps(a1[r], sc), n - j - 8);
        }
    }
    if (j < np) {  // eight keys left
        __m256 a0[6];
        for (int r = 0; r < R; r++) a0[r] = _mm256_setzero_ps();
        const float *y = yt + j;
        for (ptrdiff_t d = 0; d < hd; d++, y += np) {
            __m256 k0 = _mm256_loadu_ps(y);
            for (int r = 0; r < R; r++) a0[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(x + r * hd + d), k0, a0[r]);
        }
        for (int r = 0; r < R; r++) store_lanes(s + r * lds + j, _mm256_mul_ps(a0[r], sc), n - j);
    }
}

/// score_rows for 1 ≤ rows ≤ 6 known only at run time: each case inlines its own R (6, the
/// common one, is the default).
MOE_AVX2_INLINE void score_rows_any(
    float *s, ptrdiff_t lds, const float *x, const float *yt, ptrdiff_t n, ptrdiff_t np, ptrdiff_t hd,
    float scale, ptrdiff_t rows) {
    switch (rows) {
    case 1: score_rows(s, lds, x, yt, n, np, hd, scale, 1); break;
    case 2: score_rows(s, lds, x, yt, n, np, hd, scale, 2); break;
    case 3: score_rows(s, lds, x, yt, n, np, hd, scale, 3); break;
    case 4: score_rows(s, lds, x, yt, n, np, hd, scale, 4); break;
    case 5: score_rows(s, lds, x, yt, n, np, hd, scale, 5); break;
    default: score_rows(s, lds, x, yt, n, np, hd, scale, 6); break;
    }
}

/// Columns [0, 8·w) of out_r (+)= alpha·Σ_j c_r[j]·m_j for the R rows out_r = out + r·ldo,
/// c_r = c + r·ldc (`mode` a MOE_COMBINE_ value); m rows are ld apart. Each m_j is loaded
/// once for all R rows; at R = 3, w = 4 twelve independent sums hide the FMA latency. R ≤ 3
/// and w ≤ 4, constant after inlining.
MOE_AVX2_INLINE void combine_block(
    float *out, ptrdiff_t ldo, const float *c, ptrdiff_t ldc, const float *m, ptrdiff_t ld, ptrdiff_t n,
    float alpha, int mode, const int R, const int w) {
    __m256 acc[3][4];
    for (int r = 0; r < R; r++)
        for (int u = 0; u < w; u++) acc[r][u] = _mm256_setzero_ps();
    for (ptrdiff_t j = 0; j < n; j++) {
        __m256 b[3];
        for (int r = 0; r < R; r++) b[r] = _mm256_broadcast_ss(c + r * ldc + j);
        for (int u = 0; u < w; u++) {
            __m256 x = _mm256_loadu_ps(m + j * ld + 8 * u);
            for (int r = 0; r < R; r++) acc[r][u] = _mm256_fmadd_ps(b[r], x, acc[r][u]);
        }
    }
    __m256 al = _mm256_set1_ps(alpha);
    for (int r = 0; r < R; r++) {
        for (int u = 0; u < w; u++) {
            __m256 v = _mm256_mul_ps(acc[r][u], al);
            if (mode == MOE_COMBINE_ADD) v = _mm256_add_ps(_mm256_loadu_ps(out + r * ldo + 8 * u), v);
            else if (mode == MOE_COMBINE_STORE_PLUS_ZERO) v = _mm256_add_ps(v, _mm256_setzero_ps());
            _mm256_storeu_ps(out + r * ldo + 8 * u, v);
        }
    }
}

/// out_r (+)= alpha·Σ_j c_r[j]·m_j over all hd columns for the R rows of combine_block.
MOE_AVX2_INLINE void combine_rows(
    float *out, ptrdiff_t ldo, const float *c, ptrdiff_t ldc, const float *m, ptrdiff_t ld, ptrdiff_t n,
    ptrdiff_t hd, float alpha, int mode, const int R) {
    ptrdiff_t d = 0;
    for (; d + 32 <= hd; d += 32) combine_block(out + d, ldo, c, ldc, m + d, ld, n, alpha, mode, R, 4);
    for (; d < hd; d += 8) combine_block(out + d, ldo, c, ldc, m + d, ld, n, alpha, mode, R, 1);
}

/// combine_rows over `rows` consecutive rows, three at a time (four as two pairs: a single
/// row has only four sums in flight).
MOE_AVX2_INLINE void combine_many(
    float *out, ptrdiff_t ldo, const float *c, ptrdiff_t ldc, const float *m, ptrdiff_t ld, ptrdiff_t n,
    ptrdiff_t hd, float alpha, int mode, ptrdiff_t rows) {
    while (rows > 0) {
        ptrdiff_t take = rows == 4 ? 2 : rows < 3 ? rows : 3;
        if (take == 3) combine_rows(out, ldo, c, ldc, m, ld, n, hd, alpha, mode, 3);
        else if (take == 2) combine_rows(out, ldo, c, ldc, m, ld, n, hd, alpha, mode, 2);
        else combine_rows(out, ldo, c, ldc, m, ld, n, hd, alpha, mode, 1);
        out += take * ldo;
        c += take * ldc;
        rows -= take;
    }
}

/// score_rows_any, or its AVX-512 twin when `wide`.
MOE_AVX2_INLINE void scores(
    float *s, ptrdiff_t lds, const float *x, const float *yt, ptrdiff_t n, ptrdiff_t np, ptrdiff_t hd,
    float scale, ptrdiff_t rows, int wide) {
    if (wide) moe_attention_scores_avx512(s, lds, x, yt, n, np, hd, scale, rows);
    else score_rows_any(s, lds, x, yt, n, np, hd, scale, rows);
}

/// combine_many, or its AVX-512 twin when `wide`.
MOE_AVX2_INLINE void combine(
    float *out, ptrdiff_t ldo, const float *c, ptrdiff_t ldc, const float *m, ptrdiff_t ld, ptrdiff_t n,
    ptrdiff_t hd, float alpha, int mode, ptrdiff_t rows, int wide) {
    if (wide) moe_attention_combine_avx512(out, ldo, c, ldc, m, ld, n, hd, alpha, mode, rows);
    else combine_many(out, ldo, c, ldc, m, ld, n, hd, alpha, mode, rows);
}

// ---- row softmax --------------------------------------------------------------------------

/// In-place softmax of one row (softmaxRow in Softmax.swift): NaN row when the maximum is
/// not finite (a diverged model), so the loss turns NaN instead of trapping. The row's tail
/// (N mod 8) stays in a register between the passes and is stored lane by lane: masked
/// stores are slow on some AMD cores.
MOE_AVX2_INLINE void softmax_row(float *s, ptrdiff_t n) {
    ptrdiff_t full = n & ~(ptrdiff_t)7, tail = n - full;
    __m256 tail_lanes = _mm256_castsi256_ps(moe_tail_mask(tail));
    const __m256 minus_inf = _mm256_set1_ps(-INFINITY);
    __m256 mv = minus_inf, tv = minus_inf;
    for (ptrdiff_t j = 0; j < full; j += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(s + j));
    if (tail) {
        tv = _mm256_blendv_ps(minus_inf, _mm256_maskload_ps(s + full, _mm256_castps_si256(tail_lanes)), tail_lanes);
        mv = _mm256_max_ps(mv, tv);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    float m = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
    if (!(m > -INFINITY) || !isfinite(m)) {
        for (ptrdiff_t j = 0; j < n; j++) s[j] = NAN;
        return;
    }
    __m256 mb = _mm256_set1_ps(m), acc = _mm256_setzero_ps();
    for (ptrdiff_t j = 0; j < full; j += 8) {
        __m256 e = moe_exp(_mm256_sub_ps(_mm256_loadu_ps(s + j), mb));
        _mm256_storeu_ps(s + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    // Padding lanes are −∞, so their e is exactly 0.
    __m256 te = moe_exp(_mm256_sub_ps(tv, mb));
    acc = _mm256_add_ps(acc, te);
    __m256 inverse = _mm256_set1_ps(1.0f / moe_hsum(acc));
    for (ptrdiff_t j = 0; j < full; j += 8) _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), inverse));
    store_lanes(s + full, _mm256_mul_ps(te, inverse), tail);
}

/// g ← p ⊙ (g − Σ g ⊙ p) for one row (softmaxBackwardRowInPlace).
MOE_AVX2_INLINE void softmax_backward_row(float *g, const float *p, ptrdiff_t n) {
    ptrdiff_t full = n & ~(ptrdiff_t)7;
    __m256i mask = moe_tail_mask(n - full);
    __m256 acc = _mm256_setzero_ps();
    for (ptrdiff_t j = 0; j < full; j += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(g + j), _mm256_loadu_ps(p + j), acc);
    if (full < n) acc = _mm256_fmadd_ps(_mm256_maskload_ps(g + full, mask), _mm256_maskload_ps(p + full, mask), acc);
    __m256 dot = _mm256_set1_ps(moe_hsum(acc));
    for (ptrdiff_t j = 0; j < full; j += 8)
        _mm256_storeu_ps(g + j, _mm256_mul_ps(_mm256_loadu_ps(p + j), _mm256_sub_ps(_mm256_loadu_ps(g + j), dot)));
    if (full < n) {
        __m256 v = _mm256_mul_ps(_mm256_maskload_ps(p + full, mask), _mm256_sub_ps(_mm256_maskload_ps(g + full, mask), dot));
        store_lanes(g + full, v, n - full);
    }
}

// ---- the kernels --------------------------------------------------------------------------

/// dst[0..<count] = src[...], the 32-byte-aligned part with non-temporal stores: the training
/// step's probabilities are read back only by the backward, long after, so they go to memory
/// without first reading the lines they overwrite.
MOE_AVX2_INLINE void stream_out(float *dst, const float *src, ptrdiff_t count) {
    ptrdiff_t head = (ptrdiff_t)((32 - ((uintptr_t)dst & 31)) & 31) / (ptrdiff_t)sizeof(float);
    if (head > count) head = count;
    ptrdiff_t i = 0;
    for (; i < head; i++) dst[i] = src[i];
    for (; i + 8 <= count; i += 8) _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
    for (; i < count; i++) dst[i] = src[i];
    _mm_sfence();
}

/// Asks L2 for the lines of each span from share `done / total` of it up to `(done + part) /
/// total`: called as the work progresses, so the fetches spread over the call.
MOE_AVX2_INLINE void fetch_ahead(
    const moe_prefetch_span *ahead, int count, ptrdiff_t done, ptrdiff_t part, ptrdiff_t total) {
    for (int s = 0; s < count; s++) {
        if (!ahead[s].start || ahead[s].bytes <= 0) continue;
        uintptr_t first = (uintptr_t)ahead[s].start & ~(uintptr_t)63;
        ptrdiff_t lines = (ptrdiff_t)((((uintptr_t)ahead[s].start + ahead[s].bytes - 1) & ~(uintptr_t)63) - first) / 64 + 1;
        for (ptrdiff_t l = lines * done / total; l < lines * (done + part) / total; l++)
            _mm_prefetch((const char *)(first + 64 * (uintptr_t)l), _MM_HINT_T1);
    }
}

MOE_AVX2 int moe_attention_head_forward_avx2(
    float *out, ptrdiff_t ld_out, float *att, const float *q, const float *k, const float *v,
    ptrdiff_t ld_qkv, ptrdiff_t n, ptrdiff_t hd, float scale, int wide, const moe_prefetch_span *ahead,
    int ahead_count) {
    ptrdiff_t np = (n + 7) & ~(ptrdiff_t)7;
    // The probabilities live in the workspace: the head's N×N, streamed to att at the end, or
    // without att (inference) six rows at a time.
    float *qp = moe_thread_workspace((size_t)(2 * n * hd + hd * np + (att ? n * n : 6 * n)));
    if (!qp) return -1;
    float *vp = qp + n * hd, *kt = vp + n * hd, *probabilities = kt + hd * np;
    pack_rows(qp, q, ld_qkv, n, hd);
    pack_rows(vp, v, ld_qkv, n, hd);
    pack_transposed(kt, k, ld_qkv, n, np, hd);
    // Six query rows at a time: scores, softmax, then A·V three rows at a time.
    for (ptrdiff_t i = 0; i < n; i += 6) {
        ptrdiff_t rows = n - i < 6 ? n - i : 6;
        fetch_ahead(ahead, ahead_count, i, rows, n);
        float *p = att ? probabilities + i * n : probabilities;
        scores(p, n, qp + i * hd, kt, n, np, hd, scale, rows, wide);
        if (wide && n <= 256) moe_attention_softmax_avx512(p, n, rows);
        else for (ptrdiff_t r = 0; r < rows; r++) softmax_row(p + r * n, n);
        combine(out + i * ld_out, ld_out, p, n, vp, hd, n, hd, 1.0f, MOE_COMBINE_STORE, rows, wide);
    }
    if (att) stream_out(att, probabilities, n * n);
    return 0;
}

MOE_AVX2 int moe_attention_head_backward_avx2(
    float *dq, float *dk, float *dv, const float *dout, ptrdiff_t ld_out,
    const float *q, const float *k, const float *v, ptrdiff_t ld_qkv, const float *att,
    ptrdiff_t n, ptrdiff_t hd, float scale, int wide, int accumulate, const moe_prefetch_span *ahead,
    int ahead_count) {
    ptrdiff_t np = (n + 7) & ~(ptrdiff_t)7;
    int mode = accumulate ? MOE_COMBINE_ADD : MOE_COMBINE_STORE_PLUS_ZERO;
    float *qp = moe_thread_workspace((size_t)(3 * n * hd + hd * np + 3 * n * n));
    if (!qp) return -1;
    float *kp = qp + n * hd, *dop = kp + n * hd, *vt = dop + n * hd, *st = vt + hd * np, *at = st + n * n;
    float *ds = at + n * n;  // dA, then dS: kept here rather than in memory shared by all heads
    pack_rows(qp, q, ld_qkv, n, hd);
    pack_rows(kp, k, ld_qkv, n, hd);
    pack_rows(dop, dout, ld_out, n, hd);
    pack_transposed(vt, v, ld_qkv, n, np, hd);
    // Rows of dA = dO·Vᵀ, six at a time, turned into dS in place; dQ += scale·dS·K.
    for (ptrdiff_t i = 0; i < n; i += 6) {
        ptrdiff_t rows = n - i < 6 ? n - i : 6;
        fetch_ahead(ahead, ahead_count, i, rows, n);
        scores(ds + i * n, n, dop + i * hd, vt, n, np, hd, 1.0f, rows, wide);
        for (ptrdiff_t r = 0; r < rows; r++) softmax_backward_row(ds + (i + r) * n, att + (i + r) * n, n);
        combine(dq + i * ld_qkv, ld_qkv, ds + i * n, n, kp, hd, n, hd, scale, mode, rows, wide);
    }
    // dK += scale·dSᵀ·Q and dV += Aᵀ·dO from rows of dSᵀ and Aᵀ: the same sums in the same
    // order as from the columns of dS and A, with the coefficients in L1.
    transpose_square(st, ds, n);
    transpose_square(at, att, n);
    combine(dk, ld_qkv, st, n, qp, hd, n, hd, scale, mode, n, wide);
    combine(dv, ld_qkv, at, n, dop, hd, n, hd, 1.0f, mode, n, wide);
    return 0;
}
#else
int moe_attention_head_forward_avx2(
    float *out, ptrdiff_t ld_out, float *att, const float *q, const float *k, const float *v,
    ptrdiff_t ld_qkv, ptrdiff_t n, ptrdiff_t hd, float scale, int wide, const moe_prefetch_span *ahead,
    int ahead_count) {
    return -1;
}
int moe_attention_head_backward_avx2(
    float *dq, float *dk, float *dv, const float *dout, ptrdiff_t ld_out,
    const float *q, const float *k, const float *v, ptrdiff_t ld_qkv, const float *att,
    ptrdiff_t n, ptrdiff_t hd, float scale, int wide, int accumulate, const moe_prefetch_span *ahead,
    int ahead_count) {
    return -1;
}
#endif
