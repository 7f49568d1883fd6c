/* clip.c — y = min(max(x, lo), hi): ONNX's Clip, which PyTorch exports for ReLU6 (lo 0, hi 6) in
 * MobileNet; the whole op (the README's example of one): shape, forward in place, backward (the
 * gradient passes where lo < y < hi, PyTorch's hardtanh), ONNX import (a Clip with lo 0 and no
 * upper bound becomes a ReLU; passes/fuse_activations.c moves a Clip(0, hi) after a conv into
 * the conv) and export, its description keyword. */
#include <math.h>
#include <string.h>
#include <float.h>
#include <stdlib.h>
#include <stdio.h>
#include "core/status.h"
#include "io/onnx_writer.h"
#include "io/onnx_import.h"
#include "io/description.h"
#include "nd/nd.h"
#include "ops/op.h"

static incept_status clip_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    if (!(n->attrs.clip_min <= n->attrs.clip_max))
        return incept_fail(INCEPT_ERR_ARG, "clip bounds %g > %g", (double)n->attrs.clip_min,
                           (double)n->attrs.clip_max);
    *c = in->c, *h = in->h, *w = in->w;
    return INCEPT_OK;
}

static void clip_forward(const incept_op_args *args)
{
    const incept_view *in = &args->inputs[0], *out = &args->output;
    const float lo = args->node->attrs.clip_min, hi = args->node->attrs.clip_max;
    size_t count = (size_t)in->c * in->h * in->w;
    for (int s = 0; s < in->n; s++) {
        const float *x = in->data + s * in->batch_stride;
        float *y = out->data + s * out->batch_stride;
        for (size_t i = 0; i < count; i++) {
            float v = x[i] < lo ? lo : x[i]; /* a NaN stays NaN, as in PyTorch */
            y[i] = v > hi ? hi : v;
        }
    }
}

/* dx += dy where lo < y < hi. */
static void clip_backward(const incept_backward_args *args)
{
    if (!args->input_grads[0].data)
        return;
    const incept_view *out = &args->output;
    incept_view dy = args->output_grad;
    const float lo = args->node->attrs.clip_min, hi = args->node->attrs.clip_max;
    size_t count = (size_t)out->c * out->h * out->w;
    for (int s = 0; s < out->n; s++) {
        const float *y = out->data + s * out->batch_stride;
        float *g = dy.data + s * dy.batch_stride;
        for (size_t i = 0; i < count; i++)
            g[i] = y[i] > lo && y[i] < hi ? g[i] : 0.0f;
    }
    incept_view dx = args->input_grads[0];
    incept_view_accumulate(&dx, &dy);
}

/* Clip (opset 11: the bounds as scalar inputs). */
static incept_status clip_to_onnx(const incept_onnx_export *e)
{
    const incept_attrs *a = &e->n->attrs;
    const int64_t none = 0;
    char lo_name[1100], hi_name[1100];
    snprintf(lo_name, sizeof lo_name, "%s/min", e->n->name);
    snprintf(hi_name, sizeof hi_name, "%s/max", e->n->name);
    const char *ins[] = {e->in, lo_name, hi_name, NULL};
    e->rank[e->n->output] = e->rank[e->n->inputs[0]];
    int ok = incept_onnx_put_initializer(e->w, lo_name, INCEPT_ONNX_FLOAT, &none, 0, &a->clip_min, sizeof a->clip_min) &&
             incept_onnx_put_initializer(e->w, hi_name, INCEPT_ONNX_FLOAT, &none, 0, &a->clip_max, sizeof a->clip_max) &&
             incept_onnx_put_node(e->w, "Clip", e->n->name, ins, e->out, NULL);
    return ok ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* Clip's bound at input i (opset 11 on), a scalar constant; absent: *bound unchanged. */
static incept_status clip_bound(importer *im, const Onnx__NodeProto *n, size_t i, float *bound)
{
    if (!incept_onnx_has_input(n, i))
        return INCEPT_OK;
    size_t count = 0;
    float *v;
    incept_status st = incept_onnx_constant_floats(im, n, i, &count, &v);
    if (st)
        return st;
    if (!v || count != 1) {
        free(v);
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "bound '%s' must be a constant "
                                      "scalar", n->input[i]);
    }
    *bound = v[0];
    free(v);
    return INCEPT_OK;
}

