// Per-thread workspace (workspace.h): grown on demand, kept for the thread's lifetime, freed
// by a pthread key destructor when the thread exits.
#include "workspace.h"

#include <pthread.h>
#include <stdlib.h>

static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static _Thread_local float *memory;
static _Thread_local size_t capacity;

static void make_key(void) { pthread_key_create(&key, free); }

float *moe_thread_workspace(size_t floats) {
    if (memory && floats <= capacity) return memory;
    pthread_once(&key_once, make_key);
    free(memory);
    size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
    memory = aligned_alloc(64, bytes ? bytes : 64);
    capacity = memory ? floats : 0;
    pthread_setspecific(key, memory);
    return memory;
}
