// The bias gradient's column sums in AVX-512F (Bias.swift has the order they keep).
#include "CKernels.h"

#if defined(__x86_64__)
#include "avx512_math.h"
#include "exact_math.h"

enum { WIDTH = 64 };  // columns summed at once: four zmm accumulators

MOE_EXACT_AVX512 void moe_bias_backward_avx512(
    float *dbias, const float *dout, ptrdiff_t ld, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t block) {
    for (ptrdiff_t c0 = 0; c0 < cols; c0 += WIDTH) {
        ptrdiff_t width = cols - c0 < WIDTH ? cols - c0 : WIDTH;
        __mmask16 mask[4];
        for (int v = 0; v < 4; v++) mask[v] = moe_lanes16(width - 16 * v);
        for (ptrdiff_t r0 = 0; r0 < rows; r0 += block) {
            ptrdiff_t r1 = rows - r0 < block ? rows : r0 + block;
            __m512 partial[4];
            for (int v = 0; v < 4; v++) partial[v] = _mm512_setzero_ps();
            for (ptrdiff_t r = r0; r < r1; r++) {
                const float *row = dout + r * ld + c0;
                for (int v = 0; v < 4; v++)
                    partial[v] = _mm512_add_ps(partial[v], _mm512_maskz_loadu_ps(mask[v], row + 16 * v));
            }
            for (int v = 0; v < 4; v++) {
                float *sums = dbias + c0 + 16 * v;
                _mm512_mask_storeu_ps(sums, mask[v], _mm512_add_ps(_mm512_maskz_loadu_ps(mask[v], sums), partial[v]));
            }
        }
    }
}

#else
void moe_bias_backward_avx512(
    float *dbias, const float *dout, ptrdiff_t ld, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t block) {}
#endif
