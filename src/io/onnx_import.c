/* onnx_import.c — ONNX models (opsets 1 to 17) mapped onto the engine's graph.
 *
 * Parsing uses protobuf-c code generated at build time from Debian's onnx.proto, on a file split
 * by onnx_file.c so weights are copied once, straight into the parameters. An ONNX node that is
 * one of our ops is imported by that op's file (its from_onnx hook: conv.c takes Conv, fc.c Gemm
 * and MatMul, affine.c Add/Sum/Mul, batchnorm.c BatchNormalization, flatten.c Reshape and
 * Unsqueeze, ...); here are only Constant, Identity (an alias) and the QDQ pairs
 * (onnx_import_qdq.c). A node the fast path does not take becomes a generic node
 * (onnx_import_generic.c). Weights become
 * parameters under their initializer names; an op known to neither path is an error naming node
 * and op.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/hash.h"
#include "core/status.h"
#include "core/window.h"
#include "graph/graph.h"
#include "io/io.h"
#include "io/onnx_file.h"
#include "io/onnx_import.h"
#include "nd/nd.h"
#include "onnx.pb-c.h"
#include "ops/op.h"

#define MIN_OPSET 1 /* older opsets: the model zoo's bvlc_googlenet is opset 3 */
#define MAX_OPSET 17 /* 14 to 17 changed only types and training modes for our ops */

incept_status incept_onnx_node_error(const importer *im, const Onnx__NodeProto *n, incept_status st,
                                     const char *fmt, const char *detail)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, detail);
    return incept_fail(st, "%s: node '%s' (%s): %s", im->path, n->name && *n->name ? n->name : "?",
                       n->op_type ? n->op_type : "?", msg);
}

/* The name our graph gives an ONNX node (and the prefix of parameters computed for it): its
 * name, else its first output's. */
const char *incept_onnx_node_label(const Onnx__NodeProto *n)
{
    return n->name && *n->name ? n->name : n->output[0];
}

/* ---- bindings by name: an open-addressing table of the latest binding of each name; a newer one
 * shadows an older (its `shadowed`), which a rollback brings back ---- */

/* The slot holding name's latest binding, or (none) the first free slot on its probe path; -1
 * when the table is empty. */
static long binding_slot(const importer *im, const char *name, int *found)
{
    *found = 0;
    if (!im->binding_slots)
        return -1;
    long free_slot = -1;
    for (size_t i = incept_name_hash(name) & (im->binding_slots - 1), probes = 0; probes < im->binding_slots;
         i = (i + 1) & (im->binding_slots - 1), probes++) {
        int b = im->binding_index[i];
        if (b == -1)
            return free_slot >= 0 ? free_slot : (long)i;
        if (b == -2) {
            if (free_slot < 0)
                free_slot = (long)i;
            continue;
        }
        if (strcmp(im->bindings[b].name, name) == 0) {
            *found = 1;
            return (long)i;
        }
    }
    return free_slot;
}

static void index_binding(importer *im, int b)
{
    int found;
    long slot = binding_slot(im, im->bindings[b].name, &found);
    im->bindings[b].shadowed = found ? im->binding_index[slot] : -1;
    if (!found)
        im->binding_used += im->binding_index[slot] == -1;
    im->binding_index[slot] = b;
}

/* Room for one more name (the table at most half full, removed slots counted): rebuilt larger. */
static incept_status reserve_binding_slot(importer *im)
{
    if ((im->binding_used + 1) * 2 <= im->binding_slots)
        return INCEPT_OK;
    size_t slots = im->binding_slots ? im->binding_slots * 2 : 256;
    int *table = incept_malloc(sizeof(int) * slots);
    if (!table)
        return INCEPT_ERR_NOMEM;
    free(im->binding_index);
    im->binding_index = table, im->binding_slots = slots, im->binding_used = 0;
    memset(table, 0xff, sizeof(int) * slots);
    for (int b = 0; b < im->n_bindings; b++)
        index_binding(im, b);
    return INCEPT_OK;
}

void incept_onnx_unbind_from(importer *im, int keep)
{
    for (int b = im->n_bindings - 1; b >= keep; b--) {
        int found;
        long slot = binding_slot(im, im->bindings[b].name, &found);
        if (found && im->binding_index[slot] == b)
            im->binding_index[slot] = im->bindings[b].shadowed >= 0 ? im->bindings[b].shadowed : -2;
    }
    im->n_bindings = keep;
}

binding *incept_onnx_find_binding(importer *im, const char *name)
{
    int found;
    long slot = name ? binding_slot(im, name, &found) : -1;
    if (slot < 0 || !found)
        return NULL;
    binding *b = &im->bindings[im->binding_index[slot]];
    return b->alias >= 0 ? &im->bindings[b->alias] : b;
}

