// Fused single-head attention, AVX2/FMA, for small N (the score rows of a head stay in L1/L2).
// Every product reads Q, K, V, dO straight from the packed activations through their row
// strides: nothing is copied per head. Summation order is fixed by the loops alone, so the
// results do not depend on the thread a head runs on.
#include "CKernels.h"
#include "avx2_math.h"

#if defined(__x86_64__) || defined(__i386__)
#include <math.h>

/// s[j] = scale·(x · y_j) for the n rows y_j (ld apart), vectors of length hd (multiple of 8).
/// Eight keys at a time: eight accumulators, one horizontal reduction into s[j..j+8).
MOE_AVX2_INLINE void dot_rows(
    float *s, const float *x, const float *y, ptrdiff_t ld, ptrdiff_t n, ptrdiff_t hd, float scale) {
    ptrdiff_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 acc[8];
        for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
        for (ptrdiff_t d = 0; d < hd; d += 8) {
            __m256 xv = _mm256_loadu_ps(x + d);
            for (int t = 0; t < 8; t++) acc[t] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(y + (j + t) * ld + d), acc[t]);
        }
        _mm256_storeu_ps(s + j, _mm256_mul_ps(moe_hsum8(acc), _mm256_set1_ps(scale)));
    }
    for (; j < n; j++) {
        __m256 acc = _mm256_setzero_ps();
        for (ptrdiff_t d = 0; d < hd; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + d), _mm256_loadu_ps(y + j * ld + d), acc);
        s[j] = scale * moe_hsum(acc);
    }
}

/// The same for two query rows x0, x1 at once, four keys at a time: each key row is loaded
/// once for both, halving the K (or V) traffic, which at N ≳ 100 comes from L2 (rows 3D
/// floats apart share few L1 sets).
MOE_AVX2_INLINE void dot_rows2(
    float *s0, float *s1, const float *x0, const float *x1, const float *y, ptrdiff_t ld, ptrdiff_t n,
    ptrdiff_t hd, float scale) {
    ptrdiff_t j = 0;
    __m256 sc = _mm256_set1_ps(scale);
    for (; j + 4 <= n; j += 4) {
        __m256 acc[8];
        for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
        for (ptrdiff_t d = 0; d < hd; d += 8) {
            __m256 a = _mm256_loadu_ps(x0 + d), b = _mm256_loadu_ps(x1 + d);
            for (int t = 0; t < 4; t++) {
                __m256 kv = _mm256_loadu_ps(y + (j + t) * ld + d);
                acc[t] = _mm256_fmadd_ps(a, kv, acc[t]);
                acc[4 + t] = _mm256_fmadd_ps(b, kv, acc[4 + t]);
            }
        }
        __m256 sums = _mm256_mul_ps(moe_hsum8(acc), sc);
        _mm_storeu_ps(s0 + j, _mm256_castps256_ps128(sums));
        _mm_storeu_ps(s1 + j, _mm256_extractf128_ps(sums, 1));
    }
    for (; j < n; j++) {
        __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
        for (ptrdiff_t d = 0; d < hd; d += 8) {
            __m256 kv = _mm256_loadu_ps(y + j * ld + d);
            a = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + d), kv, a);
            b = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + d), kv, b);
        }
        s0[j] = scale * moe_hsum(a);
        s1[j] = scale * moe_hsum(b);
    }
}

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
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_mul_ps(te, inverse));
    for (ptrdiff_t t = 0; t < tail; t++) s[full + t] = lanes[t];
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
        _mm256_maskstore_ps(g + full, mask, v);
    }
}

/// Columns [0, 8·w) of out_r (+)= alpha·Σ_j c_r[j]·m_j for the two rows r (out1 may be
/// NULL: c1 is then ignored); m rows are ld apart. w = 4 or 1, constant after inlining.
MOE_AVX2_INLINE void combine_block(
    float *out0, float *out1, const float *c0, const float *c1, const float *m, ptrdiff_t ld,
    ptrdiff_t n, float alpha, int accumulate, const int w) {
    __m256 a0[4], a1[4];
    for (int u = 0; u < w; u++) a0[u] = a1[u] = _mm256_setzero_ps();
    for (ptrdiff_t j = 0; j < n; j++) {
        __m256 b0 = _mm256_broadcast_ss(c0 + j), b1 = _mm256_broadcast_ss(c1 + j);
        for (int u = 0; u < w; u++) {
            __m256 x = _mm256_loadu_ps(m + j * ld + 8 * u);
            a0[u] = _mm256_fmadd_ps(b0, x, a0[u]);
            a1[u] = _mm256_fmadd_ps(b1, x, a1[u]);
        }
    }
    __m256 al = _mm256_set1_ps(alpha);
    for (int u = 0; u < w; u++) {
        __m256 r0 = _mm256_mul_ps(a0[u], al), r1 = _mm256_mul_ps(a1[u], al);
        if (accumulate) r0 = _mm256_add_ps(_mm256_loadu_ps(out0 + 8 * u), r0);
        _mm256_storeu_ps(out0 + 8 * u, r0);
        if (out1) {
            if (accumulate) r1 = _mm256_add_ps(_mm256_loadu_ps(out1 + 8 * u), r1);
            _mm256_storeu_ps(out1 + 8 * u, r1);
        }
    }
}

