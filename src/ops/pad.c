/* pad.c — constant padding of the spatial dims (ONNX Pad, mode "constant"): top, left,
 * bottom, right rows and columns filled with `value`. */
#include <stdio.h>
#include "core/status.h"
#include "io/onnx_writer.h"
#include "ops/op.h"

static incept_status pad_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    const incept_attrs *a = &n->attrs;
    if (a->pad_top < 0 || a->pad_left < 0 || a->pad_bottom < 0 || a->pad_right < 0)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "negative padding (cropping)");
    *c = in->c;
    *h = in->h + a->pad_top + a->pad_bottom;
    *w = in->w + a->pad_left + a->pad_right;
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

const incept_op incept_op_pad = {
    .name = "pad", .min_inputs = 1, .max_inputs = 1,
    .infer = pad_infer, .forward = pad_forward,
    .backward = pad_backward,
    .label = "pad",
    .to_onnx = pad_to_onnx,
};
