/* interp.h — what the files of the ONNX graph interpreter share: arrays (N-d tensors), the
 * context an op runs in, its error helper, broadcasting, and the op functions (one family per
 * file: elementwise.c, shape.c, linear.c, window.c, channels.c). Internal to the library; the
 * public face is incept_onnx_graph_* in incept.h, implemented by onnx_graph.c. */
#ifndef INCEPT_INTERP_H
#define INCEPT_INTERP_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "incept.h"
#include "io/onnx_file.h"
#include "onnx.pb-c.h"

/* What an op sees besides its arrays. */
typedef struct {
    const char *path;            /* the model file, for messages */
    const Onnx__NodeProto *node; /* attributes, name and op type */
    int opset;                   /* of the default domain */
    int threads;
    incept_rng *rng;             /* Dropout in training mode */
} interp_context;

/* An op: in[i] is NULL for an omitted optional input; out[i] are zeroed arrays to fill (n_out is
 * the node's output count; an op that cannot produce output i fails). */
typedef incept_status (*interp_op)(const interp_context *ctx, const incept_array *const *in, int n_in,
                                   incept_array *out, int n_out);

/* The op for an ONNX op type, or NULL. */
interp_op interp_find_op(const char *op_type);

/* "<file>: node '<name>' (<Op>): <message>"; returns st. */
incept_status interp_fail(const interp_context *ctx, incept_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- attributes (the rest: incept_onnx_attr* in io/onnx_file.h) ---- */
/* An ints attribute into long longs (up to max); returns how many it has (0 when absent). */
int interp_attr_ints(const Onnx__NodeProto *n, const char *name, long long *out, int max);

/* ---- arrays ---- */
size_t interp_dtype_size(incept_dtype dtype);
/* Gives a (zeroed) storage for its shape; dims may alias a->dims. */
incept_status interp_array_alloc(const interp_context *ctx, incept_array *a, incept_dtype dtype,
                                 int rank, const long long *dims);
incept_status interp_array_copy(const interp_context *ctx, incept_array *dst, const incept_array *src);
/* An ONNX tensor (initializer, Constant, test data) as an array; payload, when not NULL, holds its
 * raw bytes (an initializer's data left in the mapped file). int32 becomes int64. */
incept_status interp_array_from_tensor(const char *path, const Onnx__TensorProto *t,
                                       const uint8_t *payload, size_t payload_len, incept_array *a);
/* Checks an input's presence, type and rank range (rank_max 0: any). */
incept_status interp_expect(const interp_context *ctx, const incept_array *const *in, int n_in,
                            int i, incept_dtype dtype, int rank_min, int rank_max);
/* An axis attribute or value in [-rank, rank) (or [-rank, rank] when `end_ok`: Flatten's), made >= 0. */
incept_status interp_axis(const interp_context *ctx, long long axis, int rank, int end_ok, int *out);
/* The product of dims[from .. to). */
size_t interp_span(const incept_array *a, int from, int to);

/* Multidirectional (numpy) broadcasting of n arrays: the result's rank and dims. */
incept_status interp_broadcast_shape(const interp_context *ctx, const incept_array *const *arrays,
                                     int n, int *rank, long long *dims);
/* The element strides of a seen as an array of (rank, dims) it broadcasts to (0 along a
 * broadcast axis). */
void interp_broadcast_strides(const incept_array *a, int rank, const long long *dims,
                              long long *strides);

/* ---- ops (one function per ONNX op type) ---- */
#define INTERP_OP(name)                                                                             \
    incept_status interp_##name(const interp_context *ctx, const incept_array *const *in, int n_in,   \
                                incept_array *out, int n_out)
INTERP_OP(add);
INTERP_OP(sub);
INTERP_OP(mul);
INTERP_OP(div);
INTERP_OP(sum);
INTERP_OP(relu);
INTERP_OP(identity);
INTERP_OP(dropout);
INTERP_OP(reshape);
INTERP_OP(flatten);
INTERP_OP(squeeze);
INTERP_OP(unsqueeze);
INTERP_OP(concat);
INTERP_OP(gather);
INTERP_OP(shape);
INTERP_OP(constant);
INTERP_OP(pad);
INTERP_OP(gemm);
INTERP_OP(matmul);
INTERP_OP(conv);
INTERP_OP(maxpool);
INTERP_OP(averagepool);
INTERP_OP(globalaveragepool);
INTERP_OP(globalmaxpool);
INTERP_OP(lrn);
INTERP_OP(batchnorm);
INTERP_OP(softmax);

#endif
