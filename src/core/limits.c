/* limits.c — the process-wide limits on what a file may make the library allocate: a model's
 * parameters, a decoded image's pixels, how far a compressed file may inflate. Each has a default
 * chosen so that a file under 1 MB cannot make the library hold more than about 1 GB, and a
 * ceiling; incept_set_limit changes one (atomically: a load in another thread sees the old or the
 * new value, never a torn one). */
#include <stdatomic.h>

#include "core/limits.h"

typedef struct {
    size_t fallback, ceiling;
} limit_range;

static const limit_range ranges[INCEPT_LIMIT_COUNT] = {
    [INCEPT_LIMIT_PARAMETERS] = {(size_t)1 << 30, (size_t)1 << 30},      /* floats: 4 GB */
    [INCEPT_LIMIT_IMAGE_PIXELS] = {(size_t)1 << 25, (size_t)1 << 31},    /* 33.5 megapixels */
    [INCEPT_LIMIT_INFLATION] = {64, 1032},                               /* deflate's own maximum */
};

static _Atomic size_t current[INCEPT_LIMIT_COUNT]; /* 0: the default */

size_t incept_limit(incept_limit_kind which)
{
    if ((int)which < 0 || which >= INCEPT_LIMIT_COUNT)
        return 0;
    size_t v = atomic_load(&current[which]);
    return v ? v : ranges[which].fallback;
}

size_t incept_set_limit(incept_limit_kind which, size_t value)
{
    if ((int)which < 0 || which >= INCEPT_LIMIT_COUNT)
        return 0;
    if (value > ranges[which].ceiling)
        value = ranges[which].ceiling;
    size_t previous = atomic_exchange(&current[which], value);
    return previous ? previous : ranges[which].fallback;
}
