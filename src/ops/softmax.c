/* softmax.c — softmax over channels (or over C*H*W, ONNX opset < 13 with axis 1), computed
 * stably by subtracting the maximum. */
#include <math.h>

#include "core/status.h"
#include "ops/op.h"

static incept_status softmax_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    *c = in->c, *h = in->h, *w = in->w;
    return INCEPT_OK;
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
    const incept_tensor *in = &args->inputs[0], *out = &args->output;
    size_t plane = (size_t)in->h * in->w;
    for (int s = 0; s < in->n; s++) {
        const float *x = in->data + s * in->batch_stride;
        float *y = out->data + s * out->batch_stride;
        if (args->node->attrs.softmax_over_chw || plane == 1)
            softmax_strided(x, y, (int)(in->c * plane), 1);
        else
            for (size_t i = 0; i < plane; i++)
                softmax_strided(x + i, y + i, in->c, plane);
    }
}

/* dx = y * (dy - sum(dy * y)) over each softmax group. */
static void softmax_backward(const incept_backward_args *args)
{
    const incept_tensor *y = &args->output, *dy = &args->output_grad, *dx = &args->input_grads[0];
    size_t plane = (size_t)y->h * y->w;
    int over_all = args->node->attrs.softmax_over_chw || plane == 1;
    int groups = over_all ? 1 : (int)plane, len = over_all ? (int)(y->c * plane) : y->c;
    size_t stride = over_all ? 1 : plane;
    for (int s = 0; s < y->n && dx->data; s++)
        for (int gi = 0; gi < groups; gi++) {
            const float *yy = y->data + s * y->batch_stride + gi;
            const float *gg = dy->data + s * dy->batch_stride + gi;
            float *d = dx->data + s * dx->batch_stride + gi, dot = 0.0f;
            for (int i = 0; i < len; i++)
                dot += yy[i * stride] * gg[i * stride];
            for (int i = 0; i < len; i++)
                d[i * stride] += yy[i * stride] * (gg[i * stride] - dot);
        }
}

const incept_op incept_op_softmax = {
    .name = "softmax", .min_inputs = 1, .max_inputs = 1,
    .infer = softmax_infer, .forward = softmax_forward,
    .backward = softmax_backward,
};
