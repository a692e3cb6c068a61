// The fused attention's products in AVX-512 (attention_wide.h): thirty-two keys by six rows
// of score sums, and six rows by thirty-two columns of combined rows, twelve independent
// sums either way. Per element the operations are those of attention_avx2.c's helpers.
#include "attention_wide.h"

#if defined(__x86_64__)
#include "avx512_math.h"
#include <math.h>

/// Keys [j, j + 16·w) of s_r for R rows: w zmm of keys per row (w ≤ 2, R ≤ 6, constant after
/// inlining); lanes at or past np are not read, past n not stored.
MOE_AVX512_INLINE void score_block(
    float *s, ptrdiff_t lds, const float *x, const float *yt, ptrdiff_t j, ptrdiff_t n, ptrdiff_t np,
    ptrdiff_t hd, float scale, const int R, const int w) {
    __m512 acc[6][2];
    __mmask16 read[2] = {moe_lanes16(np - j), moe_lanes16(np - j - 16)};
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    const float *y = yt + j;
    for (ptrdiff_t d = 0; d < hd; d++, y += np) {
        __m512 k[2];
        for (int u = 0; u < w; u++) k[u] = _mm512_maskz_loadu_ps(read[u], y + 16 * u);
        for (int r = 0; r < R; r++) {
            __m512 b = _mm512_set1_ps(x[r * hd + d]);
            for (int u = 0; u < w; u++) acc[r][u] = _mm512_fmadd_ps(b, k[u], acc[r][u]);
        }
    }
    const __m512 sc = _mm512_set1_ps(scale);
    for (int r = 0; r < R; r++)
        for (int u = 0; u < w; u++)
            _mm512_mask_storeu_ps(s + r * lds + j + 16 * u, moe_lanes16(n - j - 16 * u), _mm512_mul_ps(acc[r][u], sc));
}

MOE_AVX512_INLINE void score_rows(
    float *s, ptrdiff_t lds, const float *x, const float *yt, ptrdiff_t n, ptrdiff_t np, ptrdiff_t hd,
    float scale, const int R) {
    ptrdiff_t j = 0;
    for (; j + 16 < np; j += 32) score_block(s, lds, x, yt, j, n, np, hd, scale, R, 2);
    if (j < np) score_block(s, lds, x, yt, j, n, np, hd, scale, R, 1);
}

MOE_AVX512 void moe_attention_scores_avx512(
    float *s, ptrdiff_t lds, const float *x, const float *yt, ptrdiff_t n, ptrdiff_t np, ptrdiff_t hd,
    float scale, ptrdiff_t rows) {
#define SCORE_ROWS(R) score_rows(s, lds, x, yt, n, np, hd, scale, R)
    // Each case inlines its own constant R; 6, the common one, is the default.
    switch (rows) {
    case 1: SCORE_ROWS(1); break;
    case 2: SCORE_ROWS(2); break;
    case 3: SCORE_ROWS(3); break;
    case 4: SCORE_ROWS(4); break;
    case 5: SCORE_ROWS(5); break;
    default: SCORE_ROWS(6); break;
    }
#undef SCORE_ROWS
}

/// Columns [0, 16·w) of out_r (+)= alpha·Σ_j c_r[j]·m_j for R rows (R ≤ 6, w ≤ 2); `last`
/// lanes of the last zmm (8 for a column count of 8 mod 16, else 16).
MOE_AVX512_INLINE void combine_block(
    float *out, ptrdiff_t ldo, const float *c, ptrdiff_t ldc, const float *m, ptrdiff_t ld, ptrdiff_t n,
    float alpha, int mode, const int R, const int w, ptrdiff_t last) {
    __m512 acc[6][2];
    __mmask16 use[2] = {w == 1 ? moe_lanes16(last) : moe_lanes16(16), moe_lanes16(last)};
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (ptrdiff_t j = 0; j < n; j++) {
        __m512 x[2];
        for (int u = 0; u < w; u++) x[u] = _mm512_maskz_loadu_ps(use[u], m + j * ld + 16 * u);
        for (int r = 0; r < R; r++) {
            __m512 b = _mm512_set1_ps(c[r * ldc + j]);
            for (int u = 0; u < w; u++) acc[r][u] = _mm512_fmadd_ps(b, x[u], acc[r][u]);
        }
    }
    const __m512 al = _mm512_set1_ps(alpha);
    for (int r = 0; r < R; r++) {
        for (int u = 0; u < w; u++) {
            float *o = out + r * ldo + 16 * u;
            __m512 v = _mm512_mul_ps(acc[r][u], al);
            if (mode == MOE_COMBINE_ADD) v = _mm512_add_ps(_mm512_maskz_loadu_ps(use[u], o), v);
            else if (mode == MOE_COMBINE_STORE_PLUS_ZERO) v = _mm512_add_ps(v, _mm512_setzero_ps());
            _mm512_mask_storeu_ps(o, use[u], v);
        }
    }
}