incept_status incept_onnx_bind(importer *im, const char *name, int value, const Onnx__TensorProto *t,
                               int rank)
{
    if (incept_grow((void **)&im->bindings, &im->cap_bindings, im->n_bindings, sizeof *im->bindings) ||
        reserve_binding_slot(im))
        return INCEPT_ERR_NOMEM;
    binding *b = &im->bindings[im->n_bindings++];
    b->name = name;
    b->value = value;
    b->tensor = t;
    b->init = NULL;
    b->rank = rank;
    b->param = -1;
    b->alias = -1;
    b->constant = -1;
    index_binding(im, (int)(b - im->bindings));
    return INCEPT_OK;
}

/* ---- tensors ---- */

size_t incept_onnx_tensor_count(const Onnx__TensorProto *t)
{
    size_t count = 1;
    for (size_t i = 0; i < t->n_dims; i++) /* a count no data could hold when it overflows */
        if (!incept_mul_size(count, t->dims[i] > 0 ? (size_t)t->dims[i] : 0, &count))
            return SIZE_MAX;
    return count;
}

/* The bytes of data a bound constant carries (in the file's mapping or the unpacked tensor). */
static size_t binding_bytes(const binding *b)
{
    const Onnx__TensorProto *t = b->tensor;
    if (b->init && b->init->payload)
        return b->init->payload_len;
    if (t->has_raw_data)
        return t->raw_data.len;
    return t->n_float_data * sizeof(float);
}

/* Copies a float tensor into dst (count floats), from raw_data or float_data. */
incept_status incept_onnx_tensor_floats(const importer *im, const Onnx__TensorProto *t, float *dst,
                                        size_t count)
{
    if (t->data_type != ONNX_FLOAT)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: tensor '%s' has data type %d (only float32 "
                           "weights are supported)", im->path, t->name ? t->name : "?", t->data_type);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: tensor '%s' keeps its data in an external "
                           "file", im->path, t->name ? t->name : "?");
    size_t bytes;
    if (!incept_mul_size(count, sizeof(float), &bytes))
        bytes = SIZE_MAX; /* no data holds it */
    if (t->has_raw_data && t->raw_data.len == bytes) {
        incept_copy(dst, t->raw_data.data, bytes); /* little-endian host */
        return INCEPT_OK;
    }
    if (!t->has_raw_data && t->n_float_data == count) {
        incept_copy(dst, t->float_data, count * sizeof(float));
        return INCEPT_OK;
    }
    return incept_fail(INCEPT_ERR_FORMAT, "%s: tensor '%s' holds the wrong amount of data for its "
                       "shape", im->path, t->name ? t->name : "?");
}

/* The floats of a bound constant: straight from the mapped file when the payload was left
 * there (then those pages are dropped), else from the unpacked tensor. */
static incept_status binding_floats(importer *im, const binding *b, float *dst, size_t count)
{
    const onnx_initializer *init = b->init;
    if (!init || !init->payload)
        return incept_onnx_tensor_floats(im, b->tensor, dst, count);
    if (b->tensor->data_type != ONNX_FLOAT)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: tensor '%s' has data type %d (only float32 "
                           "weights are supported)", im->path, b->name, b->tensor->data_type);
    size_t bytes;
    if (!incept_mul_size(count, sizeof(float), &bytes) || init->payload_len != bytes)
        return incept_fail(INCEPT_ERR_FORMAT, "%s: tensor '%s' holds the wrong amount of data for "
                           "its shape", im->path, b->name);
    incept_copy(dst, init->payload, init->payload_len); /* little-endian host, as on disk */
    incept_onnx_file_release(im->file, init);
    return INCEPT_OK;
}

/* Reads an int64 tensor of at most `max` values; returns the count, or -1 on error. */
long incept_onnx_tensor_int64s(const Onnx__TensorProto *t, int64_t *out, size_t max)
{
    size_t count = incept_onnx_tensor_count(t);
    if (t->data_type != ONNX_INT64 || count > max)
        return -1;
    if (t->has_raw_data && t->raw_data.len == count * 8) {
        incept_copy(out, t->raw_data.data, count * 8);
        return (long)count;
    }
    if (!t->has_raw_data && t->n_int64_data == count) {
        incept_copy(out, t->int64_data, count * 8);
        return (long)count;
    }
    return -1;
}

/* ---- attributes and dims as ints ---- */

incept_status incept_onnx_int_attr(importer *im, const Onnx__NodeProto *n, const char *name,
                                   int64_t fallback, int64_t lo, int64_t hi, int *out)
{
    int64_t v = incept_onnx_attr_int(n, name, fallback);
    if (incept_to_int(v, lo, hi, out))
        return INCEPT_OK;
    char detail[160];
    snprintf(detail, sizeof detail, "attribute '%s' is %lld, outside %lld to %lld", name, (long long)v,
             (long long)lo, (long long)hi);
    return incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "%s", detail);
}

