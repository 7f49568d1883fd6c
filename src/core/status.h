/* status.h — setting the per-thread error message that incept_last_error() returns. */
#ifndef INCEPT_CORE_STATUS_H
#define INCEPT_CORE_STATUS_H

#include "incept.h"

#if defined(__GNUC__)
#define INCEPT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define INCEPT_PRINTF(a, b)
#endif

/* Records a formatted message for this thread and returns status, so callers can write
 * `return incept_fail(INCEPT_ERR_IO, "%s: cannot open", path);`. */
incept_status incept_fail(incept_status status, const char *fmt, ...) INCEPT_PRINTF(2, 3);
/* Prefixes the current message with more context ("file.onnx: " + message). */
incept_status incept_fail_prefix(incept_status status, const char *fmt, ...) INCEPT_PRINTF(2, 3);
void incept_clear_error(void);

/* Checked allocation helpers: they record an out-of-memory message on failure. */
void *incept_malloc(size_t size);
void *incept_calloc(size_t count, size_t size);
void *incept_realloc(void *ptr, size_t size);
char *incept_strdup(const char *s);
/* Makes room for one more item in a growing array (doubling, from 16); keeps *items on failure. */
incept_status incept_grow(void **items, int *capacity, int count, size_t item_size);
/* 64-byte aligned, for activations and workspaces; release with free(). */
float *incept_alloc_floats(size_t count);

/* A test hook (SQLite style): when > 0, the N-th following allocation fails. */
void incept_fail_allocation_after(long n);

#endif
