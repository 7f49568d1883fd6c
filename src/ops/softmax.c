/* softmax.c — softmax over channels, over H or W (attrs.softmax_axis), or over C*H*W (ONNX
 * opset < 13 with axis 1), computed stably by subtracting the maximum. */
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <math.h>

#include "core/status.h"
#include "io/onnx_writer.h"
#include "io/onnx_import.h"
#include "io/description.h"
#include "nd/nd.h"
#include "ops/op.h"

static incept_status softmax_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    *c = in->c, *h = in->h, *w = in->w;
    return INCEPT_OK;
}

/* How one sample splits into softmax groups: `outer` blocks of `len` values spaced `stride` apart,
 * `stride` groups interleaved in each block. */
static void softmax_layout(const incept_attrs *a, int c, int h, int w, int *outer, int *len,
                           size_t *stride)
{
    size_t plane = (size_t)h * w;
    if (a->softmax_over_chw || (a->softmax_axis <= 1 && plane == 1))
        *outer = 1, *len = (int)(c * plane), *stride = 1;
    else if (a->softmax_axis <= 1)
        *outer = 1, *len = c, *stride = plane;
    else if (a->softmax_axis == 2)
        *outer = c, *len = h, *stride = (size_t)w;
    else
        *outer = c * h, *len = w, *stride = 1;
}

/* Softmax of `count` values spaced `stride` apart. */
static void softmax_strided(const float *x, float *y, int count, size_t stride)
{
    float m = x[0];
    for (int i = 1; i < count; i++)
        m = x[i * stride] > m ? x[i * stride] : m;
    float sum = 0.0f;
    for (int i = 0; i < count; i++) {
        y[i * stride] = expf(x[i * stride] - m);
        sum += y[i * stride];
    }
    for (int i = 0; i < count; i++)
        y[i * stride] /= sum;
}

static void softmax_forward(const incept_op_args *args)
{
    const incept_view *in = &args->inputs[0], *out = &args->output;
    int outer, len;
    size_t stride;
    softmax_layout(&args->node->attrs, in->c, in->h, in->w, &outer, &len, &stride);
    for (int s = 0; s < in->n; s++)
        for (int o = 0; o < outer; o++) {
            size_t block = (size_t)o * len * stride;
            const float *x = in->data + s * in->batch_stride + block;
            float *y = out->data + s * out->batch_stride + block;
            for (size_t i = 0; i < stride; i++)
                softmax_strided(x + i, y + i, len, stride);
        }
}

/* dx = y * (dy - sum(dy * y)) over each softmax group. */
static void softmax_backward(const incept_backward_args *args)
{
    const incept_view *y = &args->output, *dy = &args->output_grad, *dx = &args->input_grads[0];
    int outer, len;
    size_t stride;
    softmax_layout(&args->node->attrs, y->c, y->h, y->w, &outer, &len, &stride);
    size_t groups = (size_t)outer * stride;
    for (int s = 0; s < y->n && dx->data; s++)
        for (size_t gi = 0; gi < groups; gi++) {
            size_t at = gi / stride * (size_t)len * stride + gi % stride; /* a group's first value */
            const float *yy = y->data + s * y->batch_stride + at;
            const float *gg = dy->data + s * dy->batch_stride + at;
            float *d = dx->data + s * dx->batch_stride + at, dot = 0.0f;
            for (int i = 0; i < len; i++)
                dot += yy[i * stride] * gg[i * stride];
            for (int i = 0; i < len; i++)
                d[i * stride] += yy[i * stride] * (gg[i * stride] - dot);
        }
}

/* Opset 11 flattens at `axis`: one axis only when every axis after it has size 1. */
static incept_status softmax_to_onnx(const incept_onnx_export *e)
{
    const incept_attrs *a = &e->n->attrs;
    const incept_value *v = &e->g->values[e->n->inputs[0]];
    int axis = a->softmax_over_chw || a->softmax_axis <= 1 ? 1 : a->softmax_axis;
    int after = axis == 1 ? v->h * v->w : axis == 2 ? v->w : 1;
    if (!a->softmax_over_chw && after > 1)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: node '%s': a softmax over one axis with larger "
                           "axes after it has no opset %d form", e->path, e->n->name, INCEPT_ONNX_WRITE_OPSET);
    const char *ins[] = {e->in, NULL};
    struct Onnx__AttributeProto *attrs[] = {incept_onnx_put_int(e->w, "axis", axis), NULL};
    e->rank[e->n->output] = e->rank[e->n->inputs[0]];
    return incept_onnx_put_node(e->w, "Softmax", e->n->name, ins, e->out, attrs) ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* Softmax over one axis but the batch (opset 13), or over C*H*W or the last axis before. */
