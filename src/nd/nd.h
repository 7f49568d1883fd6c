/* nd.h — the N-d reference ops: every ONNX op the library knows on tensors of any rank and
 * dtype (in the op's own file where it has an NCHW fast path, else by family here), what they
 * share (tensors, the context an op runs in, its error helper, broadcasting), and the generic
 * op that runs them as nodes of the engine's graph (generic.c). The engine evaluates a node
 * with these where its NCHW fast path does not take it (graph/graph.h); tests check the fast
 * path against them. Internal to the library. */
#ifndef INCEPT_ND_H
#define INCEPT_ND_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "graph/graph.h"
#include "incept.h"
#include "io/onnx_file.h"
#include "onnx.pb-c.h"

/* What an op sees besides its arrays. */
typedef struct incept_nd_context {
    const char *path;            /* the model file, for messages */
    const Onnx__NodeProto *node; /* attributes, name and op type */
    int opset;                   /* of the default domain */
    int threads;
    incept_rng *rng;             /* Dropout in training mode */
} incept_nd_context;

/* An op (incept_nd_fn, graph.h): in[i] is NULL for an omitted optional input, out[i] zeroed
 * tensors to fill (n_out is the node's output count; an op that cannot produce output i fails). */

/* The op for an ONNX op type, or NULL; its backward (incept_nd_grad_fn, graph.h), or NULL for an
 * op that has none (integer and shape ops, those training does not reach). */
incept_nd_fn incept_nd_find_op(const char *op_type);
incept_nd_grad_fn incept_nd_find_grad(const char *op_type);

/* "<file>: node '<name>' (<Op>): <message>"; returns st. */
incept_status incept_nd_fail(const incept_nd_context *ctx, incept_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- attributes (the rest: incept_onnx_attr* in io/onnx_file.h) ---- */
/* An ints attribute into long longs (up to max); returns how many it has (0 when absent). */
int incept_nd_attr_ints(const Onnx__NodeProto *n, const char *name, long long *out, int max);

/* ---- arrays ---- */
size_t incept_nd_dtype_size(incept_dtype dtype);
/* Gives a (zeroed) storage for its shape; dims may alias a->dims. */
incept_status incept_nd_array_alloc(const incept_nd_context *ctx, incept_tensor *a, incept_dtype dtype,
                                 int rank, const long long *dims);
incept_status incept_nd_array_copy(const incept_nd_context *ctx, incept_tensor *dst, const incept_tensor *src);
/* An ONNX tensor (initializer, Constant, test data) as an array; payload, when not NULL, holds its
 * raw bytes (an initializer's data left in the mapped file). int32 becomes int64. */
incept_status incept_nd_array_from_tensor(const char *path, const Onnx__TensorProto *t,
                                       const uint8_t *payload, size_t payload_len, incept_tensor *a);
/* Checks an input's presence, type and rank range (rank_max 0: any). */
incept_status incept_nd_expect(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                            int i, incept_dtype dtype, int rank_min, int rank_max);
/* An axis attribute or value in [-rank, rank) (or [-rank, rank] when `end_ok`: Flatten's), made >= 0. */
incept_status incept_nd_axis(const incept_nd_context *ctx, long long axis, int rank, int end_ok, int *out);
/* The product of dims[from .. to). */
size_t incept_nd_span(const incept_tensor *a, int from, int to);

/* Multidirectional (numpy) broadcasting of n arrays: the result's rank and dims. */
incept_status incept_nd_broadcast_shape(const incept_nd_context *ctx, const incept_tensor *const *arrays,
                                     int n, int *rank, long long *dims);
/* The element strides of a seen as an array of (rank, dims) it broadcasts to (0 along a
 * broadcast axis). */
void incept_nd_broadcast_strides(const incept_tensor *a, int rank, const long long *dims,
                              long long *strides);

/* A copy of `in` with another shape of the same element count (Reshape, Flatten, Squeeze...). */
incept_status incept_nd_reshaped(const incept_nd_context *ctx, const incept_tensor *in, int rank,
                                 const long long *dims, incept_tensor *out);
/* An int64 input's values (at most max; rank 0 or 1): shapes, axes, pads. */
incept_status incept_nd_int_input(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                                  int i, long long *values, int max, int *count);

/* ---- ops (one function per ONNX op type) ----
 * Those with an NCHW fast path live in its op file (ops/fc.c has Gemm and MatMul, ops/lrn.c LRN,
 * ...), but for the windowed ones (Conv, the pools), which share one window walker in window.c;
 * the rest here by family: elementwise.c, shape.c. */
#define INCEPT_ND_OP(name)                                                                             \
    incept_status incept_nd_##name(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,   \
                                incept_tensor *out, int n_out)
