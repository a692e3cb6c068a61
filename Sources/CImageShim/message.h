// Internal helpers shared by the PNG and JPEG decoders.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/// Copies `text` into `buffer` (truncated, always NUL-terminated when size > 0).
static inline void moe_copy_message(char *buffer, size_t size, const char *text) {
    if (buffer != NULL && size > 0) {
        snprintf(buffer, size, "%s", text != NULL ? text : "");
    }
}

/// *result = a · b; returns 0 when that overflows size_t.
static inline int moe_multiply(size_t a, size_t b, size_t *result) {
    if (a != 0 && b > SIZE_MAX / a) {
        return 0;
    }
    *result = a * b;
    return 1;
}
