/* pad.c — constant padding of the spatial dims (ONNX Pad, mode "constant"): top, left,
 * bottom, right rows and columns filled with `value`. */
#include <string.h>
#include <stdlib.h>
#include <limits.h>
#include <stdio.h>
#include "core/status.h"
#include "io/onnx_writer.h"
#include "io/onnx_import.h"
#include "io/description.h"
#include "nd/nd.h"
#include "ops/op.h"

static incept_status pad_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    const incept_attrs *a = &n->attrs;
    if (a->pad_top < 0 || a->pad_left < 0 || a->pad_bottom < 0 || a->pad_right < 0)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "negative padding (cropping)");
    const long long oh = (long long)in->h + a->pad_top + a->pad_bottom;
    const long long ow = (long long)in->w + a->pad_left + a->pad_right;
    if (oh > INT_MAX || ow > INT_MAX)
        return incept_fail(INCEPT_ERR_SHAPE, "padding %dx%d by %d,%d,%d,%d makes a plane past %d "
                           "values a side", in->h, in->w, a->pad_top, a->pad_left, a->pad_bottom,
                           a->pad_right, INT_MAX);
    *c = in->c, *h = (int)oh, *w = (int)ow;
    return INCEPT_OK;
}

static void pad_forward(const incept_op_args *args)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_view *in = &args->inputs[0], *out = &args->output;
    for (int s = 0; s < in->n; s++)
        for (int ch = 0; ch < in->c; ch++) {
            const float *x = in->data + s * in->batch_stride + (size_t)ch * in->h * in->w;
            float *y = out->data + s * out->batch_stride + (size_t)ch * out->h * out->w;
            for (int oy = 0; oy < out->h; oy++) {
                int iy = oy - a->pad_top;
                for (int ox = 0; ox < out->w; ox++) {
                    int ix = ox - a->pad_left;
                    int inside = iy >= 0 && iy < in->h && ix >= 0 && ix < in->w;
                    y[oy * out->w + ox] = inside ? x[iy * in->w + ix] : a->value;
                }
            }
        }
}

static void pad_backward(const incept_backward_args *args)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_view *dy = &args->output_grad, *dx = &args->input_grads[0];
    for (int s = 0; s < dx->n && dx->data; s++)
        for (int ch = 0; ch < dx->c; ch++) {
            float *d = dx->data + s * dx->batch_stride + (size_t)ch * dx->h * dx->w;
            const float *g = dy->data + s * dy->batch_stride + (size_t)ch * dy->h * dy->w;
            for (int y = 0; y < dx->h; y++)
                for (int x = 0; x < dx->w; x++)
                    d[y * dx->w + x] += g[(y + a->pad_top) * dy->w + x + a->pad_left];
        }
}

/* Pad (opset 11: pads and the fill value as inputs) of the spatial axes. */
static incept_status pad_to_onnx(const incept_onnx_export *e)
{
    const incept_attrs *a = &e->n->attrs;
    const int64_t amounts[8] = {0, 0, a->pad_top, a->pad_left, 0, 0, a->pad_bottom, a->pad_right};
    const int64_t eight = 8, none = 0;
    char pads_name[1100], value_name[1100];
    snprintf(pads_name, sizeof pads_name, "%s/pads", e->n->name);
    snprintf(value_name, sizeof value_name, "%s/value", e->n->name);
    const char *ins[] = {e->in, pads_name, value_name, NULL};
    int ok = incept_onnx_put_initializer(e->w, pads_name, INCEPT_ONNX_INT64, &eight, 1, amounts, sizeof amounts) &&
             incept_onnx_put_initializer(e->w, value_name, INCEPT_ONNX_FLOAT, &none, 0, &a->value, sizeof a->value) &&
             incept_onnx_put_node(e->w, "Pad", e->n->name, ins, e->out, NULL);
    return ok ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* Pad of the spatial axes with a constant: attributes before opset 11, inputs after; zero
 * padding is no node at all. */
static incept_status pad_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status xst = incept_onnx_activation(im, n, 0, &x);
    if (xst)
        return xst;
    int64_t pads[8] = {0};
    long np;
    float value = 0.0f;
    if (im->opset < 11) { /* attributes; opset 1 named them "paddings" */
        np = (long)incept_onnx_attr_ints(n, im->opset < 2 ? "paddings" : "pads", pads, 8);
        value = incept_onnx_attr_float(n, "value", 0.0f);
    } else {
        const Onnx__TensorProto *p = incept_onnx_constant_input(im, n, 1);
        np = p ? incept_onnx_tensor_int64s(p, pads, 8) : -1;
        if (incept_onnx_has_input(n, 2)) {
            const Onnx__TensorProto *v = incept_onnx_constant_input(im, n, 2);
            if (!v || incept_onnx_tensor_count(v) != 1 || incept_onnx_tensor_floats(im, v, &value, 1))
                return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                                  "constant_value must be one float constant");
        }
    }
    if (!incept_onnx_attr_string_is(n, "mode", "constant", "constant"))
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "modes other than 'constant'");
    if (np != 8)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                          "pads must be 8 constant int64 values (4-D input)");
    if (pads[0] || pads[1] || pads[4] || pads[5])
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "padding the batch or channel axis");
    if (!pads[2] && !pads[3] && !pads[6] && !pads[7])
        return incept_onnx_bind(im, n->output[0], x->value, NULL, x->rank);
    incept_attrs a = incept_attrs_default();
    a.pad_top = (int)pads[2], a.pad_left = (int)pads[3];
    a.pad_bottom = (int)pads[6], a.pad_right = (int)pads[7];
    a.value = value;
    return incept_onnx_emit(im, n, "pad", &x->value, 1, &a, -1, -1, 4);
}

