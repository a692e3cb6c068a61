// Single-precision GEMM in AVX-512 (CKernels.h has the contract). Blocking:
//   for each block of kb ≤ 2Q inner rows (in order: each element's blocks add up in order)
//     for each 512 columns of C:          B[kb, 512] packed into 32-column panels (≤ 1 MB, L2)
//       for each 12 rows of C:            A's 12×kb block read as stored (L1 after the first
//                                         panel; packing it k-major measured 4–45 % slower)
//         for each panel: a 12×32 tile of C in 24 zmm accumulators, one FMA chain per element
// Software prefetches in the tile (the bench-tiny step −8 %): C's and the factor's lines during
// its first inner rows, and a transposed A's rows (activations back from memory) 24 rows ahead;
// in the packing, B's rows ahead of the loads.
#include "CKernels.h"
#include "workspace.h"

#if defined(__x86_64__)
#include "avx512_math.h"

enum { MR = 12, NR = 32, NC = 512 };

ptrdiff_t moe_sgemm_avx512_block_length(ptrdiff_t rest) {
    if (rest >= 2 * MOE_SGEMM_AVX512_Q) return MOE_SGEMM_AVX512_Q;
    if (rest > MOE_SGEMM_AVX512_Q) {
        ptrdiff_t unroll = MOE_SGEMM_AVX512_UNROLL;
        return (rest / 2 + unroll - 1) / unroll * unroll;
    }
    return rest;
}

