/* hash.h — the string hash of the name tables (values and parameters in graph.c, ONNX bindings
 * and reader counts in the importer): FNV-1a, for open addressing over a power-of-two table. */
#ifndef INCEPT_CORE_HASH_H
#define INCEPT_CORE_HASH_H

#include <stddef.h>

static inline size_t incept_name_hash(const char *name)
{
    size_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

#endif
