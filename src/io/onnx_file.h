/* onnx_file.h — an ONNX file mapped and split into its graph and its initializers, with the
 * initializers' large payloads left in the mapping (see onnx_file.c); and the reading of opsets
 * and node attributes that the importer and the N-d reference ops share. */
#ifndef INCEPT_IO_ONNX_FILE_H
#define INCEPT_IO_ONNX_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "incept.h"
#include "onnx.pb-c.h"

typedef struct {
    Onnx__TensorProto *tensor; /* name, dims, type; without its data when payload is set */
    const uint8_t *payload;    /* raw_data or packed float_data in the mapping, or NULL */
    size_t payload_len;
} onnx_initializer;

typedef struct onnx_file {
    const char *path;
    void *map;
    size_t map_len;
    int borrowed; /* map is the caller's buffer (incept_onnx_file_open_memory), not a mapping */
    Onnx__GraphProto *graph; /* everything but the initializers */
    Onnx__OperatorSetIdProto **opsets;
    size_t n_opsets;
    onnx_initializer *initializers;
    size_t n_initializers;
    Onnx__StringStringEntryProto **metadata; /* the model's metadata_props */
    size_t n_metadata;
} onnx_file;

/* Opens and splits the file; on failure everything is released and the message names it. */
incept_status incept_onnx_file_open(const char *path, onnx_file *file);
/* The same for an ONNX model held in memory (name for messages); the buffer is read, never
 * kept: it must stay valid and unchanged until the import is done. */
incept_status incept_onnx_file_open_memory(const void *data, size_t size, const char *name,
                                           onnx_file *file);
/* Drops the pages of an initializer's payload once it has been copied out. */
void incept_onnx_file_release(onnx_file *file, const onnx_initializer *init);
void incept_onnx_file_close(onnx_file *file);

/* The default domain's opset version, or -1 when the file imports none. */
int incept_onnx_file_opset(const onnx_file *file);

/* Node attributes, as the importer and the N-d reference ops read them. */
const Onnx__AttributeProto *incept_onnx_attr(const Onnx__NodeProto *n, const char *name);
int64_t incept_onnx_attr_int(const Onnx__NodeProto *n, const char *name, int64_t fallback);
float incept_onnx_attr_float(const Onnx__NodeProto *n, const char *name, float fallback);
/* Copies up to `max` ints; returns how many the attribute has (0 if absent). */
size_t incept_onnx_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *out, size_t max);
/* Whether a string attribute equals `expected` (absent: whether `fallback` does). */
int incept_onnx_attr_string_is(const Onnx__NodeProto *n, const char *name, const char *fallback,
                               const char *expected);

#endif
