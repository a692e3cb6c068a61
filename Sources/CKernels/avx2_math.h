// Internal AVX2/FMA helpers shared by the kernels: the same exp and erf fits as
// MoETensor/Kernels/VectorMath.swift (FMA contracts their multiply-adds, so results differ
// from the Swift kernels by rounding only), tail masks and horizontal sums.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stddef.h>

#define MOE_AVX2 __attribute__((target("avx2,fma")))
#define MOE_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/// Lanes [0, count) set, the rest clear (count ≤ 8).
MOE_AVX2_INLINE __m256i moe_tail_mask(ptrdiff_t count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// Polynomial coefficients, highest power first: e^r's Cephes fit (moe_exp_in_range), and
/// erf's two branches (moe_erf_and_gaussian: in x² below |x| = 1, in t above). The eight- and
/// sixteen-lane kernels both evaluate them with `moe_horner`, the same steps in the same order.
static const float moe_exp_polynomial[6] = {
    1.98756915e-4f, 1.39819995e-3f, 8.3334519e-3f, 4.1665796e-2f, 1.6666665e-1f, 5.0000001e-1f};
static const float moe_erf_small_polynomial[7] = {
    7.854058594643137e-05f, -0.0008010258210738304f, 0.005188335830441454f, -0.026853816873543872f,
    0.11283585294450442f, -0.3761262584272807f, 1.1283791657334097f};
static const float moe_erf_large_polynomial[8] = {
    0.11901608667301002f, -0.47015189109729005f, 0.5618733186329515f, -0.10259263302751694f,
    0.3473610147377906f, 0.2598016926073748f, 0.284896245012457f, -0.0001531877387563952f};

/// Σ c[i]·x^(count−1−i) by Horner's rule: p ← c[0], then p ← fma(p, x, c[i]).
MOE_AVX2_INLINE __m256 moe_horner(const float *c, int count, __m256 x) {
    __m256 p = _mm256_set1_ps(c[0]);
    for (int i = 1; i < count; i++) p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(c[i]));
    return p;
}

/// e^x for x in [-87.33, 88.37]: Cephes polynomial, Cody–Waite reduction (fastExpInRange).
MOE_AVX2_INLINE __m256 moe_exp_in_range(__m256 x) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504f), magic);
    __m256 n = _mm256_sub_ps(shifted, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.1219444e-4f), r);
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 p = moe_horner(moe_exp_polynomial, 6, r);
    __m256 e = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000));
    __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(e, scale);
}

/// e^x, exactly 0 below -87.33 (masked scores vanish), saturating above 88.37 (fastExp).
MOE_AVX2_INLINE __m256 moe_exp(__m256 x) {
    const __m256 low = _mm256_set1_ps(-87.33f);
    // max/min with the bound first keep NaN (they return the second operand on NaN).
    __m256 clamped = _mm256_min_ps(_mm256_set1_ps(88.37f), _mm256_max_ps(low, x));
    __m256 under = _mm256_cmp_ps(x, low, _CMP_LT_OQ);
    return _mm256_andnot_ps(under, moe_exp_in_range(clamped));
}

/// erf(x) and e^{-x²} (fastErfAndGaussian): |x| < 1 odd polynomial, 1 ≤ |x| ≤ 4
/// 1 − e^{−x²}·Q(1/(1 + |x|/2)), ±1 beyond; both branches blended.
MOE_AVX2_INLINE __m256 moe_erf_and_gaussian(__m256 x, __m256 *gaussian) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 sign = _mm256_and_ps(x, sign_bit);
    __m256 a = _mm256_min_ps(_mm256_set1_ps(4.0f), _mm256_andnot_ps(sign_bit, x));
    __m256 a2 = _mm256_mul_ps(a, a);
    __m256 small = _mm256_mul_ps(moe_horner(moe_erf_small_polynomial, 7, a2), a);
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.5f), a, one));
    __m256 q = moe_horner(moe_erf_large_polynomial, 8, t);
    // Past |x| = 4 the true e^{−x²} < 1.2e-7: flushed to 0 as in the Swift kernel.
    __m256 beyond = _mm256_cmp_ps(a, _mm256_set1_ps(4.0f), _CMP_GE_OQ);
    __m256 g = _mm256_andnot_ps(beyond, moe_exp_in_range(_mm256_sub_ps(_mm256_setzero_ps(), a2)));
    __m256 large = _mm256_fnmadd_ps(g, q, one);
    __m256 below_one = _mm256_cmp_ps(a, one, _CMP_LT_OQ);
    *gaussian = g;
    return _mm256_or_ps(_mm256_blendv_ps(large, small, below_one), sign);
}

/// Sum of the 8 lanes.
MOE_AVX2_INLINE float moe_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// Lane t of the result is the sum of the 8 lanes of a[t].
MOE_AVX2_INLINE __m256 moe_hsum8(const __m256 a[8]) {
    __m256 s0123 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
    __m256 s4567 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
    return _mm256_add_ps(
        _mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
}
#endif
