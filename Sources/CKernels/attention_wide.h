// AVX-512 versions of the fused attention's two products (attention_avx512.c), for
// attention_avx2.c on CPUs with AVX-512F. Each output element is the same FMA chain, in the
// same order, as the AVX2 helpers compute (score_rows, combine_many) only sixteen lanes at
// a time instead of eight, so the attention's results are bit for bit the same on both.
// Internal to CKernels.
#pragma once

#include <stddef.h>

/// How a combined row reaches its output: stored; added to what the output holds; or stored
/// plus zero, which is what adding it to zeros stores (a −0 becomes +0) without reading them.
enum { MOE_COMBINE_STORE = 0, MOE_COMBINE_ADD = 1, MOE_COMBINE_STORE_PLUS_ZERO = 2 };

/// s_r[j] = scale·Σ_d x_r[d]·yt[d·np + j] for rows r < rows (x rows hd apart) and keys j < n;
/// s rows lds apart, yt rows np apart (np a multiple of 8). rows ≤ 6.
void moe_attention_scores_avx512(
    float *s, ptrdiff_t lds, const float *x, const float *yt, ptrdiff_t n, ptrdiff_t np, ptrdiff_t hd,
    float scale, ptrdiff_t rows);

/// out_r (+)= alpha·Σ_j c_r[j]·m_j over hd columns (a multiple of 8) for `rows` rows out_r =
/// out + r·ldo, c_r = c + r·ldc; m rows ld apart; `mode` a MOE_COMBINE_ value.
void moe_attention_combine_avx512(
    float *out, ptrdiff_t ldo, const float *c, ptrdiff_t ldc, const float *m, ptrdiff_t ld, ptrdiff_t n,
    ptrdiff_t hd, float alpha, int mode, ptrdiff_t rows);

/// softmax_row (attention_avx2.c) of `rows` ≤ 6 consecutive rows of n ≤ 256, bit for bit.
void moe_attention_softmax_avx512(float *s, ptrdiff_t n, ptrdiff_t rows);
