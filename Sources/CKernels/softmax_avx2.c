// Row softmax for many short rows (the routers' B·N rows over E experts), bit for bit
// Softmax.swift's softmaxRow: its operations on eight lanes in the same order, none fused
// (the package's Swift is built without FMA), the lanes summed in order from −0. At the
// baseline SIMD width the routers' rows took 0.58 ms of a bench-tiny training step and
// 2.1 ms of inference; here 0.20 and 0.68.
#include "CKernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include "avx2_math.h"
#include <math.h>

/// fastExp (VectorMath.swift): e^x, 0 below −87.33, saturating above 88.37, NaN kept.
MOE_AVX2_INLINE __m256 exp_unfused(__m256 x) {
    const __m256 low = _mm256_set1_ps(-87.33f), high = _mm256_set1_ps(88.37f);
    __m256 below = _mm256_cmp_ps(x, low, _CMP_LT_OQ);
    __m256 c = _mm256_blendv_ps(x, low, below);
    c = _mm256_blendv_ps(c, high, _mm256_cmp_ps(c, high, _CMP_GT_OQ));
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 shifted = _mm256_add_ps(_mm256_mul_ps(c, _mm256_set1_ps(1.44269504f)), magic);
    __m256 n = _mm256_sub_ps(shifted, magic);
    __m256 r = _mm256_sub_ps(c, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(-2.1219444e-4f)));
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 p = _mm256_set1_ps(moe_exp_polynomial[0]);
    for (int i = 1; i < 6; i++) p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(moe_exp_polynomial[i]));
    __m256 e = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, r2), r), _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000));
    __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(127)), 23));
    return _mm256_blendv_ps(_mm256_mul_ps(e, scale), _mm256_setzero_ps(), below);
}

/// softmaxRow of one row: out may equal in.
MOE_AVX2_INLINE void softmax_row(float *out, const float *in, ptrdiff_t n) {
    ptrdiff_t full = n & ~(ptrdiff_t)7;
    // The maximum: lanes replaced where greater (NaN never is), then the lanes and the tail.
    __m256 lanes_max = _mm256_set1_ps(-INFINITY);
    for (ptrdiff_t j = 0; j < full; j += 8) {
        __m256 v = _mm256_loadu_ps(in + j);
        lanes_max = _mm256_blendv_ps(lanes_max, v, _mm256_cmp_ps(v, lanes_max, _CMP_GT_OQ));
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, lanes_max);
    float m = lanes[0];
    for (int t = 1; t < 8; t++) m = lanes[t] > m ? lanes[t] : m;
    for (ptrdiff_t j = full; j < n; j++)
        if (in[j] > m) m = in[j];
    if (!(m > -INFINITY) || !isfinite(m)) {
        for (ptrdiff_t j = 0; j < n; j++) out[j] = NAN;
        return;
    }
    __m256 mb = _mm256_set1_ps(m), acc = _mm256_setzero_ps();
    for (ptrdiff_t j = 0; j < full; j += 8) {
        __m256 e = exp_unfused(_mm256_sub_ps(_mm256_loadu_ps(in + j), mb));
        _mm256_storeu_ps(out + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (full < n) {  // padding lanes −∞: their e is exactly 0
        // A masked load: eight scalar stores read back as a vector stalled the forwarding.
        __m256 tail = _mm256_castsi256_ps(moe_tail_mask(n - full));
        __m256 v = _mm256_blendv_ps(
            _mm256_set1_ps(-INFINITY), _mm256_maskload_ps(in + full, _mm256_castps_si256(tail)), tail);
        __m256 e = exp_unfused(_mm256_sub_ps(v, mb));
        acc = _mm256_add_ps(acc, e);
        _mm256_storeu_ps(lanes, e);
        for (ptrdiff_t j = full; j < n; j++) out[j] = lanes[j - full];
    }
    _mm256_storeu_ps(lanes, acc);
    float sum = -0.0f;
    for (int t = 0; t < 8; t++) sum += lanes[t];
    float inverse = 1 / sum;
    __m256 ib = _mm256_set1_ps(inverse);
    for (ptrdiff_t j = 0; j < full; j += 8) _mm256_storeu_ps(out + j, _mm256_mul_ps(_mm256_loadu_ps(out + j), ib));
    for (ptrdiff_t j = full; j < n; j++) out[j] *= inverse;
}

MOE_AVX2 void moe_softmax_rows_avx2(float *out, const float *in, ptrdiff_t rows, ptrdiff_t cols) {
    for (ptrdiff_t r = 0; r < rows; r++) softmax_row(out + r * cols, in + r * cols, cols);
}
#else
void moe_softmax_rows_avx2(float *out, const float *in, ptrdiff_t rows, ptrdiff_t cols) {}
#endif