incept_status incept_onnx_tensor_dims(importer *im, const Onnx__NodeProto *n, const Onnx__TensorProto *t,
                                      int *dims, size_t count)
{
    for (size_t d = 0; d < count; d++)
        if (d >= t->n_dims || !incept_to_int(t->dims[d], 0, INT32_MAX, &dims[d])) {
            char detail[256];
            snprintf(detail, sizeof detail, "initializer '%s' has a dim outside 0 to 2^31-1",
                     t->name ? t->name : "?");
            return incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "%s", detail);
        }
    return INCEPT_OK;
}

/* ---- inputs of a node ---- */

int64_t incept_onnx_axis(const Onnx__NodeProto *n, const binding *x, int64_t fallback)
{
    int64_t axis = incept_onnx_attr_int(n, "axis", fallback);
    return axis < 0 ? axis + x->rank : axis;
}

int incept_onnx_has_input(const Onnx__NodeProto *n, size_t i)
{
    return i < n->n_input && n->input[i] && n->input[i][0];
}

/* The activation feeding input i. */
incept_status incept_onnx_activation(importer *im, const Onnx__NodeProto *n, size_t i, binding **out)
{
    binding *b = incept_onnx_has_input(n, i) ? incept_onnx_find_binding(im, n->input[i]) : NULL;
    if (!b)
        return incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "input '%s' is not produced by any earlier node",
                          incept_onnx_has_input(n, i) ? n->input[i] : "(missing)");
    if (b->value < 0)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "input '%s' is a constant where an "
                          "activation is expected", n->input[i]);
    if (im->graph->values[b->value].generic && !im->graph->values[b->value].c)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "input '%s' is not an NCHW activation "
                          "(an N-d value, shaped at run time)", n->input[i]);
    *out = b;
    return INCEPT_OK;
}

/* The constant tensor at input i (an initializer or a Constant node's output), or NULL. */
const Onnx__TensorProto *incept_onnx_constant_input(importer *im, const Onnx__NodeProto *n, size_t i)
{
    binding *b = incept_onnx_has_input(n, i) ? incept_onnx_find_binding(im, n->input[i]) : NULL;
    return b ? b->tensor : NULL;
}

/* Makes input i a parameter of the expected element count (dims from the tensor, or `dims`
 * when given, e.g. a transposed Gemm weight). transpose: [K, M] stored as [M, K]. */
incept_status incept_onnx_weight_param(importer *im, const Onnx__NodeProto *n, size_t i, int ndim,
                                       const int *dims, int transpose, float scale, int *param)
{
    binding *b = incept_onnx_has_input(n, i) ? incept_onnx_find_binding(im, n->input[i]) : NULL;
    if (!b || !b->tensor)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "input '%s' must be a constant "
                          "initializer (weights computed at run time are not supported)",
                          incept_onnx_has_input(n, i) ? n->input[i] : "(missing)");
    if (b->param >= 0 && !transpose && scale == 1.0f) {
        *param = b->param;
        return INCEPT_OK;
    }
    size_t count = 1, bytes;
    for (int d = 0; d < ndim; d++)
        if (dims[d] < 0 || !incept_mul_size(count, (size_t)dims[d], &count))
            return incept_onnx_node_error(im, n, INCEPT_ERR_SHAPE, "initializer '%s' has too many values", b->name);
    if (incept_onnx_tensor_count(b->tensor) != count)
        return incept_onnx_node_error(im, n, INCEPT_ERR_SHAPE, "initializer '%s' has the wrong number of values",
                          b->name);
    /* the data must be there before anything is sized by the dims (a few bytes can claim gigabytes) */
    if (b->tensor->data_type == ONNX_FLOAT &&
        (!incept_mul_size(count, sizeof(float), &bytes) || binding_bytes(b) != bytes)) {
        char detail[512];
        snprintf(detail, sizeof detail, "initializer '%s' holds %zu bytes for %zu float values", b->name,
                 binding_bytes(b), count);
        return incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "%s", detail);
    }
    incept_status st = incept_graph_add_param(im->graph, b->name, ndim, dims, param);
    if (st)
        return incept_fail_prefix(st, "%s: ", im->path);
    if (!transpose && scale == 1.0f)
        return incept_onnx_pending_param(im, b, *param);
    if (incept_grow((void **)&im->copies, &im->cap_copies, im->n_copies, sizeof *im->copies))
        return INCEPT_ERR_NOMEM;
    im->copies[im->n_copies++] = (pending_copy){*param, (int)(b - im->bindings), transpose, scale, NULL};
    return INCEPT_OK;
}

incept_status incept_onnx_pending_param(importer *im, binding *b, int param)
{
    if (incept_grow((void **)&im->copies, &im->cap_copies, im->n_copies, sizeof *im->copies) ||
        incept_grow((void **)&im->touched, &im->cap_touched, im->n_touched, sizeof *im->touched))
        return INCEPT_ERR_NOMEM;
    im->copies[im->n_copies++] = (pending_copy){param, (int)(b - im->bindings), 0, 1.0f, NULL};
    im->touched[im->n_touched++] = (int)(b - im->bindings);
    b->param = param;
    return INCEPT_OK;
}

