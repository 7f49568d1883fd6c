/* flatten.c — flatten, [N, C, H, W] -> [N, C*H*W] (stored as [N, C*H*W, 1, 1]), and its general
 * form reshape, [N, C, H, W] -> [N, C', H', W'] with the same count per sample (an ONNX Reshape
 * that keeps the batch). The data is unchanged: both are in place where the planner can. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "io/onnx_writer.h"
#include "io/onnx_import.h"
#include "nd/nd.h"
#include "ops/op.h"

static incept_status flatten_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    *c = in->c * in->h * in->w;
    *h = *w = 1;
    return INCEPT_OK;
}

static incept_status reshape_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    const int *shape = n->attrs.shape;
    if (shape[1] < 1 || shape[2] < 1 || shape[3] < 1 ||
        (long long)shape[1] * shape[2] * shape[3] != (long long)in->c * in->h * in->w)
        return incept_fail(INCEPT_ERR_SHAPE, "node '%s': reshape of %dx%dx%d to %dx%dx%d changes the "
                           "count per sample", n->name, in->c, in->h, in->w, shape[1], shape[2], shape[3]);
    *c = shape[1], *h = shape[2], *w = shape[3];
    return INCEPT_OK;
}

/* Also the inference pass of dropout: a copy, unless the planner made input and output one. */
void incept_copy_forward(const incept_op_args *args)
{
    const incept_view *in = &args->inputs[0], *out = &args->output;
    size_t count = (size_t)in->c * in->h * in->w;
    for (int s = 0; s < in->n; s++) {
        float *dst = out->data + s * out->batch_stride;
        const float *src = in->data + s * in->batch_stride;
        if (dst != src)
            memcpy(dst, src, count * sizeof(float));
    }
}

/* The data order is unchanged: dx += dy. */
static void flatten_backward(const incept_backward_args *args)
{
    incept_view dx = args->input_grads[0];
    if (dx.data)
        incept_view_accumulate(&dx, &args->output_grad);
}

static incept_status flatten_to_onnx(const incept_onnx_export *e)
{
    const char *ins[] = {e->in, NULL};
    struct Onnx__AttributeProto *attrs[] = {incept_onnx_put_int(e->w, "axis", 1), NULL};
    e->rank[e->n->output] = 2;
    return incept_onnx_put_node(e->w, "Flatten", e->n->name, ins, e->out, attrs) ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* Reshape to [0, C, H, W] cut to its rank. */
static incept_status reshape_to_onnx(const incept_onnx_export *e)
{
    const incept_attrs *a = &e->n->attrs;
    const int64_t target[4] = {0, a->shape[1], a->shape[2], a->shape[3]}, count = a->shape[0];
    char shape_name[1100];
    snprintf(shape_name, sizeof shape_name, "%s/shape", e->n->name);
    const char *ins[] = {e->in, shape_name, NULL};
    e->rank[e->n->output] = (int)count;
    int ok = incept_onnx_put_initializer(e->w, shape_name, INCEPT_ONNX_INT64, &count, 1, target,
                                         sizeof(int64_t) * (size_t)count) &&
             incept_onnx_put_node(e->w, "Reshape", e->n->name, ins, e->out, NULL);
    return ok ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* Flatten at axis 1 (of a 2-D value: nothing to do). */
static incept_status flatten_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    incept_attrs a = incept_attrs_default();
    if (incept_onnx_axis(n, x, 1) != 1)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "axis other than 1");
    if (x->rank == 2)
        return incept_onnx_bind(im, n->output[0], x->value, NULL, 2);
    return incept_onnx_emit(im, n, "flatten", &x->value, 1, &a, -1, -1, 2);
}

/* ---- the N-d reference (the generic path: any rank and dtype; nd/nd.h) ---- */

