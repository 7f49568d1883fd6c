/* onnx_import_ops.c — the ONNX importer's ops that are not windows or products: Mul/Add/Sum by
 * constants (a per-channel affine), BatchNormalization (folded into the convolution before it
 * when it can be, and remembered so export can unfold it), and the layout ops Gather, Reshape,
 * Unsqueeze, MatMul. The shared machinery is in onnx_import.c (see onnx_import.h). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "io/onnx_import.h"
#include "ops/op.h"

/* y = x * scale + shift per channel, scale and shift from computed values. */
static incept_status emit_affine(importer *im, const Onnx__NodeProto *n, binding *x, float *scale,
                                 int n_scale, float *shift, int n_shift, const char *shift_name)
{
    int weight, bias;
    incept_status st = incept_onnx_node_param(im, n, "scale", scale, n_scale, &weight);
    if (st) {
        free(shift);
        return st;
    }
    if ((st = incept_onnx_node_param(im, n, shift_name, shift, n_shift, &bias)))
        return st;
    /* values computed from the file's constants have no initializer to go back to on export:
     * they stay as imported (PyTorch's transform_input constants are not trained either) */
    im->graph->params[weight].frozen = im->graph->params[bias].frozen = 1;
    incept_attrs a = incept_attrs_default();
    return incept_onnx_emit(im, n, "affine", &x->value, 1, &a, weight, bias, x->rank);
}

/* Mul or Add of an activation and a constant scalar or per-channel vector; Add or Sum of
 * activations of one shape. */
incept_status incept_onnx_import_arithmetic(importer *im, const Onnx__NodeProto *n, int add)
{
    int constant = -1;
    for (size_t i = 0; i < n->n_input && i < 2; i++) {
        binding *b = incept_onnx_has_input(n, i) ? incept_onnx_find_binding(im, n->input[i]) : NULL;
        if (b && b->tensor)
            constant = (int)i;
    }
    if (constant < 0) {
        if (!add)
            return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "a product of two activations");
        int *inputs = incept_malloc(sizeof(int) * (n->n_input ? n->n_input : 1));
        if (!inputs)
            return INCEPT_ERR_NOMEM;
        incept_status st = INCEPT_OK;
        int rank = 4;
        for (size_t i = 0; i < n->n_input && !st; i++) {
            binding *b;
            if (!(st = incept_onnx_activation(im, n, i, &b)))
                inputs[i] = b->value, rank = b->rank;
        }
        incept_attrs a = incept_attrs_default();
        if (!st)
            st = incept_onnx_emit(im, n, "add", inputs, (int)n->n_input, &a, -1, -1, rank);
        free(inputs);
        return st;
    }
    if (n->n_input != 2)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "more than two operands with a constant");
    binding *x;
    incept_status st = incept_onnx_activation(im, n, (size_t)(1 - constant), &x);
    if (st)
        return st;
    size_t count = 0;
    float *values;
    if ((st = incept_onnx_constant_floats(im, n, (size_t)constant, &count, &values)))
        return st;
    const incept_value *v = &im->graph->values[x->value];
    if (!values || (count != 1 && count != (size_t)v->c))
        return free(values), incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                                        "a constant that is neither a scalar nor one value per channel");
    float *other = incept_malloc(sizeof(float));
    if (!other)
        return free(values), INCEPT_ERR_NOMEM;
    other[0] = add ? 1.0f : 0.0f; /* Add: scale 1, shift = constant; Mul: scale = constant, shift 0 */
    return add ? emit_affine(im, n, x, other, 1, values, (int)count, "shift")
               : emit_affine(im, n, x, values, (int)count, other, 1, "shift");
}

static int is_initializer(importer *im, const char *name)
{
    const binding *b = incept_onnx_find_binding(im, name);
    return b && b->init;
}

