#pragma once
#include <cblas.h>

// OpenBLAS's own (exported, undeclared in cblas.h): joins its worker threads. They are
// created when the library loads and spin for ~10^8 cycles before sleeping, which takes a
// core from `moe` at start-up; `moe` runs every sgemm single-threaded, so it never needs them.
int blas_thread_shutdown_(void);