/* With the graph complete and its parameters allocated at their final size: each initializer
 * copied once, straight from the file into its parameter, transposed or scaled for Gemm. */
/* The values a pending copy holds as they are stored: computed ones, or its initializer's. */
incept_status incept_onnx_pending_floats(importer *im, const pending_copy *pc, float *dst, size_t count)
{
    if (pc->binding >= 0)
        return binding_floats(im, &im->bindings[pc->binding], dst, count);
    incept_copy(dst, pc->values, count * sizeof(float));
    return INCEPT_OK;
}

static incept_status copy_parameters(importer *im)
{
    incept_status st = incept_graph_allocate_params(im->graph);
    for (int i = 0; i < im->n_copies && !st; i++) {
        const pending_copy *pc = &im->copies[i];
        const incept_param *p = &im->graph->params[pc->param];
        float *dst = incept_graph_param_data(im->graph, pc->param);
        if ((st = incept_onnx_pending_floats(im, pc, dst, p->count)) || pc->binding < 0)
            continue; /* computed values are final */
        if (pc->transpose) {
            float *tmp = incept_malloc(p->count * sizeof(float));
            if (!tmp)
                return INCEPT_ERR_NOMEM;
            memcpy(tmp, dst, p->count * sizeof(float));
            for (int r = 0; r < p->dims[0]; r++)
                for (int c = 0; c < p->dims[1]; c++)
                    dst[(size_t)r * p->dims[1] + c] = tmp[(size_t)c * p->dims[0] + r];
            free(tmp);
        }
        if (pc->scale != 1.0f)
            for (size_t k = 0; k < p->count; k++)
                dst[k] *= pc->scale;
        im->graph->params[pc->param].onnx_transposed = pc->transpose;
        im->graph->params[pc->param].onnx_scale = pc->scale;
    }
    return st;
}

/* Adds our node and binds the ONNX output name to its value. */
incept_status incept_onnx_emit(importer *im, const Onnx__NodeProto *n, const char *op, const int *inputs,
                               int n_inputs, const incept_attrs *a, int weight, int bias, int rank)
{
    const char *name = incept_onnx_node_label(n);
    int node;
    incept_status st = incept_graph_add_node(im->graph, op, name, inputs, n_inputs, a, weight, bias,
                                             n->output[0], &node);
    if (st)
        return incept_fail_prefix(st, "%s: ", im->path);
    return incept_onnx_bind(im, n->output[0], im->graph->nodes[node].output, NULL, rank);
}

/* ---- padding ---- */

/* ONNX pads [h_begin, w_begin, h_end, w_end] or auto_pad, into our (top, left, bottom, right). */
/* Pads of a window over `spatial` (1 or 2) axes; a 1-D window runs along H (W is 1). */
static incept_status spatial_pads(importer *im, const Onnx__NodeProto *n, const incept_value *in,
                                  incept_attrs *a, int spatial)
{
    int64_t pads[4] = {0, 0, 0, 0};
    size_t np = incept_onnx_attr_ints(n, "pads", pads, 4);
    if (np != 0 && np != (size_t)(2 * spatial))
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                          spatial == 1 ? "pads must have 2 values (1-D)" : "pads must have 4 values");
    if (spatial == 1) /* [begin, end] of the one axis */
        pads[2] = pads[1], pads[1] = 0;
    for (int k = 0; k < 4; k++)
        if (pads[k] < 0 || pads[k] > 1 << 20)
            return incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "%s", "pads out of range [0, 2^20]");
    a->pad_top = (int)pads[0], a->pad_left = (int)pads[1];
    a->pad_bottom = (int)pads[2], a->pad_right = (int)pads[3];
    if (incept_onnx_attr_string_is(n, "auto_pad", "NOTSET", "NOTSET"))
        return INCEPT_OK;
    if (incept_onnx_attr_string_is(n, "auto_pad", "NOTSET", "VALID")) {
        a->pad_top = a->pad_left = a->pad_bottom = a->pad_right = 0;
        return INCEPT_OK;
    }
    int upper = incept_onnx_attr_string_is(n, "auto_pad", "NOTSET", "SAME_UPPER");
    if (!upper && !incept_onnx_attr_string_is(n, "auto_pad", "NOTSET", "SAME_LOWER"))
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "unknown auto_pad");
    int sizes[2] = {in->h, in->w}, kernels[2] = {a->kernel_h, a->kernel_w};
    int strides[2] = {a->stride_h, a->stride_w}, dil[2] = {a->dilation_h, a->dilation_w};
    long long begin[2] = {0, 0}, end[2] = {0, 0};
    for (int d = 0; d < spatial; d++) {
        if (kernels[d] < 1 || strides[d] < 1 || dil[d] < 1)
            return incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "%s", "kernel, strides and dilations "
                                          "must be positive");
        incept_window_same_pads(sizes[d], kernels[d], strides[d], dil[d], upper, &begin[d], &end[d]);
        if (begin[d] > 1 << 20 || end[d] > 1 << 20)
            return incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "%s", "auto_pad padding out of range");
    }
    a->pad_top = (int)begin[0], a->pad_left = (int)begin[1];
    a->pad_bottom = (int)end[0], a->pad_right = (int)end[1];
    return INCEPT_OK;
}