/* BatchNormalization at inference: y = (x - mean) / sqrt(var + eps) * gamma + beta per channel. */
incept_status incept_onnx_import_batchnorm(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    if (incept_onnx_attr_int(n, "training_mode", 0) != 0) /* opset 14: batch statistics and running updates */
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "training_mode = 1 (only inference)");
    int c = im->graph->values[x->value].c;
    size_t counts[4];
    float *v[4] = {NULL, NULL, NULL, NULL}; /* gamma, beta, mean, var */
    for (int i = 0; i < 4; i++)
        if ((st = incept_onnx_constant_floats(im, n, (size_t)i + 1, &counts[i], &v[i])) || !v[i] ||
            counts[i] != (size_t)c) {
            for (int k = 0; k <= i; k++)
                free(v[k]);
            if (st)
                return st;
            return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                              "scale, B, mean and var must be constants with one value per channel");
        }
    float eps = incept_onnx_attr_float(n, "epsilon", 1e-5f);
    for (int ch = 0; ch < c; ch++) { /* scale into v[0], shift into v[1], mean * scale into v[2] */
        float s = v[0][ch] / sqrtf(v[3][ch] + eps);
        v[2][ch] *= s;
        v[1][ch] = v[1][ch] - v[2][ch];
        v[0][ch] = s;
    }
    free(v[3]);
    /* an affine node, listed for the folding pass (passes/fold_batchnorm.c), which moves it into
     * the convolution before it where it can; its parameters are named as the folded bias */
    incept_graph *g = im->graph;
    incept_bn_source *grown = realloc(g->bn_sources, sizeof *grown * (size_t)(g->n_bn_sources + 1));
    if (!grown) {
        free(v[0]), free(v[1]), free(v[2]);
        return INCEPT_ERR_NOMEM;
    }
    g->bn_sources = grown;
    const char *beta = n->n_input > 2 && is_initializer(im, n->input[2]) &&
                       incept_onnx_readers_of(im, n->input[2]) == 1 ? n->input[2] : NULL;
    incept_bn_source *src = &g->bn_sources[g->n_bn_sources];
    *src = (incept_bn_source){-1, NULL, v[2]};
    if (beta && !(src->beta = incept_strdup(beta))) {
        free(v[0]), free(v[1]), free(v[2]);
        return INCEPT_ERR_NOMEM;
    }
    g->n_bn_sources++;
    st = emit_affine(im, n, x, v[0], c, v[1], c, "bias");
    if (!st) /* its output value (node indices change as the importer prunes) */
        src = &g->bn_sources[g->n_bn_sources - 1], src->value = g->nodes[g->n_nodes - 1].output;
    return st;
}

/* Gather on the channel axis with constant indices: a run of channels (one index drops the axis,
 * as ONNX does: rank 3, the same memory in our NCHW layout). */
incept_status incept_onnx_import_gather(importer *im, const Onnx__NodeProto *n, binding *x)
{
    int64_t axis = incept_onnx_axis(n, x, 0), idx[1024];
    const Onnx__TensorProto *t = incept_onnx_constant_input(im, n, 1);
    long count = t ? incept_onnx_tensor_int64s(t, idx, 1024) : -1;
    int c = im->graph->values[x->value].c;
    if (axis != 1 || x->rank != 4 || count < 1)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                          "only gathering channels of a 4-D tensor with constant indices");
    for (long i = 0; i < count; i++) {
        if (idx[i] < 0)
            idx[i] += c;
        if (idx[i] != idx[0] + i || idx[i] >= c)
            return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "indices that are not a run of channels");
    }
    incept_attrs a = incept_attrs_default();
    a.groups = (int)idx[0], a.size = (int)count; /* first channel, count */
    return incept_onnx_emit(im, n, "channels", &x->value, 1, &a, -1, -1, t->n_dims == 0 ? 3 : 4);
}

/* Unsqueeze back to 4-D: [N, H, W] at axis 1 (after a channel Gather), [N, C] at axes 2, 3. */
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

/* A reshape keeping the batch: to `rank` (2 to 4) with per-sample dims `dims` (rank - 1 used). */
static incept_status emit_reshape(importer *im, const Onnx__NodeProto *n, binding *x, const long *dims,
                                  int rank)
{
    incept_attrs a = incept_attrs_default();
    if (rank == 2) /* [N, features]: our flatten, or nothing from rank 2 */
        return x->rank == 2 ? incept_onnx_bind(im, n->output[0], x->value, NULL, 2)
                            : incept_onnx_emit(im, n, "flatten", &x->value, 1, &a, -1, -1, 2);
    a.shape[0] = rank;
    for (int i = 0; i < 3; i++)
        a.shape[i + 1] = i < rank - 1 ? (int)dims[i] : 1;
    const incept_value *v = &im->graph->values[x->value];
    if (a.shape[1] == v->c && a.shape[2] == v->h && a.shape[3] == v->w) /* only the rank changes */
        return incept_onnx_bind(im, n->output[0], x->value, NULL, rank);
    return incept_onnx_emit(im, n, "reshape", &x->value, 1, &a, -1, -1, rank);
}

