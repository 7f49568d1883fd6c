/* interp.h — what the files of the ONNX graph interpreter share: arrays (N-d tensors), the
 * context an op runs in, its error helper, broadcasting, and the op functions (one family per
 * file: elementwise.c, shape.c, linear.c, window.c, channels.c), and the graph they run in
 * (onnx_graph.c). Internal to the library: its public face is a model (incept_model_load_onnx)
 * whose sessions evaluate the graph. */
#ifndef INCEPT_INTERP_H
#define INCEPT_INTERP_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "incept.h"
#include "io/onnx_file.h"
#include "onnx.pb-c.h"

/* ---- the graph ---- */
typedef struct interp_graph interp_graph;
incept_status interp_graph_load(const char *path, interp_graph **out);
void interp_graph_free(interp_graph *g);
/* Its inputs (initializers excluded) and outputs, in the file's order. */
int interp_graph_inputs(const interp_graph *g);
int interp_graph_outputs(const interp_graph *g);
const char *interp_graph_input_name(const interp_graph *g, int i);
const char *interp_graph_output_name(const interp_graph *g, int i);
/* Input (input = 1) or output i's declared type and rank (-1 when the file gives none) and sizes
 * (-1 where dynamic). */
int interp_graph_value_shape(const interp_graph *g, int input, int i, incept_dtype *dtype,
                             long long dims[INCEPT_MAX_RANK]);
int interp_graph_nodes(const interp_graph *g);
const char *interp_graph_node_name(const interp_graph *g, int k);
const char *interp_graph_node_op(const interp_graph *g, int k);
/* Evaluates the graph on inputs[0 .. inputs()-1] (read, not kept) and fills outputs[0 ..
 * outputs()-1] with new arrays. On failure no output is left allocated and the message names the
 * node. The graph is only read: runs on several threads at once are safe. */
incept_status interp_graph_run(const interp_graph *g, int threads, incept_rng *rng,
                               const incept_tensor *inputs, incept_tensor *outputs);

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
typedef incept_status (*interp_op)(const interp_context *ctx, const incept_tensor *const *in, int n_in,
                                   incept_tensor *out, int n_out);

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
incept_status interp_array_alloc(const interp_context *ctx, incept_tensor *a, incept_dtype dtype,
                                 int rank, const long long *dims);
incept_status interp_array_copy(const interp_context *ctx, incept_tensor *dst, const incept_tensor *src);
/* An ONNX tensor (initializer, Constant, test data) as an array; payload, when not NULL, holds its
 * raw bytes (an initializer's data left in the mapped file). int32 becomes int64. */
incept_status interp_array_from_tensor(const char *path, const Onnx__TensorProto *t,
                                       const uint8_t *payload, size_t payload_len, incept_tensor *a);
/* Checks an input's presence, type and rank range (rank_max 0: any). */
incept_status interp_expect(const interp_context *ctx, const incept_tensor *const *in, int n_in,
                            int i, incept_dtype dtype, int rank_min, int rank_max);
/* An axis attribute or value in [-rank, rank) (or [-rank, rank] when `end_ok`: Flatten's), made >= 0. */
incept_status interp_axis(const interp_context *ctx, long long axis, int rank, int end_ok, int *out);
/* The product of dims[from .. to). */
size_t interp_span(const incept_tensor *a, int from, int to);

/* Multidirectional (numpy) broadcasting of n arrays: the result's rank and dims. */
incept_status interp_broadcast_shape(const interp_context *ctx, const incept_tensor *const *arrays,
                                     int n, int *rank, long long *dims);
/* The element strides of a seen as an array of (rank, dims) it broadcasts to (0 along a
 * broadcast axis). */
void interp_broadcast_strides(const incept_tensor *a, int rank, const long long *dims,
                              long long *strides);

/* ---- ops (one function per ONNX op type) ---- */
#define INTERP_OP(name)                                                                             \
    incept_status interp_##name(const interp_context *ctx, const incept_tensor *const *in, int n_in,   \
                                incept_tensor *out, int n_out)
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
