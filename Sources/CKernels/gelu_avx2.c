// Exact (erf) GELU, AVX2/FMA: the formulas of MoETensor/Kernels/GELU.swift, 8 lanes a step.
#include "CKernels.h"
#include "avx2_math.h"

#if defined(__x86_64__) || defined(__i386__)
static const float inverse_sqrt2 = 0.7071067811865475f;
static const float inverse_sqrt2pi = 0.3989422804014327f;

/// y = x·Φ(x) and, when wanted, Φ(x) + x·φ(x) with Φ = (1 + erf(x/√2))/2.
MOE_AVX2_INLINE __m256 gelu_and_derivative(__m256 x, __m256 *derivative) {
    __m256 gaussian;
    __m256 erf = moe_erf_and_gaussian(_mm256_mul_ps(x, _mm256_set1_ps(inverse_sqrt2)), &gaussian);
    __m256 cdf = _mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_add_ps(_mm256_set1_ps(1.0f), erf));
    *derivative = _mm256_fmadd_ps(_mm256_mul_ps(x, gaussian), _mm256_set1_ps(inverse_sqrt2pi), cdf);
    return _mm256_mul_ps(x, cdf);
}

MOE_AVX2 void moe_gelu_forward_avx2(float *out, const float *inp, ptrdiff_t count) {
    __m256 unused;
    ptrdiff_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(out + i, gelu_and_derivative(_mm256_loadu_ps(inp + i), &unused));
    if (i < count) {
        __m256i mask = moe_tail_mask(count - i);
        _mm256_maskstore_ps(out + i, mask, gelu_and_derivative(_mm256_maskload_ps(inp + i, mask), &unused));
    }
}

MOE_AVX2 void moe_gelu_forward_derivative_avx2(
    float *out, float *derivative, const float *inp, ptrdiff_t count) {
    __m256 g;
    ptrdiff_t i = 0;
    for (; i + 8 <= count; i += 8) {
        _mm256_storeu_ps(out + i, gelu_and_derivative(_mm256_loadu_ps(inp + i), &g));
        _mm256_storeu_ps(derivative + i, g);
    }
    if (i < count) {
        __m256i mask = moe_tail_mask(count - i);
        _mm256_maskstore_ps(out + i, mask, gelu_and_derivative(_mm256_maskload_ps(inp + i, mask), &g));
        _mm256_maskstore_ps(derivative + i, mask, g);
    }
}

MOE_AVX2 void moe_gelu_backward_avx2(float *dinp, const float *inp, const float *dout, ptrdiff_t count) {
    __m256 g;
    ptrdiff_t i = 0;
    for (; i + 8 <= count; i += 8) {
        gelu_and_derivative(_mm256_loadu_ps(inp + i), &g);
        _mm256_storeu_ps(dinp + i, _mm256_fmadd_ps(_mm256_loadu_ps(dout + i), g, _mm256_loadu_ps(dinp + i)));
    }
    if (i < count) {
        __m256i mask = moe_tail_mask(count - i);
        gelu_and_derivative(_mm256_maskload_ps(inp + i, mask), &g);
        __m256 d = _mm256_fmadd_ps(_mm256_maskload_ps(dout + i, mask), g, _mm256_maskload_ps(dinp + i, mask));
        _mm256_maskstore_ps(dinp + i, mask, d);
    }
}
#else
void moe_gelu_forward_avx2(float *out, const float *inp, ptrdiff_t count) {}
void moe_gelu_forward_derivative_avx2(float *out, float *derivative, const float *inp, ptrdiff_t count) {}
void moe_gelu_backward_avx2(float *dinp, const float *inp, const float *dout, ptrdiff_t count) {}
#endif
