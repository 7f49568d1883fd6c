/* status.c — per-thread error messages and checked allocation for the whole library. */
#include "core/status.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char error_message[1024];
static _Thread_local long allocations_until_failure;

const char *incept_status_string(incept_status status)
{
    switch (status) {
    case INCEPT_OK: return "ok";
    case INCEPT_ERR_NOMEM: return "out of memory";
    case INCEPT_ERR_ARG: return "bad argument";
    case INCEPT_ERR_SHAPE: return "shape mismatch";
    case INCEPT_ERR_IO: return "I/O error";
    case INCEPT_ERR_FORMAT: return "bad format";
    case INCEPT_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

const char *incept_last_error(void) { return error_message; }

void incept_clear_error(void) { error_message[0] = '\0'; }

incept_status incept_fail(incept_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return status;
}

incept_status incept_fail_prefix(incept_status status, const char *fmt, ...)
{
    char prefix[512], old[sizeof error_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, error_message, sizeof old);
    size_t used = strlen(prefix);
    if (used >= sizeof error_message)
        used = sizeof error_message - 1;
    memcpy(error_message, prefix, used);
    size_t rest = strlen(old);
    if (rest > sizeof error_message - 1 - used)
        rest = sizeof error_message - 1 - used;
    memcpy(error_message + used, old, rest);
    error_message[used + rest] = '\0';
    return status;
}

void incept_fail_allocation_after(long n) { allocations_until_failure = n; }

static int allocation_should_fail(void)
{
    if (allocations_until_failure <= 0)
        return 0;
    return --allocations_until_failure == 0;
}

void *incept_malloc(size_t size)
{
    void *p = allocation_should_fail() ? NULL : malloc(size ? size : 1);
    if (!p)
        incept_fail(INCEPT_ERR_NOMEM, "out of memory allocating %zu bytes", size);
    return p;
}

void *incept_calloc(size_t count, size_t size)
{
    void *p = allocation_should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
    if (!p)
        incept_fail(INCEPT_ERR_NOMEM, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *incept_realloc(void *ptr, size_t size)
{
    void *p = allocation_should_fail() ? NULL : realloc(ptr, size ? size : 1);
    if (!p)
        incept_fail(INCEPT_ERR_NOMEM, "out of memory reallocating %zu bytes", size);
    return p;
}

incept_status incept_grow(void **items, int *capacity, int count, size_t item_size)
{
    if (count < *capacity)
        return INCEPT_OK;
    int new_capacity = *capacity ? *capacity * 2 : 16;
    void *p = incept_realloc(*items, (size_t)new_capacity * item_size);
    if (!p)
        return INCEPT_ERR_NOMEM;
    *items = p;
    *capacity = new_capacity;
    return INCEPT_OK;
}

float *incept_alloc_floats(size_t count)
{
    size_t bytes = (count ? count : 1) * sizeof(float);
    void *p = NULL;
    if (allocation_should_fail() || posix_memalign(&p, 64, bytes) != 0)
        p = NULL;
    if (!p)
        incept_fail(INCEPT_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}

char *incept_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = incept_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}
