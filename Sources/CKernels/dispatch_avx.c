// Row kernels of the token dispatch (Dispatch.swift), bit for bit the portable ones
// (exact_math.h: no contraction): rows scaled and added sixteen lanes wide, whose lanes are
// independent, and dot products eight lanes wide, summed as SIMD8<Float> sums them.
#include "CKernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include "exact_math.h"

MOE_EXACT_AVX512 void moe_row_add_scaled_avx512(
    float *dst, const float *src, float scale, ptrdiff_t dim, int accumulate) {
    const __m512 s = _mm512_set1_ps(scale);
    ptrdiff_t j = 0;
    // Unmasked where whole: a row's sources add into it back to back, and a load from a
    // masked store is not forwarded (measured: the scatter-add twice as slow as SSE).
    for (; j + 16 <= dim; j += 16) {
        __m512 product = _mm512_mul_ps(s, _mm512_loadu_ps(src + j));
        __m512 base = accumulate ? _mm512_loadu_ps(dst + j) : _mm512_setzero_ps();
        _mm512_storeu_ps(dst + j, _mm512_add_ps(base, product));
    }
    for (; j < dim; j++) {
        float product = scale * src[j];
        dst[j] = (accumulate ? dst[j] : 0.0f) + product;
    }
}

MOE_EXACT_AVX2 float moe_row_dot_avx2(const float *a, const float *b, ptrdiff_t dim) {
    ptrdiff_t full = dim & ~(ptrdiff_t)7;
    __m256 acc = _mm256_setzero_ps();
    for (ptrdiff_t j = 0; j < full; j += 8)
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j)));
    float s = moe_sum_lanes_in_order(acc);
    for (ptrdiff_t j = full; j < dim; j++) {
        float p = a[j] * b[j];
        s = s + p;
    }
    return s;
}

MOE_EXACT_AVX512 void moe_gather_rows_avx512(
    float *out, const float *src, const int32_t *row_indices, ptrdiff_t count, ptrdiff_t dim) {
    enum { AHEAD = 4 };
    for (ptrdiff_t i = 0; i < count; i++) {
        if (i + AHEAD < count) {
            const char *next = (const char *)(src + (ptrdiff_t)row_indices[i + AHEAD] * dim);
            for (ptrdiff_t b = 0; b < dim * (ptrdiff_t)sizeof(float); b += 64) _mm_prefetch(next + b, _MM_HINT_T0);
        }
        const float *row = src + (ptrdiff_t)row_indices[i] * dim;
        float *to = out + i * dim;
        ptrdiff_t j = 0;
        for (; j + 16 <= dim; j += 16) _mm512_storeu_ps(to + j, _mm512_loadu_ps(row + j));
        for (; j < dim; j++) to[j] = row[j];
    }
}

#else
void moe_gather_rows_avx512(float *out, const float *src, const int32_t *row_indices, ptrdiff_t count, ptrdiff_t dim) {}
void moe_row_add_scaled_avx512(float *dst, const float *src, float scale, ptrdiff_t dim, int accumulate) {}
float moe_row_dot_avx2(const float *a, const float *b, ptrdiff_t dim) { return 0; }
#endif
