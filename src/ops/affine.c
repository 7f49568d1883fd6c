/* affine.c — y = x * scale[c] + shift[c] per channel (one value for all channels when the
 * parameters hold one): ONNX Mul/Add by constants, and BatchNormalization at inference where it
 * cannot be folded into the convolution before it. */
#include "core/status.h"
#include "ops/op.h"

static incept_status affine_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    if (n->weight < 0 || n->bias < 0)
        return incept_fail(INCEPT_ERR_ARG, "affine needs a scale and a shift");
    size_t ns = g->params[n->weight].count, nb = g->params[n->bias].count;
    if ((ns != 1 && ns != (size_t)in->c) || (nb != 1 && nb != (size_t)in->c))
        return incept_fail(INCEPT_ERR_SHAPE, "scale of %zu and shift of %zu values for %d channels",
                           ns, nb, in->c);
    *c = in->c, *h = in->h, *w = in->w;
    return INCEPT_OK;
}

static void affine_forward(const incept_op_args *args)
{
    const incept_view *in = &args->inputs[0], *out = &args->output;
    const incept_graph *g = args->graph;
    const int per_channel_scale = g->params[args->node->weight].count > 1;
    const int per_channel_shift = g->params[args->node->bias].count > 1;
    size_t plane = (size_t)in->h * in->w;
    for (int s = 0; s < in->n; s++)
        for (int ch = 0; ch < in->c; ch++) {
            const float a = args->weight[per_channel_scale ? ch : 0];
            const float b = args->bias[per_channel_shift ? ch : 0];
            const float *x = in->data + s * in->batch_stride + ch * plane;
            float *y = out->data + s * out->batch_stride + ch * plane;
            for (size_t i = 0; i < plane; i++)
                y[i] = x[i] * a + b;
        }
}

static void affine_backward(const incept_backward_args *args)
{
    const incept_view *in = &args->inputs[0], *dy = &args->output_grad, *dx = &args->input_grads[0];
    const incept_graph *g = args->graph;
    const int per_channel_scale = g->params[args->node->weight].count > 1;
    const int per_channel_shift = g->params[args->node->bias].count > 1;
    size_t plane = (size_t)in->h * in->w;
    for (int s = 0; s < in->n; s++)
        for (int ch = 0; ch < in->c; ch++) {
            const float *x = in->data + s * in->batch_stride + ch * plane;
            const float *gy = dy->data + s * dy->batch_stride + ch * plane;
            const float a = args->weight[per_channel_scale ? ch : 0];
            float da = 0.0f, db = 0.0f;
            for (size_t i = 0; i < plane; i++) {
                da += gy[i] * x[i];
                db += gy[i];
            }
            args->weight_grad[per_channel_scale ? ch : 0] += da;
            args->bias_grad[per_channel_shift ? ch : 0] += db;
            if (dx->data) {
                float *d = dx->data + s * dx->batch_stride + ch * plane;
                for (size_t i = 0; i < plane; i++)
                    d[i] += gy[i] * a;
            }
        }
}

const incept_op incept_op_affine = {
    .name = "affine", .min_inputs = 1, .max_inputs = 1, .in_place = 1,
    .infer = affine_infer, .forward = affine_forward, .backward = affine_backward,
};
