// Run-time CPU feature check for the AVX2/FMA kernels.
#include "CKernels.h"

#if defined(__x86_64__) || defined(__i386__)
int moe_cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
int moe_cpu_has_avx2_fma(void) { return 0; }
#endif
