// Per-thread scratch memory for the kernels that copy their operands first (the attention
// heads). Internal to CKernels.
#pragma once

#include <stddef.h>

/// At least `floats` floats, 64-byte aligned, owned by the calling thread and freed when it
/// exits; contents unspecified, and valid until the thread's next call. NULL when memory is
/// exhausted.
float *moe_thread_workspace(size_t floats);
