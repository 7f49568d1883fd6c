/* onnx_import.h — what the ONNX importer's files share, and what an op's own ONNX import (its
 * from_onnx hook, ops/op.h) works with: onnx_import.c: bindings, attributes, parameters,
 * emitting nodes, the driver (each op's own file imports the ONNX ops it stands for, through
 * its from_onnx hook); onnx_import_generic.c: generic nodes; onnx_import_qdq.c: the QDQ layout.
 * Internal to the library. */
#ifndef INCEPT_IO_ONNX_IMPORT_H
#define INCEPT_IO_ONNX_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"
#include "io/onnx_file.h"
#include "onnx.pb-c.h"

#define ONNX_FLOAT 1
#define ONNX_INT64 7

/* What an ONNX tensor name refers to. */
typedef struct {
    const char *name;
    int value;                      /* activation: value index, else -1 */
    const Onnx__TensorProto *tensor; /* initializer or Constant output, else NULL */
    const onnx_initializer *init;    /* for initializers: where its data lies in the file */
    int rank;                       /* rank of an activation as ONNX sees it */
    int param;                      /* parameter index once the tensor became one, else -1 */
    int alias;                      /* another binding this name stands for (Identity of a
                                     * constant: tied weights stay one parameter), else -1 */
    int constant;                   /* the constant value generic nodes read it as, or -1 */
    int shadowed;                   /* the binding of the same name before it, or -1 */
} binding;

/* A parameter whose data is copied once the graph is complete: from its initializer, or (binding
 * -1) from `values`, numbers the importer computed (BatchNormalization's folded scale). Every
 * parameter gets one as it is made, so copies[p] is parameter p's. */
typedef struct {
    int param, binding, transpose;
    float scale;
    float *values;
} pending_copy;

typedef struct incept_onnx_importer {
    const char *path;
    incept_graph *graph;
    pending_copy *copies;
    int n_copies, cap_copies;
    binding *bindings;
    int n_bindings, cap_bindings;
    int *binding_index; /* bindings by name (the latest of each name): -1 empty, -2 removed */
    size_t binding_slots, binding_used;
    const char **reader_names; /* names nodes and graph outputs read, and how often (a table) */
    int *reader_counts;
    size_t reader_slots;
    int opset;
    onnx_file *file;
    const Onnx__GraphProto *onnx;
    int force_generic; /* every node generic, every input too (tests of the N-d path) */
    /* what a generic value looks like at two batch sizes (onnx_import_generic.c), per value */
    struct import_probe *probes;
    int cap_probes;
    size_t probe_bytes; /* what they hold: capped, after which nothing more is probed */
    Onnx__TensorProto **folded; /* constants computed at load, bound like Constant outputs */
    int n_folded;
    int *touched; /* bindings given a parameter, in order (a rollback undoes the newer ones) */
    int n_touched, cap_touched;
} importer;

/* ---- onnx_import.c ---- */

/* An error naming the node and its op; returns st. */
incept_status incept_onnx_node_error(const importer *im, const Onnx__NodeProto *n, incept_status st,
                                     const char *fmt, const char *detail);
binding *incept_onnx_find_binding(importer *im, const char *name);
/* Drops the bindings from index `keep` on (a node the fast path gave up on), newest first. */
void incept_onnx_unbind_from(importer *im, int keep);
/* Binds an ONNX name to a value (activation) or a constant tensor. */
incept_status incept_onnx_bind(importer *im, const char *name, int value,
                               const Onnx__TensorProto *t, int rank);
long incept_onnx_tensor_int64s(const Onnx__TensorProto *t, int64_t *out, size_t max);
int incept_onnx_has_input(const Onnx__NodeProto *n, size_t i);
/* Input i of the node as an activation, or an error naming it. */
incept_status incept_onnx_activation(importer *im, const Onnx__NodeProto *n, size_t i,
                                     binding **out);
/* Input i when it is a constant tensor (initializer or Constant output), else NULL. */
const Onnx__TensorProto *incept_onnx_constant_input(importer *im, const Onnx__NodeProto *n, size_t i);
/* Input i (an initializer) as a parameter of the given shape, copied once the graph is built. */
incept_status incept_onnx_weight_param(importer *im, const Onnx__NodeProto *n, size_t i, int ndim,
                                       const int *dims, int transpose, float scale, int *param);
/* Parameter `param` gets binding b's initializer data once the graph is built; b holds it. */
incept_status incept_onnx_pending_param(importer *im, binding *b, int param);
incept_status incept_onnx_pending_floats(importer *im, const pending_copy *pc, float *dst,
                                         size_t count);