INCEPT_ND_OP(reshape)
{
    (void)n_out;
    long long shape[INCEPT_MAX_RANK + 1];
    int rank = 0;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, in[0] ? in[0]->dtype : INCEPT_FLOAT32, 0, 0);
    if (st)
        return st;
    if (ctx->opset < 5)
        rank = incept_nd_attr_ints(ctx->node, "shape", shape, INCEPT_MAX_RANK + 1);
    else if ((st = incept_nd_int_input(ctx, in, n_in, 1, shape, INCEPT_MAX_RANK + 1, &rank)))
        return st;
    if (rank > INCEPT_MAX_RANK)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "a shape of rank %d (at most %d)", rank,
                           INCEPT_MAX_RANK);
    int allow_zero = incept_onnx_attr_int(ctx->node, "allowzero", 0) != 0, infer = -1;
    size_t known = 1;
    for (int d = 0; d < rank; d++) {
        if (shape[d] == 0 && !allow_zero) {
            if (d >= in[0]->rank)
                return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "shape[%d] = 0 copies an axis the input lacks", d);
            shape[d] = in[0]->dims[d];
        }
        if (shape[d] == -1) {
            if (infer >= 0)
                return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "more than one -1 in the shape");
            infer = d;
            continue;
        }
        if (shape[d] < 0)
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "shape[%d] = %lld", d, shape[d]);
        known *= (size_t)shape[d];
    }
    if (infer >= 0) {
        size_t count = incept_tensor_count(in[0]);
        if (known == 0 || count % known)
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "cannot infer the -1 of a shape for %zu elements",
                               count);
        shape[infer] = (long long)(count / known);
    }
    return incept_nd_reshaped(ctx, in[0], rank, shape, out);
}

INCEPT_ND_OP(flatten)
{
    (void)n_out;
    int axis;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, in[0] ? in[0]->dtype : INCEPT_FLOAT32, 0, 0);
    if (st || (st = incept_nd_axis(ctx, incept_onnx_attr_int(ctx->node, "axis", 1), in[0]->rank, 1, &axis)))
        return st;
    long long dims[2] = {(long long)incept_nd_span(in[0], 0, axis),
                         (long long)incept_nd_span(in[0], axis, in[0]->rank)};
    return incept_nd_reshaped(ctx, in[0], 2, dims, out);
}

/* Reshape and Flatten keep the values in their order: the gradient is dout's, reshaped. */
INCEPT_ND_GRAD(reshape)
{
    return incept_nd_grad_pass(ctx, in, n_in, out, n_out, dout, din);
}

INCEPT_ND_GRAD(flatten)
{
    return incept_nd_grad_pass(ctx, in, n_in, out, n_out, dout, din);
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

static incept_status unsqueeze_from_onnx(importer *im, const Onnx__NodeProto *n, binding *x)
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

/* ONNX Reshape to a shape that keeps the batch: [N, -1] (or [0, -1], or [N, C*H*W]) is a flatten,
 * the others a reshape. */
static incept_status reshape_onnx(importer *im, const Onnx__NodeProto *n, binding *x)
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

/* ONNX Reshape, and Unsqueeze (which only adds 1s to the shape): a reshape keeping the batch. */
static incept_status reshape_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    return strcmp(n->op_type, "Unsqueeze") == 0 ? unsqueeze_from_onnx(im, n, x) : reshape_onnx(im, n, x);
}

const incept_op incept_op_flatten = {
    .name = "flatten", .min_inputs = 1, .max_inputs = 1, .in_place = 1,
    .infer = flatten_infer, .forward = incept_copy_forward,
    .backward = flatten_backward,
    .to_onnx = flatten_to_onnx,
    .onnx_types = {"Flatten"},
    .from_onnx = flatten_from_onnx,
    .from_description = incept_no_description_attrs,
};

const incept_op incept_op_reshape = {
    .name = "reshape", .min_inputs = 1, .max_inputs = 1, .in_place = 1,
    .infer = reshape_infer, .forward = incept_copy_forward,
    .backward = flatten_backward,
    .to_onnx = reshape_to_onnx,
    .onnx_types = {"Reshape", "Unsqueeze"},
    .from_onnx = reshape_from_onnx,
};
