/* lrn.c — local response normalization across channels (Caffe, ONNX LRN, PyTorch
 * local_response_norm): y = x / (bias + alpha/size * sum of x^2 over the `size` nearest
 * channels)^beta, the window running from c - floor((size-1)/2) to c + ceil((size-1)/2). */
#include <math.h>

#include "core/status.h"
#include "ops/op.h"

static incept_status lrn_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    if (n->attrs.size <= 0)
        return incept_fail(INCEPT_ERR_ARG, "LRN size must be positive, got %d", n->attrs.size);
    *c = in->c, *h = in->h, *w = in->w;
    return INCEPT_OK;
}

static void lrn_forward(const incept_op_args *args)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_tensor *in = &args->inputs[0], *out = &args->output;
    size_t plane = (size_t)in->h * in->w;
    int before = (a->size - 1) / 2, after = a->size / 2;
    float scale = a->alpha / (float)a->size;
    int planes = in->n * in->c;
#pragma omp parallel for num_threads(args->threads) schedule(static)
    for (int p = 0; p < planes; p++) {
        int s = p / in->c, ch = p % in->c;
        const float *x = in->data + s * in->batch_stride;
        float *y = out->data + s * out->batch_stride + ch * plane;
        int c0 = ch - before < 0 ? 0 : ch - before;
        int c1 = ch + after >= in->c ? in->c - 1 : ch + after;
        for (size_t i = 0; i < plane; i++) {
            float sum = 0.0f;
            for (int cc = c0; cc <= c1; cc++) {
                float v = x[cc * plane + i];
                sum += v * v;
            }
            y[i] = x[ch * plane + i] * powf(a->bias + scale * sum, -a->beta);
        }
    }
}

const incept_op incept_op_lrn = {
    .name = "lrn", .min_inputs = 1, .max_inputs = 1,
    .infer = lrn_infer, .forward = lrn_forward,
};