incept_status incept_onnx_import_unsqueeze(importer *im, const Onnx__NodeProto *n, binding *x)
{
    int64_t axes[4];
    long count = (long)incept_onnx_attr_ints(n, "axes", axes, 4);
    if (im->opset >= 13) {
        const Onnx__TensorProto *t = incept_onnx_constant_input(im, n, 1);
        count = t ? incept_onnx_tensor_int64s(t, axes, 4) : -1;
    }
    for (long i = 0; i < count; i++)
        if (axes[i] < 0)
            axes[i] += x->rank + count;
    if ((x->rank == 3 && count == 1 && axes[0] == 1) ||
        (x->rank == 2 && count == 2 && axes[0] == 2 && axes[1] == 3))
        return incept_onnx_bind(im, n->output[0], x->value, NULL, 4);
    /* otherwise: 1s inserted among the dims after the batch */
    int in_dims[3], out_rank = x->rank + (int)count;
    long out_dims[3];
    if (count < 1 || out_rank > 4 || !incept_onnx_sample_dims(im, x, in_dims))
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "unsqueezing beyond rank 4 or of a "
                          "tensor not laid out as [N, C, H, W]");
    int inserted[4] = {0, 0, 0, 0};
    for (long i = 0; i < count; i++) {
        if (axes[i] < 1 || axes[i] >= out_rank || inserted[axes[i]])
            return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "unsqueezing the batch axis (or "
                              "an axis out of range or repeated)");
        inserted[axes[i]] = 1;
    }
    for (int d = 1, next = 0; d < out_rank; d++)
        out_dims[d - 1] = inserted[d] ? 1 : in_dims[next++];
    return emit_reshape(im, n, x, out_dims, out_rank);
}

/* Reshape to a shape that keeps the batch: [N, -1] (or [0, -1], or [N, C*H*W]) is a flatten,
 * the others a reshape. */
incept_status incept_onnx_import_reshape(importer *im, const Onnx__NodeProto *n, binding *x)
{
    int64_t shape[8];
    long count;
    if (im->opset < 5) { /* the target shape was an attribute */
        count = (long)incept_onnx_attr_ints(n, "shape", shape, 8);
    } else {
        const Onnx__TensorProto *t = incept_onnx_constant_input(im, n, 1);
        count = t ? incept_onnx_tensor_int64s(t, shape, 8) : -1;
    }
    const incept_value *v = &im->graph->values[x->value];
    long features = (long)v->c * v->h * v->w;
    for (long i = 0; i < count; i++) /* opset 14: with allowzero a 0 is a zero-sized dim */
        if (shape[i] == 0 && incept_onnx_attr_int(n, "allowzero", 0) != 0)
            return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "allowzero = 1 with a zero dimension");
    /* any shape of rank 2 to 4 that keeps the batch (0 copies a dim, one -1 is inferred) */
    int in_dims[3];
    long out_dims[3], known = 1;
    int infer_at = -1, ok = count >= 2 && count <= 4;
    for (long i = 1; ok && i < count; i++) {
        long d = (long)shape[i];
        if (d == 0) {
            ok = i < x->rank && incept_onnx_sample_dims(im, x, in_dims);
            d = ok ? in_dims[i - 1] : 1;
        } else if (d == -1) {
            ok = infer_at < 0;
            infer_at = (int)i - 1;
            d = 1;
        } else {
            ok = d > 0 && d <= features;
        }
        out_dims[i - 1] = d, known *= d;
    }
    if (ok && infer_at >= 0)
        ok = known > 0 && features % known == 0 && (out_dims[infer_at] = features / known, 1);
    else if (ok)
        ok = known == features;
    if (ok && shape[0] == -1) /* the batch inferred: it stays N when the rest is one sample */
        ok = infer_at < 0;
    if (ok)
        return emit_reshape(im, n, x, out_dims, (int)count);
    return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "reshaping to other than [N, ...] with the "
                      "same count per sample (rank 2 to 4)");
}
