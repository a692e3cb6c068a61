// Internal helpers for the kernels that must round exactly as the portable Swift ones
// (SIMD8<Float> at the package's baseline width), where a multiply and an add fused into one
// rounding would change the bits: contraction is off in every file that includes this, and
// the AVX2 kernels are built without FMA at all.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stddef.h>

#pragma clang fp contract(off)

#define MOE_EXACT_AVX2 __attribute__((target("avx2")))
#define MOE_EXACT_AVX2_INLINE static inline __attribute__((always_inline, target("avx2")))
#define MOE_EXACT_AVX512 __attribute__((target("avx512f")))

/// (((v0 + v1) + v2) + …) + v7, as SIMD8<Float>.sum().
MOE_EXACT_AVX2_INLINE float moe_sum_lanes_in_order(__m256 v) {
    float lane[8];
    _mm256_storeu_ps(lane, v);
    float s = lane[0];
    for (int i = 1; i < 8; i++) s = s + lane[i];
    return s;
}
#endif