/* Kernel, strides, dilations and pads of a window over `spatial` axes: 2, or 1 for a [N, C, L]
 * tensor (stored with H = L, W = 1: the window runs along H). */
incept_status incept_onnx_window_attrs(importer *im, const Onnx__NodeProto *n, const incept_value *in,
                                       incept_attrs *a, int need_kernel, int spatial)
{
    int64_t v[4] = {1, 1, 1, 1};
    const char *names[3] = {"kernel_shape", "strides", "dilations"};
    int *h[3] = {&a->kernel_h, &a->stride_h, &a->dilation_h};
    int *w[3] = {&a->kernel_w, &a->stride_w, &a->dilation_w};
    for (int i = 0; i < 3; i++) {
        size_t k = incept_onnx_attr_ints(n, names[i], v, 4);
        if (k == (size_t)spatial) {
            if (v[0] < 1 || v[0] > 1 << 20 || (spatial == 2 && (v[1] < 1 || v[1] > 1 << 20))) {
                char what[64];
                snprintf(what, sizeof what, "%s out of range [1, 2^20]", names[i]);
                return incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "%s", what);
            }
            *h[i] = (int)v[0];
            *w[i] = spatial == 2 ? (int)v[1] : 1;
        } else if (k != 0 || (i == 0 && need_kernel)) {
            char what[64];
            snprintf(what, sizeof what, "%s must be %d-D", names[i], spatial);
            return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", what);
        }
    }
    return spatial_pads(im, n, in, a, spatial);
}

/* ---- ops ---- */







/* A parameter holding `count` computed values (owned by the importer until copied). */
static incept_status computed_param(importer *im, const char *name, float *values, int count, int *param)
{
    incept_status st = incept_graph_add_param(im->graph, name, 1, &count, param);
    if (!st && incept_grow((void **)&im->copies, &im->cap_copies, im->n_copies, sizeof *im->copies))
        st = INCEPT_ERR_NOMEM;
    if (st) {
        free(values);
        return st == INCEPT_ERR_NOMEM ? st : incept_fail_prefix(st, "%s: ", im->path);
    }
    im->copies[im->n_copies++] = (pending_copy){*param, -1, 0, 1.0f, values};
    return INCEPT_OK;
}

/* A computed parameter of node n, named "<node>/<what>". */
incept_status incept_onnx_node_param(importer *im, const Onnx__NodeProto *n, const char *what,
                                     float *values, int count, int *param)
{
    char name[1024];
    snprintf(name, sizeof name, "%s/%s", incept_onnx_node_label(n), what);
    return computed_param(im, name, values, count, param);
}

/* The floats of a small constant input (a scalar or one value per channel), malloc'd into
 * *values; *values is NULL (and the status OK) when the input is not a constant. */
incept_status incept_onnx_constant_floats(importer *im, const Onnx__NodeProto *n, size_t i, size_t *count,
                                          float **values)
{
    binding *b = incept_onnx_has_input(n, i) ? incept_onnx_find_binding(im, n->input[i]) : NULL;
    *values = NULL;
    if (!b || !b->tensor)
        return INCEPT_OK;
    *count = incept_onnx_tensor_count(b->tensor);
    size_t bytes = 0; /* checked against the data before anything of that size is allocated */
    if (b->tensor->data_type != ONNX_FLOAT)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: tensor '%s' has data type %d (only float32 "
                           "weights are supported)", im->path, b->name, b->tensor->data_type);
    if (!incept_mul_size(*count, sizeof(float), &bytes) || bytes != binding_bytes(b))
        return incept_fail(INCEPT_ERR_FORMAT, "%s: tensor '%s' holds the wrong amount of data for its "
                           "shape", im->path, b->name);
    float *v = incept_malloc(sizeof(float) * (*count ? *count : 1));
    if (!v)
        return INCEPT_ERR_NOMEM;
    incept_status st = binding_floats(im, b, v, *count);
    if (st)
        return free(v), st;
    *values = v;
    return INCEPT_OK;
}


/* ---- readers: how many nodes (and graph outputs) read each name, counted once per import ---- */

static void count_reader(importer *im, const char *name)
{
    size_t i = incept_name_hash(name) & (im->reader_slots - 1);
    while (im->reader_names[i] && strcmp(im->reader_names[i], name) != 0)
        i = (i + 1) & (im->reader_slots - 1);
    im->reader_names[i] = name;
    im->reader_counts[i]++;
}