/// One inner row p of a tile: acc[r] += a_rp·b_p for its rows r (constant after inlining).
MOE_AVX512_INLINE void step(
    __m512 acc[MR][2], int rows, int halves, int row_major, const float *ap, ptrdiff_t ap_stride, const float *bp,
    ptrdiff_t p) {
    __m512 b0 = _mm512_load_ps(bp + p * NR);
    __m512 b1 = halves == 2 ? _mm512_load_ps(bp + p * NR + 16) : b0;
#pragma clang loop unroll(full)
    for (int r = 0; r < rows; r++) {
        __m512 av = _mm512_set1_ps(row_major ? ap[r * ap_stride + p] : ap[p * ap_stride + r]);
        acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
        if (halves == 2) acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
}

/// One tile: rows×32 of C (columns past the panel's width masked off; `halves` 1 computes
/// only the first 16). A's element (r, p) is ap[r·ap_stride + p] when `row_major`, else
/// ap[p·ap_stride + r] (A stored transposed); `bp` is the panel, 32 floats per inner row.
/// C = fma(acc, alpha, C') with C' = C, beta·C, 0 or the panel's bias `bias` (`scale` 0, 1, 2
/// or 3), then, with a `factor` (the tile's corner, ldc apart), C·factor + 0. `fetch_a`: A is
/// stored transposed and this is its strip's first panel, so its rows are asked for ahead.
MOE_AVX512_INLINE void tile(
    int rows, int halves, int row_major, ptrdiff_t kb, const float *ap, ptrdiff_t ap_stride,
    const float *bp, float *c, ptrdiff_t ldc, __mmask16 mask0, __mmask16 mask1, float alpha,
    float beta, int scale, const float *bias, const float *factor, int fetch_a) {
    // Every loop over the rows unrolled (rows is constant here): a rolled one keeps acc in
    // memory, zeroed by a memset call and spilled around the products (1 % of a step).
    __m512 acc[MR][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < rows; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    // C's lines (and the factor's) fetched one per inner row while the tile multiplies: left
    // to the stores, C's misses stalled them; fetched all at once, they held the misses B's
    // loads need.
    ptrdiff_t p = 0;
    for (; p < kb && p < halves * rows; p++) {
        ptrdiff_t offset = (p / halves) * ldc + (p % halves) * 16;
        _mm_prefetch((const char *)(c + offset), _MM_HINT_T0);
        if (factor) _mm_prefetch((const char *)(factor + offset), _MM_HINT_T0);
        step(acc, rows, halves, row_major, ap, ap_stride, bp, p);
    }
    if (fetch_a) {
        // Aᵀ's rows, the weight gradients' activations, come from memory: its 12 columns of
        // inner row p + 24 asked for at row p (past the block's end harmlessly: a prefetch
        // never faults).
        for (; p < kb; p++) {
            _mm_prefetch((const char *)(ap + (p + 24) * ap_stride), _MM_HINT_T0);
            _mm_prefetch((const char *)(ap + (p + 24) * ap_stride + rows - 1), _MM_HINT_T0);
            step(acc, rows, halves, row_major, ap, ap_stride, bp, p);
        }
    }
    for (; p < kb; p++) step(acc, rows, halves, row_major, ap, ap_stride, bp, p);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (scale == 3) {
        bias0 = _mm512_maskz_loadu_ps(mask0, bias);
        if (halves == 2) bias1 = _mm512_maskz_loadu_ps(mask1, bias + 16);
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        __m512 c0 = bias0, c1 = bias1;
        if (scale < 2) {
            c0 = _mm512_maskz_loadu_ps(mask0, cr);
            if (halves == 2) c1 = _mm512_maskz_loadu_ps(mask1, cr + 16);
            if (scale == 1) c0 = _mm512_mul_ps(c0, vb), c1 = _mm512_mul_ps(c1, vb);
        }
        c0 = _mm512_fmadd_ps(acc[r][0], va, c0);
        if (halves == 2) c1 = _mm512_fmadd_ps(acc[r][1], va, c1);
        if (factor) {
            // + 0 stores a −0 product as +0, as adding the product to zeros would.
            const float *fr = factor + r * ldc;
            c0 = _mm512_add_ps(_mm512_mul_ps(c0, _mm512_maskz_loadu_ps(mask0, fr)), _mm512_setzero_ps());
            if (halves == 2)
                c1 = _mm512_add_ps(_mm512_mul_ps(c1, _mm512_maskz_loadu_ps(mask1, fr + 16)), _mm512_setzero_ps());
        }
        _mm512_mask_storeu_ps(cr, mask0, c0);
        if (halves == 2) _mm512_mask_storeu_ps(cr + 16, mask1, c1);
    }
}

#define TILE(R, HALVES, ROW_MAJOR) \
    tile(R, HALVES, ROW_MAJOR, kb, ap, ap_stride, bp, c, ldc, mask0, mask1, alpha, beta, scale, bias, factor, fetch_a)
#define TILE_CASE(R)                                           \
    case R:                                                    \
        if (row_major) mask1 ? TILE(R, 2, 1) : TILE(R, 1, 1);  \
        else mask1 ? TILE(R, 2, 0) : TILE(R, 1, 0);            \
        break;

/// `tile` with its shape arguments constant.
MOE_AVX512 static void tile_any(
    int rows, int row_major, ptrdiff_t kb, const float *ap, ptrdiff_t ap_stride, const float *bp, float *c,
    ptrdiff_t ldc, __mmask16 mask0, __mmask16 mask1, float alpha, float beta, int scale, const float *bias,
    const float *factor, int fetch_a) {
    switch (rows) {
        TILE_CASE(12) TILE_CASE(11) TILE_CASE(10) TILE_CASE(9) TILE_CASE(8) TILE_CASE(7)
        TILE_CASE(6) TILE_CASE(5) TILE_CASE(4) TILE_CASE(3) TILE_CASE(2) TILE_CASE(1)
        default: break;
    }
}

/// v[q] ← (v[0][q], v[1][q], …, v[15][q]): a 16×16 transpose, by pairs, fours, then 128-bit
/// lanes.
MOE_AVX512_INLINE void transpose16(__m512 v[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
    // u[4g + c] holds, in 128-bit lane L, element 4L + c of rows 4g..4g+3.
    for (int g = 0; g < 4; g++) {
        __m512 *tg = t + 4 * g;
        u[4 * g] = _mm512_shuffle_ps(tg[0], tg[2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(tg[0], tg[2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(tg[1], tg[3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(tg[1], tg[3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        __m512 even01 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), odd01 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
        __m512 even23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        __m512 odd23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        v[c] = _mm512_shuffle_f32x4(even01, even23, 0x88);
        v[8 + c] = _mm512_shuffle_f32x4(even01, even23, 0xDD);
        v[4 + c] = _mm512_shuffle_f32x4(odd01, odd23, 0x88);
        v[12 + c] = _mm512_shuffle_f32x4(odd01, odd23, 0xDD);
    }
}

/// B's rows p0..<p0+kb as 32-column panels, zero-padded: panel j holds columns 32j..<32j+32,
/// one 32-float row per inner row. B's rows come back from memory (a weight on its first use
/// in a step): read in order and asked for ahead, they no longer stall the packing (its share
/// of a step's samples 7.6 → 4.5 %).
MOE_AVX512 static void pack_b(
    float *bp, int trans_b, ptrdiff_t n, ptrdiff_t kb, const float *b, ptrdiff_t ldb) {
    ptrdiff_t panels = (n + NR - 1) / NR;
    if (!trans_b) {
        // Row by row across the panels, row p + 8 asked for at row p. Masked loads zero the
        // padding; a 128-byte memcpy per row measured as a libc call each.
        for (ptrdiff_t p = 0; p < kb; p++) {
            const float *row = b + p * ldb;
            for (ptrdiff_t j = 0; j < panels; j++) {
                ptrdiff_t width = n - j * NR < NR ? n - j * NR : NR;
                float *panel = bp + j * kb * NR + p * NR;
                _mm_prefetch((const char *)(row + 8 * ldb + j * NR), _MM_HINT_T0);
                _mm_prefetch((const char *)(row + 8 * ldb + j * NR + 16), _MM_HINT_T0);
                _mm512_store_ps(panel, _mm512_maskz_loadu_ps(moe_lanes16(width), row + j * NR));
                _mm512_store_ps(panel + 16, _mm512_maskz_loadu_ps(moe_lanes16(width - 16), row + j * NR + 16));
            }
        }
        return;
    }
    // Sixteen of B's rows by sixteen inner rows at a time, transposed in registers, each row's
    // next four lines asked for ahead. A panel of at most 16 columns is read one zmm wide
    // (`tile`): its second half is left unwritten.
    for (ptrdiff_t j = 0; j < panels; j++) {
        ptrdiff_t width = n - j * NR < NR ? n - j * NR : NR;
        float *panel = bp + j * kb * NR;
        for (int half = 0; half < 2 && width > 16 * half; half++) {
            ptrdiff_t first = j * NR + 16 * half, rows = width - 16 * half;
            for (ptrdiff_t p = 0; p < kb; p += 16) {
                __mmask16 read = moe_lanes16(kb - p);
                __m512 v[16];
                for (int i = 0; i < 16; i++) {
                    if (i < rows) _mm_prefetch((const char *)(b + (first + i) * ldb + p + 64), _MM_HINT_T0);
                    v[i] = _mm512_maskz_loadu_ps(i < rows ? read : 0, i < rows ? b + (first + i) * ldb + p : b);
                }
                transpose16(v);
                for (ptrdiff_t q = 0; q < 16 && p + q < kb; q++) _mm512_store_ps(panel + (p + q) * NR + 16 * half, v[q]);
            }
        }
    }
}

/// C's columns [0, n) (n ≤ NC) for the inner rows [p0, p0 + kb): B's block packed, then every
/// 12 rows of C. `scale`, `bias` and `factor` (these columns') as for `tile`.
MOE_AVX512 static void multiply_block(
    int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t p0, ptrdiff_t kb, float alpha,
    const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, int scale, const float *bias,
    const float *factor, float *c, ptrdiff_t ldc, float *bp) {
    ptrdiff_t panels = (n + NR - 1) / NR;
    pack_b(bp, trans_b, n, kb, trans_b ? b + p0 : b + p0 * ldb, ldb);
    int row_major = !trans_a;
    for (ptrdiff_t i0 = 0; i0 < m; i0 += MR) {
        int rows = (int)(m - i0 < MR ? m - i0 : MR);
        const float *ap = trans_a ? a + p0 * lda + i0 : a + i0 * lda + p0;
        for (ptrdiff_t j = 0; j < panels; j++) {
            ptrdiff_t width = n - j * NR < NR ? n - j * NR : NR;
            __mmask16 mask0 = moe_lanes16(width), mask1 = moe_lanes16(width - 16);
            tile_any(
                rows, row_major, kb, ap, lda, bp + j * kb * NR, c + i0 * ldc + j * NR, ldc, mask0,
                mask1, alpha, beta, scale, bias ? bias + j * NR : NULL,
                factor ? factor + i0 * ldc + j * NR : NULL, trans_a && j == 0);
        }
    }
}

MOE_AVX512 int moe_sgemm_avx512(
    int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
    const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, const float *bias,
    const float *factor, float *c, ptrdiff_t ldc) {
    if (m <= 0 || n <= 0) return 0;
    ptrdiff_t width = n < NC ? n : NC;
    ptrdiff_t kb_max = k < MOE_SGEMM_AVX512_Q ? (k > 0 ? k : 0) : 2 * MOE_SGEMM_AVX512_Q;
    float *bp = moe_thread_workspace((size_t)(((width + NR - 1) / NR) * NR * kb_max) + 16);
    if (!bp) return -1;
    int scale = bias ? 3 : beta == 1 ? 0 : beta == 0 ? 2 : 1;
    ptrdiff_t p0 = 0;
    do {  // once when k is 0: C ← beta·C (or the bias)
        ptrdiff_t kb = moe_sgemm_avx512_block_length(k - p0);
        int last = p0 + kb >= k;
        for (ptrdiff_t j0 = 0; j0 < n; j0 += NC) {
            ptrdiff_t columns = n - j0 < NC ? n - j0 : NC;
            multiply_block(
                trans_a, trans_b, m, columns, p0, kb, alpha, a, lda, trans_b ? b + j0 * ldb : b + j0, ldb, beta,
                scale, bias ? bias + j0 : NULL, factor && last ? factor + j0 : NULL, c + j0, ldc, bp);
        }
        scale = 0;
        p0 += kb;
    } while (p0 < k);
    return 0;
}

#else
ptrdiff_t moe_sgemm_avx512_block_length(ptrdiff_t rest) { return rest; }
int moe_sgemm_avx512(
    int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
    const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, const float *bias,
    const float *factor, float *c, ptrdiff_t ldc) {
    return -1;
}
#endif