/* Adds our node for an ONNX node and binds its output. */
incept_status incept_onnx_emit(importer *im, const Onnx__NodeProto *n, const char *op,
                               const int *inputs, int n_inputs, const incept_attrs *a, int weight,
                               int bias, int rank);
/* A parameter named "<node>/<what>" holding computed values (takes them). */
incept_status incept_onnx_node_param(importer *im, const Onnx__NodeProto *n, const char *what,
                                     float *values, int count, int *param);
/* Input i as floats (a constant), *values NULL if it is not one. */
incept_status incept_onnx_constant_floats(importer *im, const Onnx__NodeProto *n, size_t i,
                                          size_t *count, float **values);
/* How many nodes (and graph outputs) read `name` (counted once when the import begins). */
int incept_onnx_readers_of(const importer *im, const char *name);

/* A tensor's element count (0 when a dim is negative) and its float values. */
size_t incept_onnx_tensor_count(const Onnx__TensorProto *t);
incept_status incept_onnx_tensor_floats(const importer *im, const Onnx__TensorProto *t, float *dst,
                                        size_t count);
/* Kernel, strides, dilations and pads (or auto_pad) of a window over `spatial` (2, or 1 for a
 * [N, C, L] value stored with H = L) axes, into a. */
incept_status incept_onnx_window_attrs(importer *im, const Onnx__NodeProto *n, const incept_value *in,
                                       incept_attrs *a, int need_kernel, int spatial);
/* The node's `axis` attribute (fallback when absent) counted from 0 on x's rank as ONNX sees it. */
int64_t incept_onnx_axis(const Onnx__NodeProto *n, const binding *x, int64_t fallback);
/* An int attribute within [lo, hi] (a file's int64 is never truncated into range), and an
 * initializer's first `count` dims as ints; else a format error naming the node. */
incept_status incept_onnx_int_attr(importer *im, const Onnx__NodeProto *n, const char *name,
                                   int64_t fallback, int64_t lo, int64_t hi, int *out);
incept_status incept_onnx_tensor_dims(importer *im, const Onnx__NodeProto *n, const Onnx__TensorProto *t,
                                      int *dims, size_t count);
/* The name our graph gives an ONNX node: its name, else its first output's. */
const char *incept_onnx_node_label(const Onnx__NodeProto *n);
/* The node onto the fast path (UNSUPPORTED where the fast path does not take it). */
incept_status incept_onnx_import_node(importer *im, const Onnx__NodeProto *n);

/* ---- onnx_import_generic.c ---- */

/* Frees the probes and folded constants (they live until the import ends). */
void incept_onnx_import_generic_free(importer *im);

/* The node onto the fast path where it takes it, else as a generic node. */
incept_status incept_onnx_import_any(importer *im, const Onnx__NodeProto *n);
/* The value a generic node reads for ONNX name `name`: an activation, or a constant made once
 * (n, for messages, may be NULL). */
incept_status incept_onnx_generic_input(importer *im, const Onnx__NodeProto *n, const char *name,
                                        int *value);

/* The per-sample dims of an activation as ONNX sees them, when C, H, W hold them in order. */
int incept_onnx_sample_dims(const importer *im, const binding *x, int dims[3]);

/* ---- ops/affine.c, for the ops whose ONNX form lowers to an affine (BatchNormalization) ---- */

/* Emits y = x * scale + shift per channel (n_scale, n_shift: 1 or the channel count), the
 * parameters "<node>/scale" and "<node>/<shift_name>" made of the values (taken, freed on error). */
incept_status incept_onnx_emit_affine(importer *im, const Onnx__NodeProto *n, binding *x, float *scale,
                                      int n_scale, float *shift, int n_shift, const char *shift_name);

/* ---- onnx_import_qdq.c: the QDQ layout of quantized models ---- */

/* QuantizeLinear of an activation read only by DequantizeLinear of its code: the identity, the
 * code the value's range. */
incept_status incept_onnx_import_quantize(importer *im, const Onnx__NodeProto *n);
/* DequantizeLinear: of a constant, the float constant it stands for; of such a QuantizeLinear,
 * the value itself. */
incept_status incept_onnx_import_dequantize(importer *im, const Onnx__NodeProto *n);
/* Binds `name` to a constant computed at load (onnx_import_generic.c keeps it until the end). */
incept_status incept_onnx_fold(importer *im, const char *name, const incept_tensor *t);

#endif
