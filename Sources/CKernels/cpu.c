// Run-time CPU feature checks for the AVX2/FMA and AVX-512F kernels.
#include "CKernels.h"

#if defined(__x86_64__) || defined(__i386__)
int moe_cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
int moe_cpu_has_avx2_fma(void) { return 0; }
#endif

#if defined(__x86_64__)  // the AVX-512 kernels are built for x86-64 only
int moe_cpu_has_avx512f(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
#else
int moe_cpu_has_avx512f(void) { return 0; }
#endif
