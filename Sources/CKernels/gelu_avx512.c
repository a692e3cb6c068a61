// Exact (erf) GELU in AVX-512F: gelu_avx2.c sixteen lanes at a time. Each lane runs the same
// operations in the same order as there (avx2_math.h's exp and erf fits, the same fused
// multiply-adds), with masks where AVX2 blends, so the results are bit for bit the AVX2
// kernel's.
#include "CKernels.h"

#if defined(__x86_64__)
#include "avx512_math.h"

/// moe_erf_and_gaussian, sixteen lanes (sign bits through integer and/or: AVX-512F has no
/// float ones).
MOE_AVX512_INLINE __m512 erf_and_gaussian(__m512 x, __m512 *gaussian) {
    const __m512i sign_bit = _mm512_set1_epi32((int)0x80000000u);
    __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), sign_bit);
    __m512 a = _mm512_min_ps(_mm512_set1_ps(4.0f), _mm512_castsi512_ps(_mm512_andnot_si512(sign_bit, _mm512_castps_si512(x))));
    __m512 a2 = _mm512_mul_ps(a, a);
    __m512 small = _mm512_mul_ps(moe_horner512(moe_erf_small_polynomial, 7, a2), a);
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.5f), a, one));
    __m512 q = moe_horner512(moe_erf_large_polynomial, 8, t);
    __mmask16 beyond = _mm512_cmp_ps_mask(a, _mm512_set1_ps(4.0f), _CMP_GE_OQ);
    __m512 g = _mm512_maskz_mov_ps((__mmask16)~beyond, moe_exp_in_range512(_mm512_sub_ps(_mm512_setzero_ps(), a2)));
    __m512 large = _mm512_fnmadd_ps(g, q, one);
    __mmask16 below_one = _mm512_cmp_ps_mask(a, one, _CMP_LT_OQ);
    *gaussian = g;
    __m512 magnitude = _mm512_mask_blend_ps(below_one, large, small);
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(magnitude), sign));
}

/// y = x·Φ(x) and Φ(x) + x·φ(x), as gelu_avx2.c's gelu_and_derivative.
MOE_AVX512_INLINE __m512 gelu_and_derivative(__m512 x, __m512 *derivative) {
    __m512 gaussian;
    __m512 erf = erf_and_gaussian(_mm512_mul_ps(x, _mm512_set1_ps(0.7071067811865475f)), &gaussian);
    __m512 cdf = _mm512_mul_ps(_mm512_set1_ps(0.5f), _mm512_add_ps(_mm512_set1_ps(1.0f), erf));
    *derivative = _mm512_fmadd_ps(_mm512_mul_ps(x, gaussian), _mm512_set1_ps(0.3989422804014327f), cdf);
    return _mm512_mul_ps(x, cdf);
}

MOE_AVX512 void moe_gelu_forward_avx512(float *out, const float *inp, ptrdiff_t count) {
    __m512 unused;
    ptrdiff_t i = 0;
    for (; i + 16 <= count; i += 16) _mm512_storeu_ps(out + i, gelu_and_derivative(_mm512_loadu_ps(inp + i), &unused));
    if (i < count) {
        __mmask16 mask = moe_lanes16(count - i);
        _mm512_mask_storeu_ps(out + i, mask, gelu_and_derivative(_mm512_maskz_loadu_ps(mask, inp + i), &unused));
    }
}

MOE_AVX512 void moe_gelu_forward_derivative_avx512(float *out, float *derivative, const float *inp, ptrdiff_t count) {
    __m512 g;
    ptrdiff_t i = 0;
    for (; i + 16 <= count; i += 16) {
        _mm512_storeu_ps(out + i, gelu_and_derivative(_mm512_loadu_ps(inp + i), &g));
        _mm512_storeu_ps(derivative + i, g);
    }
    if (i < count) {
        __mmask16 mask = moe_lanes16(count - i);
        _mm512_mask_storeu_ps(out + i, mask, gelu_and_derivative(_mm512_maskz_loadu_ps(mask, inp + i), &g));
        _mm512_mask_storeu_ps(derivative + i, mask, g);
    }
}
#else
void moe_gelu_forward_avx512(float *out, const float *inp, ptrdiff_t count) {}
void moe_gelu_forward_derivative_avx512(float *out, float *derivative, const float *inp, ptrdiff_t count) {}
#endif