/// out_r (+)= alpha·Σ_j c_r[j]·m_j, r = 0, 1, over all hd columns (A·V, dS·K): each m_j is
/// loaded once for both query rows.
MOE_AVX2_INLINE void combine_rows(
    float *out0, float *out1, const float *c0, const float *c1, const float *m, ptrdiff_t ld,
    ptrdiff_t n, ptrdiff_t hd, float alpha, int accumulate) {
    if (!out1) c1 = c0;
    ptrdiff_t d = 0;
    for (; d + 32 <= hd; d += 32)
        combine_block(out0 + d, out1 ? out1 + d : NULL, c0, c1, m + d, ld, n, alpha, accumulate, 4);
    for (; d < hd; d += 8)
        combine_block(out0 + d, out1 ? out1 + d : NULL, c0, c1, m + d, ld, n, alpha, accumulate, 1);
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

/// c_j += alpha·Σ_i p[i, j]·x_i for j < n (Pᵀ·X: dSᵀ·Q, Aᵀ·dO), p rows ldp apart, c and x
/// rows ldc / ldx apart. Eight columns j by eight features at a time in registers (lane = j),
/// transposed and added to the eight rows c_j. Rows i go in blocks of 32 so the block of x
/// (3D floats apart: few L1 sets) stays in L1 across the column blocks.
MOE_AVX2_INLINE void combine_columns(
    float *c, ptrdiff_t ldc, const float *p, ptrdiff_t ldp, const float *x, ptrdiff_t ldx,
    ptrdiff_t n, ptrdiff_t hd, float alpha) {
    const ptrdiff_t row_block = 32;
    __m256 al = _mm256_set1_ps(alpha);
    for (ptrdiff_t i0 = 0; i0 < n; i0 += row_block) {
        ptrdiff_t i1 = n - i0 < row_block ? n : i0 + row_block;
        for (ptrdiff_t j = 0; j < n; j += 8) {
            ptrdiff_t count = n - j < 8 ? n - j : 8;
            __m256i mask = moe_tail_mask(count);
            for (ptrdiff_t d = 0; d < hd; d += 8) {
                __m256 acc[8];
                for (int e = 0; e < 8; e++) acc[e] = _mm256_setzero_ps();
                for (ptrdiff_t i = i0; i < i1; i++) {
                    __m256 pv = _mm256_maskload_ps(p + i * ldp + j, mask);
                    const float *xi = x + i * ldx + d;
                    for (int e = 0; e < 8; e++) acc[e] = _mm256_fmadd_ps(pv, _mm256_broadcast_ss(xi + e), acc[e]);
                }
                transpose8(acc);
                for (ptrdiff_t t = 0; t < count; t++) {
                    float *ct = c + (j + t) * ldc + d;
                    _mm256_storeu_ps(ct, _mm256_fmadd_ps(acc[t], al, _mm256_loadu_ps(ct)));
                }
            }
        }
    }
}

MOE_AVX2 void moe_attention_head_forward_avx2(
    float *out, ptrdiff_t ld_out, float *att, const float *q, const float *k, const float *v,
    ptrdiff_t ld_qkv, ptrdiff_t n, ptrdiff_t hd, float scale) {
    // Two query rows at a time: scores, softmax, then A·V reading each V row once for both.
    for (ptrdiff_t i = 0; i < n; i += 2) {
        int pair = i + 1 < n;
        if (pair)
            dot_rows2(att + i * n, att + (i + 1) * n, q + i * ld_qkv, q + (i + 1) * ld_qkv, k, ld_qkv, n, hd, scale);
        else
            dot_rows(att + i * n, q + i * ld_qkv, k, ld_qkv, n, hd, scale);
        for (int r = 0; r <= pair; r++) softmax_row(att + (i + r) * n, n);
        combine_rows(
            out + i * ld_out, pair ? out + (i + 1) * ld_out : NULL, att + i * n, att + (i + pair) * n,
            v, ld_qkv, n, hd, 1.0f, 0);
    }
}

MOE_AVX2 void moe_attention_head_backward_avx2(
    float *dq, float *dk, float *dv, float *scores, const float *dout, ptrdiff_t ld_out,
    const float *q, const float *k, const float *v, ptrdiff_t ld_qkv, const float *att,
    ptrdiff_t n, ptrdiff_t hd, float scale) {
    // Rows of dA = dO·Vᵀ turned into dS in place, two at a time, and dQ += scale·dS·K.
    for (ptrdiff_t i = 0; i < n; i += 2) {
        int pair = i + 1 < n;
        if (pair)
            dot_rows2(
                scores + i * n, scores + (i + 1) * n, dout + i * ld_out, dout + (i + 1) * ld_out, v, ld_qkv, n, hd, 1.0f);
        else
            dot_rows(scores + i * n, dout + i * ld_out, v, ld_qkv, n, hd, 1.0f);
        for (int r = 0; r <= pair; r++) softmax_backward_row(scores + (i + r) * n, att + (i + r) * n, n);
        combine_rows(
            dq + i * ld_qkv, pair ? dq + (i + 1) * ld_qkv : NULL, scores + i * n, scores + (i + pair) * n,
            k, ld_qkv, n, hd, scale, 1);
    }
    // dK += scale·dSᵀ·Q and dV += Aᵀ·dO from the stored dS and A.
    combine_columns(dk, ld_qkv, scores, n, q, ld_qkv, n, hd, scale);
    combine_columns(dv, ld_qkv, att, n, dout, ld_out, n, hd, 1.0f);
}
#else
void moe_attention_head_forward_avx2(
    float *out, ptrdiff_t ld_out, float *att, const float *q, const float *k, const float *v,
    ptrdiff_t ld_qkv, ptrdiff_t n, ptrdiff_t hd, float scale) {}
void moe_attention_head_backward_avx2(
    float *dq, float *dk, float *dv, float *scores, const float *dout, ptrdiff_t ld_out,
    const float *q, const float *k, const float *v, ptrdiff_t ld_qkv, const float *att,
    ptrdiff_t n, ptrdiff_t hd, float scale) {}
#endif
