// Internal AVX-512F helpers: avx2_math.h's fits sixteen lanes at a time, each lane the same
// operations in the same order, so results are bit for bit the eight-lane ones.
#pragma once

#if defined(__x86_64__)
#include "avx2_math.h"

#define MOE_AVX512 __attribute__((target("avx512f")))
#define MOE_AVX512_INLINE static inline __attribute__((always_inline, target("avx512f")))

/// moe_horner (avx2_math.h), sixteen lanes.
MOE_AVX512_INLINE __m512 moe_horner512(const float *c, int count, __m512 x) {
    __m512 p = _mm512_set1_ps(c[0]);
    for (int i = 1; i < count; i++) p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(c[i]));
    return p;
}

/// moe_exp_in_range (avx2_math.h), sixteen lanes.
MOE_AVX512_INLINE __m512 moe_exp_in_range512(__m512 x) {
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 shifted = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504f), magic);
    __m512 n = _mm512_sub_ps(shifted, magic);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.1219444e-4f), r);
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 p = moe_horner512(moe_exp_polynomial, 6, r);
    __m512 e = _mm512_add_ps(_mm512_fmadd_ps(p, r2, r), _mm512_set1_ps(1.0f));
    __m512i bits = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000));
    __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(127)), 23));
    return _mm512_mul_ps(e, scale);
}

/// moe_exp (avx2_math.h), sixteen lanes: exactly 0 below -87.33, saturating above 88.37.
MOE_AVX512_INLINE __m512 moe_exp512(__m512 x) {
    const __m512 low = _mm512_set1_ps(-87.33f);
    __m512 clamped = _mm512_min_ps(_mm512_set1_ps(88.37f), _mm512_max_ps(low, x));
    __mmask16 under = _mm512_cmp_ps_mask(x, low, _CMP_LT_OQ);
    return _mm512_maskz_mov_ps((__mmask16)~under, moe_exp_in_range512(clamped));
}

/// Lanes [0, count) of 16, none when count ≤ 0.
MOE_AVX512_INLINE __mmask16 moe_lanes16(ptrdiff_t count) {
    return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? 0 : (__mmask16)((1u << count) - 1);
}
#endif