MOE_AVX512_INLINE void combine_rows(
    float *out, ptrdiff_t ldo, const float *c, ptrdiff_t ldc, const float *m, ptrdiff_t ld, ptrdiff_t n,
    ptrdiff_t hd, float alpha, int mode, const int R) {
    ptrdiff_t d = 0;
    for (; d + 32 <= hd; d += 32) combine_block(out + d, ldo, c, ldc, m + d, ld, n, alpha, mode, R, 2, 16);
    if (hd - d > 16) combine_block(out + d, ldo, c, ldc, m + d, ld, n, alpha, mode, R, 2, hd - d - 16);
    else if (hd > d) combine_block(out + d, ldo, c, ldc, m + d, ld, n, alpha, mode, R, 1, hd - d);
}

MOE_AVX512 void moe_attention_combine_avx512(
    float *out, ptrdiff_t ldo, const float *c, ptrdiff_t ldc, const float *m, ptrdiff_t ld, ptrdiff_t n,
    ptrdiff_t hd, float alpha, int mode, ptrdiff_t rows) {
#define COMBINE_ROWS(R) combine_rows(out, ldo, c, ldc, m, ld, n, hd, alpha, mode, R)
    for (; rows >= 6; rows -= 6, out += 6 * ldo, c += 6 * ldc) COMBINE_ROWS(6);
    switch (rows) {
    case 1: COMBINE_ROWS(1); break;
    case 2: COMBINE_ROWS(2); break;
    case 3: COMBINE_ROWS(3); break;
    case 4: COMBINE_ROWS(4); break;
    case 5: COMBINE_ROWS(5); break;
    default: break;
    }
#undef COMBINE_ROWS
}

/// softmax_row of attention_avx2.c for R rows (n ≤ 256) side by side, so that their chains
/// overlap: the same exps, sums and products per element, sixteen lanes at a time, with
/// each sixteen added to the row's eight-lane sum as two eights in order.
MOE_AVX512_INLINE void softmax_block(float *s, ptrdiff_t n, const int R) {
    ptrdiff_t vectors = (n + 15) / 16;
    __mmask16 last = moe_lanes16(n - 16 * (vectors - 1));
    const __m512 minus_inf = _mm512_set1_ps(-INFINITY);
    __m512 mv[6];
    for (int r = 0; r < R; r++) mv[r] = minus_inf;
    for (ptrdiff_t v = 0; v < vectors; v++) {
        __mmask16 lanes = v + 1 < vectors ? (__mmask16)0xFFFF : last;
        for (int r = 0; r < R; r++)
            mv[r] = _mm512_max_ps(mv[r], _mm512_mask_loadu_ps(minus_inf, lanes, s + r * n + 16 * v));
    }
    __m512 m[6];
    __m256 acc[6];
    int finite[6];
    for (int r = 0; r < R; r++) {
        float mr = _mm512_reduce_max_ps(mv[r]);
        finite[r] = mr > -INFINITY && isfinite(mr);
        m[r] = _mm512_set1_ps(mr);
        acc[r] = _mm256_setzero_ps();
    }
    float e[6][256] __attribute__((aligned(64)));
    for (ptrdiff_t v = 0; v < vectors; v++) {
        __mmask16 lanes = v + 1 < vectors ? (__mmask16)0xFFFF : last;
        for (int r = 0; r < R; r++) {
            __m512 x = moe_exp512(_mm512_sub_ps(_mm512_mask_loadu_ps(minus_inf, lanes, s + r * n + 16 * v), m[r]));
            _mm512_store_ps(e[r] + 16 * v, x);
            acc[r] = _mm256_add_ps(acc[r], _mm512_castps512_ps256(x));
            // The upper eight only where the eight-lane row has them (the tail's lanes are 0).
            __m256 upper = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1));
            if (16 * v + 8 < n) acc[r] = _mm256_add_ps(acc[r], upper);
        }
    }
    for (int r = 0; r < R; r++) {
        float *row = s + r * n;
        if (!finite[r]) {
            for (ptrdiff_t j = 0; j < n; j++) row[j] = NAN;
            continue;
        }
        __m512 inverse = _mm512_set1_ps(1.0f / moe_hsum(acc[r]));
        for (ptrdiff_t v = 0; v < vectors; v++) {
            __mmask16 lanes = v + 1 < vectors ? (__mmask16)0xFFFF : last;
            _mm512_mask_storeu_ps(row + 16 * v, lanes, _mm512_mul_ps(_mm512_load_ps(e[r] + 16 * v), inverse));
        }
    }
}

MOE_AVX512 void moe_attention_softmax_avx512(float *s, ptrdiff_t n, ptrdiff_t rows) {
    switch (rows) {
    case 1: softmax_block(s, n, 1); break;
    case 2: softmax_block(s, n, 2); break;
    case 3: softmax_block(s, n, 3); break;
    case 4: softmax_block(s, n, 4); break;
    case 5: softmax_block(s, n, 5); break;
    default: softmax_block(s, n, 6); break;
    }
}
#else
void moe_attention_softmax_avx512(float *s, ptrdiff_t n, ptrdiff_t rows) {}
void moe_attention_scores_avx512(
    float *s, ptrdiff_t lds, const float *x, const float *yt, ptrdiff_t n, ptrdiff_t np, ptrdiff_t hd,
    float scale, ptrdiff_t rows) {}
void moe_attention_combine_avx512(
    float *out, ptrdiff_t ldo, const float *c, ptrdiff_t ldc, const float *m, ptrdiff_t ld, ptrdiff_t n,
    ptrdiff_t hd, float alpha, int mode, ptrdiff_t rows) {}
#endif