static incept_status count_readers(importer *im)
{
    const Onnx__GraphProto *g = im->onnx;
    size_t names = g->n_output, slots = 64;
    for (size_t i = 0; i < g->n_node; i++)
        names += g->node[i]->n_input;
    while (slots < 2 * names + 1) /* at most half full */
        slots *= 2;
    im->reader_names = incept_calloc(slots, sizeof *im->reader_names);
    im->reader_counts = incept_calloc(slots, sizeof *im->reader_counts);
    if (!im->reader_names || !im->reader_counts)
        return INCEPT_ERR_NOMEM;
    im->reader_slots = slots;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++)
            if (g->node[i]->input[k] && g->node[i]->input[k][0])
                count_reader(im, g->node[i]->input[k]);
    for (size_t i = 0; i < g->n_output; i++) /* a ValueInfo's name is optional */
        if (g->output[i]->name)
            count_reader(im, g->output[i]->name);
    return INCEPT_OK;
}

int incept_onnx_readers_of(const importer *im, const char *name)
{
    for (size_t i = incept_name_hash(name) & (im->reader_slots - 1); im->reader_names[i];
         i = (i + 1) & (im->reader_slots - 1))
        if (strcmp(im->reader_names[i], name) == 0)
            return im->reader_counts[i];
    return 0;
}

/* The per-sample dims of an activation as ONNX sees them (rank - 1 of them), when our C, H, W hold
 * them in order with trailing 1s; 0 when the layout is another (a Gather's [N, H, W] is stored as
 * C = 1, H, W) or could be either. */
int incept_onnx_sample_dims(const importer *im, const binding *x, int dims[3])
{
    const incept_value *v = &im->graph->values[x->value];
    int ours[3] = {v->c, v->h, v->w};
    if (x->rank < 2 || x->rank > 4 || (x->rank == 3 && v->c == 1))
        return 0;
    for (int i = 0; i < 3; i++) {
        if (i >= x->rank - 1 && ours[i] != 1)
            return 0;
        dims[i] = ours[i];
    }
    return 1;
}

incept_status incept_onnx_import_node(importer *im, const Onnx__NodeProto *n)
{
    const char *op = n->op_type ? n->op_type : "";
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx") != 0)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "operator domain '%s'", n->domain);
    if (n->n_output < 1 || !n->output[0][0]) /* (import_any lets through ops that omit output 0) */
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "its first output omitted");
    if (strcmp(op, "Constant") == 0) {
        const Onnx__AttributeProto *v = incept_onnx_attr(n, "value");
        if (!v || !v->t)
            return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "Constant without a 'value' tensor");
        return incept_onnx_bind(im, n->output[0], -1, v->t, 0);
    }
    if (strcmp(op, "Identity") == 0 && n->n_input >= 1) {
        /* of a constant (PyTorch's exporter shares one initializer among equal ones this way):
         * the output is the same constant, and a parameter made of it stays one */
        binding *c = incept_onnx_find_binding(im, n->input[0]);
        if (c && c->value < 0) {
            int target = (int)(c - im->bindings);
            incept_status st = incept_onnx_bind(im, n->output[0], -1, c->tensor, 0);
            if (!st)
                im->bindings[im->n_bindings - 1].alias = target;
            return st;
        }
    }
    const incept_op *own = incept_op_for_onnx(op); /* an op that is one ONNX op imports itself */
    if (own)
        return own->from_onnx(im, n);
    if (strcmp(op, "QuantizeLinear") == 0)
        return incept_onnx_import_quantize(im, n);
    if (strcmp(op, "DequantizeLinear") == 0)
        return incept_onnx_import_dequantize(im, n);

    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    if (strcmp(op, "Identity") == 0)
        return incept_onnx_bind(im, n->output[0], x->value, NULL, x->rank);
    return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "op '%s' is not supported", op);
}

/* The declared type and shape of a graph input or output onto its value. */
static void declare(incept_value *v, const Onnx__ValueInfoProto *info)
{
    const Onnx__TypeProto *t = info->type;
    v->declared_rank = -1;
    if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return;
    const Onnx__TypeProto__Tensor *tensor = t->tensor_type;
    /* int32 is held as int64 */
    v->declared_dtype = tensor->elem_type == 6 ? INCEPT_INT64 : (incept_dtype)tensor->elem_type;
    if (!tensor->shape || tensor->shape->n_dim > INCEPT_MAX_RANK)
        return;
    v->declared_rank = (int)tensor->shape->n_dim;
    for (size_t d = 0; d < tensor->shape->n_dim; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tensor->shape->dim[d];
        v->declared_dims[d] = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                                  ? (long long)dim->dim_value : -1;
    }
}

