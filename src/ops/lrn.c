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

/* base^-beta; for Caffe's beta = 0.75 as two square roots, which vectorize, instead of powf
 * (correctly rounded square roots keep it within a few ulp of powf). */
static inline float inverse_power(float base, float beta)
{
    if (beta == 0.75f)
        return 1.0f / sqrtf(base * sqrtf(base));
    return powf(base, -beta);
}

static void lrn_forward(const incept_op_args *args)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_tensor *in = &args->inputs[0], *out = &args->output;
    const size_t plane = (size_t)in->h * in->w;
    const int before = (a->size - 1) / 2, after = a->size / 2;
    const float scale = a->alpha / (float)a->size, bias = a->bias, beta = a->beta;
    const int planes = in->n * in->c;
    /* One output channel at a time, vectorized over the plane: sum the squares of the channels
     * in its window, then scale. The window is short (5 in GoogLeNet), so summing it directly
     * costs little and keeps the result independent of the channel order of evaluation. */
#pragma omp parallel for num_threads(args->threads) schedule(static)
    for (int p = 0; p < planes; p++) {
        const int s = p / in->c, ch = p % in->c;
        const float *x = in->data + s * in->batch_stride;
        float *restrict y = out->data + s * out->batch_stride + ch * plane;
        const int c0 = ch - before < 0 ? 0 : ch - before;
        const int c1 = ch + after >= in->c ? in->c - 1 : ch + after;
        const float *restrict centre = x + ch * plane;
        for (size_t i0 = 0; i0 < plane; i0 += 256) {
            float sum[256];
            size_t len = plane - i0 < 256 ? plane - i0 : 256;
            for (size_t i = 0; i < len; i++)
                sum[i] = 0.0f;
            for (int cc = c0; cc <= c1; cc++) {
                const float *restrict v = x + cc * plane + i0;
                for (size_t i = 0; i < len; i++)
                    sum[i] += v[i] * v[i];
            }
            for (size_t i = 0; i < len; i++)
                y[i0 + i] = centre[i0 + i] * inverse_power(bias + scale * sum[i], beta);
        }
    }
}

const incept_op incept_op_lrn = {
    .name = "lrn", .min_inputs = 1, .max_inputs = 1,
    .infer = lrn_infer, .forward = lrn_forward,
};