/* pad NAME T,L,B,R [value V] */
static incept_status pad_from_description(incept_desc_line *l, incept_attrs *a)
{
    int pad[4];
    incept_status st = incept_desc_positional_pads(l, 0, pad);
    if (st || (st = incept_desc_float(l, "value", &a->value)))
        return st;
    a->pad_top = pad[0], a->pad_left = pad[1], a->pad_bottom = pad[2], a->pad_right = pad[3];
    return INCEPT_OK;
}

/* ---- the N-d reference (the generic path: any rank and dtype; nd/nd.h) ---- */

/* Where output coordinate o (input extent n, padding `before`) reads, or -1 for the fill value. */
static long long pad_source(long long o, long long before, long long n, int mode)
{
    long long i = o - before;
    if (i >= 0 && i < n)
        return i;
    if (mode == 0 || n == 0)
        return -1;
    if (mode == 1) /* edge */
        return i < 0 ? 0 : n - 1;
    if (mode == 2) { /* reflect: period 2(n-1), the edge not repeated */
        if (n == 1)
            return 0;
        long long period = 2 * (n - 1), r = ((i % period) + period) % period;
        return r < n ? r : period - r;
    }
    return ((i % n) + n) % n; /* wrap */
}

/* Pad's pads (begin for each axis, then end) from attributes before opset 11, from inputs (and the
 * optional axes) after; its mode (0 constant, 1 edge, 2 reflect, 3 wrap) and fill value; the
 * result's dims. */
typedef struct {
    long long pads[2 * INCEPT_MAX_RANK], dims[INCEPT_MAX_RANK];
    int mode;
    double value;
} pad_plan;

static incept_status pad_plan_of(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                                 pad_plan *p)
{
    const incept_tensor *x = in[0];
    int rank = x->rank, n_pads = 0, n_axes = rank;
    long long given[2 * INCEPT_MAX_RANK], axes[INCEPT_MAX_RANK];
    incept_status st;
    p->value = 0.0;
    if (ctx->opset < 11) {
        const char *name = ctx->opset < 2 ? "paddings" : "pads";
        n_pads = incept_nd_attr_ints(ctx->node, name, given, 2 * INCEPT_MAX_RANK);
        p->value = incept_onnx_attr_float(ctx->node, "value", 0.0f);
    } else {
        if ((st = incept_nd_int_input(ctx, in, n_in, 1, given, 2 * INCEPT_MAX_RANK, &n_pads)))
            return st;
        if (n_in > 2 && in[2]) {
            if (in[2]->dtype != x->dtype || incept_tensor_count(in[2]) != 1)
                return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "constant_value must be one value of the "
                                   "data's type");
            p->value = x->dtype == INCEPT_FLOAT32 ? *(const float *)in[2]->data
                       : x->dtype == INCEPT_INT64 ? (double)*(const long long *)in[2]->data
                                                  : *(const unsigned char *)in[2]->data;
        }
        if (n_in > 3 && in[3] && (st = incept_nd_int_input(ctx, in, n_in, 3, axes, INCEPT_MAX_RANK, &n_axes)))
            return st;
    }
    if (n_axes == rank && !(n_in > 3 && in[3]))
        for (int d = 0; d < rank; d++)
            axes[d] = d;
    if (n_pads != 2 * n_axes)
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "%d pads for %d axes", n_pads, n_axes);
    long long *pads = p->pads;
    memset(pads, 0, sizeof p->pads);
    for (int k = 0; k < n_axes; k++) {
        int axis;
        if ((st = incept_nd_axis(ctx, axes[k], rank, 0, &axis)))
            return st;
        pads[axis] = given[k], pads[rank + axis] = given[n_axes + k];
    }
    p->mode = incept_onnx_attr_string_is(ctx->node, "mode", "constant", "constant") ? 0
              : incept_onnx_attr_string_is(ctx->node, "mode", "constant", "edge")   ? 1
              : incept_onnx_attr_string_is(ctx->node, "mode", "constant", "reflect") ? 2
              : incept_onnx_attr_string_is(ctx->node, "mode", "constant", "wrap")    ? 3 : -1;
    if (p->mode < 0)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "an unknown mode");
    for (int d = 0; d < rank; d++) {
        if (pads[d] < -(1LL << 40) || pads[d] > 1LL << 40 || pads[rank + d] < -(1LL << 40) ||
            pads[rank + d] > 1LL << 40) /* before the sum: it may not overflow */
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "pads of axis %d beyond 2^40", d);
        p->dims[d] = x->dims[d] + pads[d] + pads[rank + d];
        if (p->dims[d] < 0)
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "pads leave axis %d with %lld entries", d, p->dims[d]);
        if (p->mode == 2 && x->dims[d] > 0 && (pads[d] >= x->dims[d] || pads[rank + d] >= x->dims[d]))
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "reflect pads of axis %d reach past its %lld entries",
                               d, x->dims[d]);
    }
    return INCEPT_OK;
}