/* Whether an input can be the NCHW one: float, rank 1 to 4, the sizes after the batch known. */
static int nchw_input(const Onnx__ValueInfoProto *v, int dims[3])
{
    const Onnx__TypeProto *t = v->type;
    if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type->shape)
        return 0;
    const Onnx__TensorShapeProto *s = t->tensor_type->shape;
    if (t->tensor_type->elem_type != ONNX_FLOAT || s->n_dim < 1 || s->n_dim > 4)
        return 0;
    dims[0] = dims[1] = dims[2] = 1; /* C, H, W; missing trailing dims are 1 */
    for (int d = 0; d + 1 < (int)s->n_dim; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = s->dim[d + 1];
        if (dim->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ||
            dim->dim_value <= 0 || dim->dim_value > 1 << 20)
            return 0;
        dims[d] = (int)dim->dim_value;
    }
    return 1;
}

/* The graph inputs that are not initializers: the first that can be, NCHW (what the fast path
 * and training read); the others generic. */
static incept_status import_inputs(importer *im)
{
    const Onnx__GraphProto *g = im->onnx;
    incept_status st;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *v = g->input[i];
        if (!v->name || !*v->name)
            return incept_fail(INCEPT_ERR_FORMAT, "%s: graph input %zu has no name", im->path, i);
        if (incept_onnx_find_binding(im, v->name))
            continue; /* an initializer listed as an input (older exporters) */
        int dims[3], value;
        if (!im->force_generic && im->graph->input < 0 && nchw_input(v, dims)) {
            im->graph->input_rank = (int)v->type->tensor_type->shape->n_dim;
            if ((st = incept_graph_set_input(im->graph, v->name, dims[0], dims[1], dims[2])))
                return incept_fail_prefix(st, "%s: ", im->path);
            value = im->graph->input;
        } else if ((st = incept_graph_add_generic_input(im->graph, v->name, &value))) {
            return incept_fail_prefix(st, "%s: ", im->path);
        }
        declare(&im->graph->values[value], v);
        if ((st = incept_onnx_bind(im, v->name, value, NULL, im->graph->values[value].declared_rank)))
            return st;
    }
    return INCEPT_OK; /* none at all is a constant graph (ONNX's test_constant) */
}

/* Every graph output, the first the main one (what training's loss reads). */
static incept_status import_outputs(importer *im)
{
    const Onnx__GraphProto *g = im->onnx;
    incept_graph *graph = im->graph;
    if (g->n_output < 1)
        return incept_fail(INCEPT_ERR_FORMAT, "%s: the graph has no output", im->path);
    for (size_t i = 0; i < g->n_output; i++) {
        const char *name = g->output[i]->name;
        if (!name || !*name)
            return incept_fail(INCEPT_ERR_FORMAT, "%s: graph output %zu has no name", im->path, i);
        binding *out = incept_onnx_find_binding(im, name);
        if (!out)
            return incept_fail(INCEPT_ERR_FORMAT, "%s: output '%s' is not computed by any node",
                               im->path, name);
        int v = out->value;
        incept_status st = v < 0 ? incept_onnx_generic_input(im, NULL, name, &v) : INCEPT_OK;
        if (st || (st = incept_graph_add_output(graph, v)))
            return st;
        if (graph->values[v].declared_rank < 0 || !graph->values[v].declared_dtype)
            declare(&graph->values[v], g->output[i]);
        if (i > 0)
            continue;
        graph->output = v;
        graph->output_rank = out->rank;
        if (strcmp(name, graph->values[v].name) != 0 && !(graph->output_name = incept_strdup(name)))
            return INCEPT_ERR_NOMEM;
    }
    return INCEPT_OK;
}

static incept_status import_model(importer *im, onnx_file *file)
{
    incept_status st;
    im->file = file;
    im->opset = incept_onnx_file_opset(file);
    if (im->opset < 0 && file->n_opsets > 0) /* only other domains: valid, but not ours */
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: imports no default-domain (ai.onnx) opset, only "
                           "domain '%s'", im->path, file->opsets[0]->domain ? file->opsets[0]->domain : "");
    if (im->opset < 0)
        return incept_fail(INCEPT_ERR_FORMAT, "%s: no default-domain opset_import", im->path);
    if (im->opset < MIN_OPSET || im->opset > MAX_OPSET)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: opset %d (this build imports opsets %d to %d)",
                           im->path, im->opset, MIN_OPSET, MAX_OPSET);
    im->onnx = file->graph;
    im->graph->opset = im->opset;
    if ((st = count_readers(im)))
        return st;
    if (!(im->graph->source = incept_strdup(im->path)))
        return INCEPT_ERR_NOMEM;
    for (size_t i = 0; i < file->n_initializers; i++) {
        const Onnx__TensorProto *t = file->initializers[i].tensor;
        if (!t->name || !*t->name)
            return incept_fail(INCEPT_ERR_FORMAT, "%s: an initializer without a name", im->path);
        if ((st = incept_onnx_bind(im, t->name, -1, t, 0)))
            return st;
        im->bindings[im->n_bindings - 1].init = &file->initializers[i];
    }
    if ((st = import_inputs(im)))
        return st;
    for (size_t i = 0; i < im->onnx->n_node; i++)
        if ((st = incept_onnx_import_any(im, im->onnx->node[i])))
            return st;
    if ((st = import_outputs(im)))
        return st;
    incept_graph_prune_generic(im->graph); /* what read them was folded into constants */
    if ((st = copy_parameters(im)))
        return st;
    incept_graph *g = im->graph;
    for (int v = 0; v < g->n_values; v++) /* constants that are parameters now keep their shapes */
        if (g->values[v].param >= 0 && g->values[v].constant >= 0) {
            incept_tensor *t = &g->constants[g->values[v].constant];
            free(t->data);
            t->data = NULL;
        }
    return INCEPT_OK;
}