/* Clip: bounds from attributes (opset < 11) or constant scalar inputs; [0, inf) is a Relu. */
static incept_status clip_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    incept_attrs a = incept_attrs_default();
    if (im->opset < 11) {
        a.clip_min = incept_onnx_attr_float(n, "min", -FLT_MAX);
        a.clip_max = incept_onnx_attr_float(n, "max", FLT_MAX);
    } else if ((st = clip_bound(im, n, 1, &a.clip_min)) || (st = clip_bound(im, n, 2, &a.clip_max))) {
        return st;
    }
    if (!(a.clip_min <= a.clip_max))
        return incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "%s", "min is above max");
    if (a.clip_min == 0.0f && a.clip_max >= FLT_MAX) { /* a ReLU (fused later where it can be) */
        incept_attrs relu = incept_attrs_default();
        return incept_onnx_emit(im, n, "relu", &x->value, 1, &relu, -1, -1, x->rank);
    }
    return incept_onnx_emit(im, n, "clip", &x->value, 1, &a, -1, -1, x->rank);
}

/* clip NAME min LO max HI (ReLU6: min 0 max 6) */
static incept_status clip_from_description(incept_desc_line *l, incept_attrs *a)
{
    incept_status st = incept_desc_float(l, "min", &a->clip_min);
    return st ? st : incept_desc_float(l, "max", &a->clip_max);
}

/* ---- the N-d reference (the generic path: any rank and dtype; nd/nd.h) ---- */

/* Clip's bounds: from attributes before opset 11, from optional scalar inputs after. */
static incept_status clip_bounds(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                                 float *lo, float *hi)
{
    *lo = -INFINITY, *hi = INFINITY;
    if (ctx->opset < 11) {
        *lo = incept_onnx_attr_float(ctx->node, "min", -FLT_MAX);
        *hi = incept_onnx_attr_float(ctx->node, "max", FLT_MAX);
    }
    for (int i = 1; i <= 2 && ctx->opset >= 11; i++) {
        if (i >= n_in || !in[i])
            continue;
        if (in[i]->dtype != INCEPT_FLOAT32 || incept_tensor_count(in[i]) != 1)
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "%s must be one float", i == 1 ? "min" : "max");
        *(i == 1 ? lo : hi) = *(const float *)in[i]->data;
    }
    return INCEPT_OK;
}

INCEPT_ND_OP(clip)
{
    (void)n_out;
    float lo, hi;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 0, 0);
    if (st || (st = clip_bounds(ctx, in, n_in, &lo, &hi)) ||
        (st = incept_nd_array_alloc(ctx, out, INCEPT_FLOAT32, in[0]->rank, in[0]->dims)))
        return st;
    const float *x = in[0]->data;
    float *y = out->data;
    for (size_t i = 0, n = incept_tensor_count(in[0]); i < n; i++) { /* NaN stays NaN */
        float v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
    }
    return INCEPT_OK;
}

/* As PyTorch's clamp: x's gradient passes where min <= x <= max (the bounds included); a bound
 * given as an input gets the gradients of the values it replaced (min: x < min, while min < max;
 * max: x > max, or all of them when max < min, since the forward gives max then). */
INCEPT_ND_GRAD(clip)
{
    float lo, hi;
    incept_status st = incept_nd_grad_expect(ctx, in, n_in, out, n_out, dout, din);
    if (st || n_in < 1 || n_out < 1 || !dout[0] || (st = clip_bounds(ctx, in, n_in, &lo, &hi)))
        return st;
    const float *x = in[0]->data, *g = dout[0]->data;
    float *dx = din[0] ? din[0]->data : NULL;
    float *dlo = ctx->opset >= 11 && n_in > 1 && din[1] ? din[1]->data : NULL;
    float *dhi = ctx->opset >= 11 && n_in > 2 && din[2] ? din[2]->data : NULL;
    double to_lo = 0.0, to_hi = 0.0;
    for (size_t i = 0, n = incept_tensor_count(in[0]); i < n; i++) {
        if (dx && x[i] >= lo && x[i] <= hi)
            dx[i] += g[i];
        if (x[i] < lo && lo < hi)
            to_lo += g[i];
        if (x[i] > hi || hi < lo)
            to_hi += g[i];
    }
    if (dlo)
        *dlo += (float)to_lo;
    if (dhi)
        *dhi += (float)to_hi;
    return INCEPT_OK;
}

const incept_op incept_op_clip = {
    .name = "clip", .min_inputs = 1, .max_inputs = 1, .in_place = 1,
    .infer = clip_infer, .forward = clip_forward, .backward = clip_backward,
    .label = "clip", .to_onnx = clip_to_onnx,
    .onnx_types = {"Clip"}, .from_onnx = clip_from_onnx,
    .from_description = clip_from_description,
};