/* The input offset that output entry idx reads, or -1 for the fill value. */
static long long pad_offset(const pad_plan *p, const incept_tensor *x, const long long *idx,
                            const long long *stride)
{
    long long offset = 0;
    for (int d = 0; d < x->rank && offset >= 0; d++) {
        long long s = pad_source(idx[d], p->pads[d], x->dims[d], p->mode);
        offset = s < 0 ? -1 : offset + s * stride[d];
    }
    return offset;
}

static void row_major_strides(const incept_tensor *x, long long *stride)
{
    long long extent = 1;
    for (int d = x->rank - 1; d >= 0; d--)
        stride[d] = extent, extent *= x->dims[d];
}

INCEPT_ND_OP(pad)
{
    (void)n_out;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, in[0] ? in[0]->dtype : INCEPT_FLOAT32, 0, 0);
    pad_plan p;
    if (st || (st = pad_plan_of(ctx, in, n_in, &p)))
        return st;
    const incept_tensor *x = in[0];
    int rank = x->rank;
    long long idx[INCEPT_MAX_RANK] = {0}, stride[INCEPT_MAX_RANK];
    row_major_strides(x, stride);
    if ((st = incept_nd_array_alloc(ctx, out, x->dtype, rank, p.dims)))
        return st;
    size_t size = incept_nd_dtype_size(x->dtype);
    union { float f; long long i; unsigned char b; } fill;
    if (x->dtype == INCEPT_FLOAT32)
        fill.f = (float)p.value;
    else if (x->dtype == INCEPT_INT64)
        fill.i = (long long)p.value;
    else
        fill.b = p.value != 0.0;
    const char *src = x->data;
    char *y = out->data;
    for (size_t i = 0, n = incept_tensor_count(out); i < n; i++) {
        long long offset = pad_offset(&p, x, idx, stride);
        memcpy(y + i * size, offset < 0 ? (const char *)&fill : src + (size_t)offset * size, size);
        for (int d = rank - 1; d >= 0 && ++idx[d] == p.dims[d]; d--)
            idx[d] = 0;
    }
    return INCEPT_OK;
}

/* Each result's gradient goes to the entry it copied (edge, reflect and wrap copy some several
 * times: they gather them all), or, for the fill, to constant_value when that is an input. */
INCEPT_ND_GRAD(pad)
{
    incept_status st = incept_nd_grad_expect(ctx, in, n_in, out, n_out, dout, din);
    pad_plan p;
    if (st || n_in < 1 || n_out < 1 || !dout[0] || (st = pad_plan_of(ctx, in, n_in, &p)))
        return st;
    const incept_tensor *x = in[0];
    float *dx = din[0] ? din[0]->data : NULL;
    float *dfill = ctx->opset >= 11 && n_in > 2 && din[2] ? din[2]->data : NULL;
    long long idx[INCEPT_MAX_RANK] = {0}, stride[INCEPT_MAX_RANK];
    row_major_strides(x, stride);
    const float *g = dout[0]->data;
    double to_fill = 0.0;
    for (size_t i = 0, n = incept_tensor_count(dout[0]); i < n; i++) {
        long long offset = pad_offset(&p, x, idx, stride);
        if (offset < 0)
            to_fill += g[i];
        else if (dx)
            dx[offset] += g[i];
        for (int d = x->rank - 1; d >= 0 && ++idx[d] == p.dims[d]; d--)
            idx[d] = 0;
    }
    if (dfill)
        *dfill += (float)to_fill;
    return INCEPT_OK;
}

const incept_op incept_op_pad = {
    .name = "pad", .min_inputs = 1, .max_inputs = 1,
    .infer = pad_infer, .forward = pad_forward,
    .backward = pad_backward,
    .label = "pad",
    .to_onnx = pad_to_onnx,
    .onnx_types = {"Pad"},
    .from_onnx = pad_from_onnx,
    .from_description = pad_from_description,
};