static incept_status softmax_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    incept_attrs a = incept_attrs_default();
    int64_t axis = incept_onnx_axis(n, x, im->opset >= 13 ? -1 : 1);
    /* opset < 13 flattens to 2-D at `axis`: axis 1 is over C*H*W; the last axis is itself.
     * From 13 it is one axis; ours are ONNX's dims 1 to rank-1, stored as C, H, W. */
    int dims[3];
    if (axis >= 1 && axis < x->rank && !incept_onnx_sample_dims(im, x, dims))
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "softmax of a tensor not laid out "
                          "as [N, C, H, W] (a Gather's [N, H, W])");
    if (im->opset < 13 && axis == 1 && x->rank > 2)
        a.softmax_over_chw = 1;
    else if (axis >= 1 && axis < x->rank && (im->opset >= 13 || axis == x->rank - 1))
        a.softmax_axis = (int)axis;
    else
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "softmax over the batch axis "
                          "(or, before opset 13, over trailing axes other than C*H*W)");
    return incept_onnx_emit(im, n, "softmax", &x->value, 1, &a, -1, -1, x->rank);
}

/* softmax NAME [axis 1|2|3]: over C (the default), H or W */
static incept_status softmax_from_description(incept_desc_line *l, incept_attrs *a)
{
    a->softmax_axis = 1;
    incept_status st = incept_desc_int(l, "axis", 1, &a->softmax_axis);
    if (!st && a->softmax_axis > 3)
        return incept_desc_error(l, "softmax axis is 1 (C), 2 (H) or 3 (W)");
    return st;
}

/* ---- the N-d reference (the generic path: any rank and dtype; nd/nd.h) ---- */

/* How the axis cuts x: outer rows of `length` values `inner` apart. Opset 13 normalizes along
 * one axis (default the last); before it, x flattened to 2-D at the axis (default 1). */
static incept_status softmax_extent(const incept_nd_context *ctx, const incept_tensor *x, size_t *outer,
                                    size_t *length, size_t *inner)
{
    int rank = x->rank, axis;
    incept_status st = incept_nd_axis(ctx, incept_onnx_attr_int(ctx->node, "axis", ctx->opset >= 13 ? -1 : 1),
                                      rank ? rank : 1, 0, &axis);
    if (st)
        return st;
    *outer = incept_nd_span(x, 0, axis);
    if (ctx->opset >= 13)
        *length = rank ? (size_t)x->dims[axis] : 1, *inner = incept_nd_span(x, axis + 1, rank);
    else
        *length = incept_nd_span(x, axis, rank), *inner = 1;
    return INCEPT_OK;
}

INCEPT_ND_OP(softmax)
{
    (void)n_out;
    size_t outer, length, inner;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 0, 0);
    if (st || (st = softmax_extent(ctx, in[0], &outer, &length, &inner)) ||
        (st = incept_nd_array_alloc(ctx, out, INCEPT_FLOAT32, in[0]->rank, in[0]->dims)))
        return st;
    const float *x = in[0]->data;
    float *y = out->data;
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            const float *row = x + o * length * inner + i;
            float *dst = y + o * length * inner + i, top = -INFINITY;
            double total = 0.0;
            for (size_t k = 0; k < length; k++)
                top = row[k * inner] > top ? row[k * inner] : top;
            for (size_t k = 0; k < length; k++)
                total += dst[k * inner] = expf(row[k * inner] - top);
            for (size_t k = 0; k < length; k++)
                dst[k * inner] = (float)(dst[k * inner] / total);
        }
    return INCEPT_OK;
}

/* Over each row the forward normalised (the axis from opset 13, the flattened trailing axes from
 * `axis` before): dx = y (dy - sum(dy y)), from the output y. */
INCEPT_ND_GRAD(softmax)
{
    incept_status st = incept_nd_grad_expect(ctx, in, n_in, out, n_out, dout, din);
    if (st || n_in < 1 || n_out < 1 || !din[0] || !dout[0])
        return st;
    size_t outer, length, inner;
    if ((st = softmax_extent(ctx, in[0], &outer, &length, &inner)))
        return st;
    const float *y = out[0].data, *g = dout[0]->data;
    float *dx = din[0]->data;
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            size_t base = o * length * inner + i;
            double dot = 0.0;
            for (size_t k = 0; k < length; k++)
                dot += (double)g[base + k * inner] * y[base + k * inner];
            for (size_t k = 0; k < length; k++)
                dx[base + k * inner] += (float)(y[base + k * inner] * (g[base + k * inner] - dot));
        }
    return INCEPT_OK;
}

const incept_op incept_op_softmax = {
    .name = "softmax", .min_inputs = 1, .max_inputs = 1, .gives_probabilities = 1,
    .infer = softmax_infer, .forward = softmax_forward,
    .backward = softmax_backward,
    .label = "softmax",
    .to_onnx = softmax_to_onnx,
    .onnx_types = {"Softmax"},
    .from_onnx = softmax_from_onnx,
    .from_description = softmax_from_description,
};
