/* checked.h — size arithmetic for numbers that come from files: products and sums of element
 * counts and byte sizes that report overflow instead of wrapping, and narrowing with a range
 * check. Every parser and shape computation multiplies sizes through these. */
#ifndef INCEPT_CORE_CHECKED_H
#define INCEPT_CORE_CHECKED_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* *out = a * b; 0 when it does not fit. */
static inline int incept_mul_size(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
/* *out = a + b; 0 when it does not fit. */
static inline int incept_add_size(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }

/* The product of n dims, each in [0, limit]; 0 when a dim is out of range or the product
 * overflows (then *count is left 0). */
static inline int incept_count_dims(const int64_t *dims, size_t n, int64_t limit, size_t *count)
{
    size_t c = 1;
    *count = 0;
    for (size_t i = 0; i < n; i++)
        if (dims[i] < 0 || dims[i] > limit || !incept_mul_size(c, (size_t)dims[i], &c))
            return 0;
    *count = c;
    return 1;
}

/* v as an int when lo <= v <= hi, else 0. */
static inline int incept_to_int(int64_t v, int64_t lo, int64_t hi, int *out)
{
    if (v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

/* memcpy of n bytes, none when n is 0: an empty tensor's data pointer may be NULL, which memcpy
 * may not be given even for 0 bytes. */
static inline void incept_copy(void *dst, const void *src, size_t n)
{
    if (n)
        memcpy(dst, src, n);
}

#endif
