// AdamW's update in AVX-512F, sixteen values at a time: AdamW.kernel's operations lane for
// lane, each product, quotient and sum rounded on its own (no fused multiply-adds), so the
// results are the Swift kernel's bit for bit.
#include "CKernels.h"

#if defined(__x86_64__)
#include "avx512_math.h"
#include "exact_math.h"

MOE_EXACT_AVX512 void moe_adamw_avx512(
    float *theta, const float *grad, float *m, float *v, ptrdiff_t count, float decay, float beta1,
    float beta2, float step_size, float bc2_sqrt, float eps) {
    const __m512 b1 = _mm512_set1_ps(beta1), c1 = _mm512_set1_ps(1 - beta1);
    const __m512 b2 = _mm512_set1_ps(beta2), c2 = _mm512_set1_ps(1 - beta2);
    const __m512 dc = _mm512_set1_ps(decay), step = _mm512_set1_ps(step_size);
    const __m512 root = _mm512_set1_ps(bc2_sqrt), epsilon = _mm512_set1_ps(eps);
    for (ptrdiff_t i = 0; i < count; i += 16) {
        __mmask16 lanes = moe_lanes16(count - i);
        __m512 g = _mm512_maskz_loadu_ps(lanes, grad + i);
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_maskz_loadu_ps(lanes, m + i)), _mm512_mul_ps(c1, g));
        __m512 vi = _mm512_add_ps(
            _mm512_mul_ps(b2, _mm512_maskz_loadu_ps(lanes, v + i)), _mm512_mul_ps(c2, _mm512_mul_ps(g, g)));
        _mm512_mask_storeu_ps(m + i, lanes, mi);
        _mm512_mask_storeu_ps(v + i, lanes, vi);
        __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), root), epsilon);
        __m512 th = _mm512_sub_ps(
            _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, theta + i), dc), _mm512_div_ps(_mm512_mul_ps(step, mi), denom));
        _mm512_mask_storeu_ps(theta + i, lanes, th);
    }
}

#else
void moe_adamw_avx512(
    float *theta, const float *grad, float *m, float *v, ptrdiff_t count, float decay, float beta1,
    float beta2, float step_size, float bc2_sqrt, float eps) {}
#endif