INCEPT_ND_OP(add);
INCEPT_ND_OP(sub);
INCEPT_ND_OP(mul);
INCEPT_ND_OP(div);
INCEPT_ND_OP(sum);
INCEPT_ND_OP(relu);
INCEPT_ND_OP(clip);
INCEPT_ND_OP(identity);
INCEPT_ND_OP(dropout);
INCEPT_ND_OP(reshape);
INCEPT_ND_OP(flatten);
INCEPT_ND_OP(squeeze);
INCEPT_ND_OP(unsqueeze);
INCEPT_ND_OP(concat);
INCEPT_ND_OP(gather);
INCEPT_ND_OP(shape);
INCEPT_ND_OP(constant);
INCEPT_ND_OP(pad);
INCEPT_ND_OP(gemm);
INCEPT_ND_OP(matmul);
INCEPT_ND_OP(conv);
INCEPT_ND_OP(maxpool);
INCEPT_ND_OP(averagepool);
INCEPT_ND_OP(globalaveragepool);
INCEPT_ND_OP(globalmaxpool);
INCEPT_ND_OP(lrn);
INCEPT_ND_OP(batchnorm);
INCEPT_ND_OP(softmax);

/* ---- backward (one per differentiable op, beside its forward; incept_nd_grad_fn, graph.h) ----
 * Each adds into din[i] (NULL: not wanted) the loss's gradient of in[i] from dout (dout[k] NULL:
 * zero), float32 only. */
#define INCEPT_ND_GRAD(name)                                                                           \
    incept_status incept_nd_##name##_grad(const incept_nd_context *ctx, const incept_tensor *const *in,     \
                                          int n_in, const incept_tensor *out, int n_out,                \
                                          const incept_tensor *const *dout, incept_tensor *const *din)
/* A backward's checks: each dout[k] given is float32 and shaped as out[k], each din[i] wanted is
 * float32 and shaped as in[i], a float32 input. */
incept_status incept_nd_grad_expect(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                                    const incept_tensor *out, int n_out, const incept_tensor *const *dout,
                                    incept_tensor *const *din);
/* din[0] += dout[0] element for element: the backward of the ops that keep the values in their
 * order (Identity, Reshape, Flatten, Squeeze, Unsqueeze, Dropout as the identity). */
incept_status incept_nd_grad_pass(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                                  const incept_tensor *out, int n_out, const incept_tensor *const *dout,
                                  incept_tensor *const *din);
INCEPT_ND_GRAD(add);
INCEPT_ND_GRAD(sub);
INCEPT_ND_GRAD(mul);
INCEPT_ND_GRAD(div);
INCEPT_ND_GRAD(sum);
INCEPT_ND_GRAD(relu);
INCEPT_ND_GRAD(clip);
INCEPT_ND_GRAD(identity);
INCEPT_ND_GRAD(dropout);
INCEPT_ND_GRAD(reshape);
INCEPT_ND_GRAD(flatten);
INCEPT_ND_GRAD(squeeze);
INCEPT_ND_GRAD(unsqueeze);
INCEPT_ND_GRAD(concat);
INCEPT_ND_GRAD(gather);
INCEPT_ND_GRAD(pad);
INCEPT_ND_GRAD(gemm);
INCEPT_ND_GRAD(matmul);
INCEPT_ND_GRAD(conv);
INCEPT_ND_GRAD(maxpool);
INCEPT_ND_GRAD(averagepool);
INCEPT_ND_GRAD(globalaveragepool);
INCEPT_ND_GRAD(globalmaxpool);
INCEPT_ND_GRAD(softmax);
INCEPT_ND_GRAD(lrn);

#endif