static void free_metadata(char **metadata, int pairs)
{
    for (int i = 0; metadata && i < 2 * pairs; i++)
        free(metadata[i]);
    free(metadata);
}

/* The file's metadata_props as key, value, key, value ... strings. */
static incept_status copy_metadata(const onnx_file *file, char ***out, int *pairs)
{
    *out = NULL, *pairs = 0;
    if (!file->n_metadata)
        return INCEPT_OK;
    char **m = incept_calloc(2 * file->n_metadata, sizeof *m);
    if (!m)
        return INCEPT_ERR_NOMEM;
    for (size_t i = 0; i < file->n_metadata; i++) {
        const Onnx__StringStringEntryProto *e = file->metadata[i];
        m[2 * i] = incept_strdup(e->key ? e->key : "");
        m[2 * i + 1] = incept_strdup(e->value ? e->value : "");
        if (!m[2 * i] || !m[2 * i + 1]) {
            free_metadata(m, (int)i + 1);
            return INCEPT_ERR_NOMEM;
        }
    }
    *out = m, *pairs = (int)file->n_metadata;
    return INCEPT_OK;
}

/* A model of the ONNX file at path, or (data not NULL) of the bytes data[0 .. size) named path. */
static incept_status load_onnx(const char *path, const void *data, size_t size, int force_generic,
                               incept_model **out)
{
    if (!path || !out)
        return incept_fail(INCEPT_ERR_ARG, "load_onnx needs a path (or a name) and an output handle");
    *out = NULL;
    onnx_file *file = incept_calloc(1, sizeof *file);
    if (!file)
        return INCEPT_ERR_NOMEM;
    incept_status st = data ? incept_onnx_file_open_memory(data, size, path, file)
                            : incept_onnx_file_open(path, file);
    if (st) {
        free(file);
        return st;
    }
    incept_graph g;
    incept_graph_init(&g);
    importer im = {.path = path, .graph = &g, .force_generic = force_generic};
    st = import_model(&im, file);
    for (int i = 0; i < im.n_copies; i++)
        free(im.copies[i].values);
    free(im.bindings);
    free(im.binding_index);
    free(im.reader_names);
    free(im.reader_counts);
    free(im.copies);
    free(im.touched);
    incept_onnx_import_generic_free(&im);
    char **metadata = NULL; /* the metadata_props, copied before the file may close */
    int n_metadata = 0;
    if (!st)
        st = copy_metadata(file, &metadata, &n_metadata);
    int keep = !st && g.n_generic > 0; /* generic nodes read their attributes from it */
    if (keep) {
        for (size_t i = 0; i < file->n_initializers; i++) { /* all copied out by now */
            incept_onnx_file_release(file, &file->initializers[i]);
            file->initializers[i].payload = NULL;
        }
        if (file->borrowed) /* the caller's buffer need not outlive the call */
            file->map = NULL, file->map_len = 0;
    }
    else {
        incept_onnx_file_close(file);
        free(file);
    }
    if (st) {
        free_metadata(metadata, n_metadata);
        incept_graph_free(&g);
        return st;
    }
    if ((st = incept_model_wrap(&g, out))) {
        free_metadata(metadata, n_metadata);
        if (keep)
            incept_onnx_file_close(file), free(file);
        return st;
    }
    (*out)->metadata = metadata, (*out)->n_metadata = n_metadata;
    (*out)->onnx = keep ? file : NULL;
    if (keep)
        file->path = (*out)->graph.source; /* the caller's string need not outlive the call */
    if (!((*out)->onnx_source = incept_strdup(path))) {
        incept_model_free(*out);
        *out = NULL;
        return INCEPT_ERR_NOMEM;
    }
    return INCEPT_OK;
}

incept_status incept_model_load_onnx(const char *path, incept_model **out)
{
    return load_onnx(path, NULL, 0, 0, out);
}

incept_status incept_model_load_onnx_memory(const void *data, size_t size, const char *name,
                                            incept_model **out)
{
    if (!data)
        return incept_fail(INCEPT_ERR_ARG, "load_onnx_memory needs the model's bytes");
    return load_onnx(name ? name : "(memory)", data, size, 0, out);
}

incept_status incept_model_load_onnx_generic(const char *path, incept_model **out)
{
    return load_onnx(path, NULL, 0, 1, out);
}
