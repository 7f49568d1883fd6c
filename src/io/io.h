/* io.h — shared helpers of the file formats: reading a whole file with every step checked. */
#ifndef INCEPT_IO_IO_H
#define INCEPT_IO_IO_H

#include <stddef.h>

#include "incept.h"

/* Reads all of `path` into a malloc'd buffer with a terminating NUL (not counted in *size). */
incept_status incept_read_file(const char *path, char **data, size_t *size);

/* A growing byte buffer for writing file formats. */
typedef struct {
    unsigned char *data;
    size_t size, capacity;
} incept_bytes;
/* Appends n bytes; INCEPT_ERR_NOMEM (buffer unchanged) if it cannot grow. */
incept_status incept_bytes_put(incept_bytes *b, const void *src, size_t n);

/* Writes `size` bytes to path atomically: a temporary file beside it, fsync, rename; a crash
 * never leaves a half-written file under the real name. */
incept_status incept_write_atomically(const char *path, const void *data, size_t size);

/* A model built from a description or in C as a new ONNX (opset 11) file. */
struct incept_model;
incept_status incept_onnx_write_graph(const struct incept_model *model, const char *path, int int8);

#endif
