// LayerNorm over rows in AVX2, eight lanes in one register where the portable kernel
// (LayerNorm.swift) runs SIMD8<Float> at the package's baseline width: the same operations
// in the same order, lane sums from lane 0 up as SIMD8's sum(), so the results are bit for
// bit the portable kernel's (exact_math.h: no contraction).
#include "CKernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <math.h>

#include "exact_math.h"

MOE_EXACT_AVX2 void moe_layernorm_forward_avx2(
    float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias,
    ptrdiff_t rows, ptrdiff_t dim, float eps) {
    ptrdiff_t full = dim & ~(ptrdiff_t)7;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *x = inp + r * dim;
        float *y = out + r * dim;
        __m256 acc = _mm256_setzero_ps();
        for (ptrdiff_t i = 0; i < full; i += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + i));
        float sum = moe_sum_lanes_in_order(acc);
        for (ptrdiff_t i = full; i < dim; i++) sum = sum + x[i];
        float m = sum / (float)dim;
        __m256 mv = _mm256_set1_ps(m);
        acc = _mm256_setzero_ps();
        for (ptrdiff_t i = 0; i < full; i += 8) {
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), mv);
            acc = _mm256_add_ps(acc, _mm256_mul_ps(d, d));
        }
        float v = moe_sum_lanes_in_order(acc);
        for (ptrdiff_t i = full; i < dim; i++) {
            float d = x[i] - m;
            float dd = d * d;
            v = v + dd;
        }
        float variance = v / (float)dim;
        float s = 1.0f / sqrtf(variance + eps);
        __m256 sv = _mm256_set1_ps(s);
        for (ptrdiff_t i = 0; i < full; i += 8) {
            __m256 n = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv), sv);
            __m256 scaled = _mm256_mul_ps(n, _mm256_loadu_ps(weight + i));
            _mm256_storeu_ps(y + i, _mm256_add_ps(scaled, _mm256_loadu_ps(bias + i)));
        }
        for (ptrdiff_t i = full; i < dim; i++) {
            float scaled = (x[i] - m) * s * weight[i];
            y[i] = scaled + bias[i];
        }
        mean[r] = m;
        rstd[r] = s;
    }
}

MOE_EXACT_AVX2 void moe_layernorm_backward_avx2(
    float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight,
    const float *mean, const float *rstd, ptrdiff_t rows, ptrdiff_t dim) {
    ptrdiff_t full = dim & ~(ptrdiff_t)7;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *dy = dout + r * dim, *x = inp + r * dim;
        float *dx = dinp + r * dim;
        float m = mean[r], s = rstd[r];
        __m256 mv = _mm256_set1_ps(m), sv = _mm256_set1_ps(s);
        // Pass 1: mean(g) and mean(g ⊙ x̂), g = dy ⊙ w.
        __m256 g_sum = _mm256_setzero_ps(), gn_sum = _mm256_setzero_ps();
        for (ptrdiff_t i = 0; i < full; i += 8) {
            __m256 g = _mm256_mul_ps(_mm256_loadu_ps(dy + i), _mm256_loadu_ps(weight + i));
            g_sum = _mm256_add_ps(g_sum, g);
            __m256 n = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv), sv);
            gn_sum = _mm256_add_ps(gn_sum, _mm256_mul_ps(g, n));
        }
        float g_mean = moe_sum_lanes_in_order(g_sum), gn_mean = moe_sum_lanes_in_order(gn_sum);
        for (ptrdiff_t i = full; i < dim; i++) {
            float g = dy[i] * weight[i];
            g_mean = g_mean + g;
            float gn = g * ((x[i] - m) * s);
            gn_mean = gn_mean + gn;
        }
        g_mean = g_mean / (float)dim;
        gn_mean = gn_mean / (float)dim;
        __m256 gm = _mm256_set1_ps(g_mean), gnm = _mm256_set1_ps(gn_mean);
        // Pass 2: the gradients.
        for (ptrdiff_t i = 0; i < full; i += 8) {
            __m256 d = _mm256_loadu_ps(dy + i);
            __m256 n = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv), sv);
            __m256 g = _mm256_mul_ps(d, _mm256_loadu_ps(weight + i));
            __m256 inner = _mm256_sub_ps(_mm256_sub_ps(g, gm), _mm256_mul_ps(n, gnm));
            _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), _mm256_mul_ps(sv, inner)));
            if (dweight) _mm256_storeu_ps(dweight + i, _mm256_add_ps(_mm256_loadu_ps(dweight + i), _mm256_mul_ps(d, n)));
            if (dbias) _mm256_storeu_ps(dbias + i, _mm256_add_ps(_mm256_loadu_ps(dbias + i), d));
        }
        for (ptrdiff_t i = full; i < dim; i++) {
            float n = (x[i] - m) * s;
            float g = dy[i] * weight[i];
            float inner = (g - g_mean) - n * gn_mean;
            float step = s * inner;
            dx[i] = dx[i] + step;
            if (dweight) {
                float p = dy[i] * n;
                dweight[i] = dweight[i] + p;
            }
            if (dbias) dbias[i] = dbias[i] + dy[i];
        }
    }
}

#else
void moe_layernorm_forward_avx2(
    float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias,
    ptrdiff_t rows, ptrdiff_t dim, float eps) {}
void moe_layernorm_backward_avx2(
    float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight,
    const float *mean, const float *rstd, ptrdiff_t rows, ptrdiff_t dim) {}
#endif
