/* onnx_writer.h — what an op's ONNX export (its to_onnx hook, ops/op.h) writes with: nodes,
 * attributes and initializers of the file onnx_write.c is building (opset 11), all allocated
 * with the file and freed with it. Each call returns 0 (or NULL) when memory runs out; the
 * export then fails as a whole. Internal to the library. */
#ifndef INCEPT_IO_ONNX_WRITER_H
#define INCEPT_IO_ONNX_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"

#define INCEPT_ONNX_WRITE_OPSET 11
#define INCEPT_ONNX_WRITE_OPSET_INT8 13 /* DequantizeLinear per channel (axis) */
#define INCEPT_ONNX_FLOAT 1
#define INCEPT_ONNX_UINT8 2
#define INCEPT_ONNX_INT8 3
#define INCEPT_ONNX_INT32 6
#define INCEPT_ONNX_INT64 7

typedef struct incept_onnx_writer incept_onnx_writer;
struct Onnx__AttributeProto;

/* One node's export: the node, its first input's name, the name its result must take (`out`:
 * NAME/pre_relu when the writer adds the fused ReLU after it) and the rank ONNX sees for every
 * value so far (the writer sets the node's output to 4 first; an export that makes another rank
 * says so). */
typedef struct incept_onnx_export_s {
    incept_onnx_writer *w;
    const incept_graph *g;
    const incept_node *n;
    const char *in, *out;
    int *rank;
    const char *path; /* the file being written, for messages */
    int opset;        /* the file's: INCEPT_ONNX_WRITE_OPSET, or _INT8 for a quantized one */
    int int8;         /* quantized (QDQ): ops with an int8 form write it (the value's range) */
} incept_onnx_export;

struct Onnx__AttributeProto *incept_onnx_put_int(incept_onnx_writer *w, const char *name, int64_t v);
struct Onnx__AttributeProto *incept_onnx_put_ints(incept_onnx_writer *w, const char *name,
                                                  const int64_t *v, int n);
struct Onnx__AttributeProto *incept_onnx_put_float(incept_onnx_writer *w, const char *name, float v);
/* A node of ONNX type `op`; inputs and attrs are NULL-terminated lists (attrs may be NULL). */
int incept_onnx_put_node(incept_onnx_writer *w, const char *op, const char *name,
                         const char *const *inputs, const char *output,
                         struct Onnx__AttributeProto *const *attrs);
/* Parameter `index` of the graph as an initializer under its name. */
int incept_onnx_put_param(incept_onnx_writer *w, const incept_graph *g, int index);
/* An initializer of raw little-endian data. */
int incept_onnx_put_initializer(incept_onnx_writer *w, const char *name, int data_type,
                                const int64_t *dims, int ndim, const void *data, size_t bytes);
/* Zeroed scratch memory that lives as long as the file being built (input lists). */
void *incept_onnx_put_scratch(incept_onnx_writer *w, size_t size);

/* The window attributes every windowed op writes: kernel_shape, strides, pads (and dilations
 * where `dilations`), into attrs[0..], returning how many. */
int incept_onnx_put_window(incept_onnx_writer *w, const incept_attrs *a, int dilations,
                           struct Onnx__AttributeProto **attrs);

#endif
