/* batchnorm.c — batch normalization per channel (Ioffe & Szegedy 2015, the Inception v2 paper;
 * PyTorch BatchNorm2d, ONNX BatchNormalization), with an optional fused ReLU.
 *
 *   training:  y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta, mean_B and var_B over the
 *              batch and the plane (N, H, W); the running statistics move towards them:
 *              running = (1 - momentum) * running + momentum * batch (the variance unbiased,
 *              as PyTorch does).
 *   inference: the same with the running statistics: a per-channel scale and shift.
 *
 * Parameters: weight = gamma [C], bias = beta [C]; attrs.running_mean and attrs.running_var name
 * two more [C] parameters that are state, not trained (incept_param.frozen). Backward recomputes
 * the batch statistics from the kept input rather than keeping them. */
#include <math.h>

#include "core/status.h"
#include "ops/op.h"

static incept_status batchnorm_infer(const incept_graph *g, const incept_node *n, int *c, int *h,
                                     int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    const int params[4] = {n->weight, n->bias, n->attrs.running_mean, n->attrs.running_var};
    static const char *const what[4] = {"scale", "shift", "running mean", "running variance"};
    for (int i = 0; i < 4; i++) {
        if (params[i] < 0 || params[i] >= g->n_params)
            return incept_fail(INCEPT_ERR_ARG, "batch normalization needs a %s", what[i]);
        if (g->params[params[i]].count != (size_t)in->c)
            return incept_fail(INCEPT_ERR_SHAPE, "%s of %zu values for %d channels", what[i],
                               g->params[params[i]].count, in->c);
    }
    if (!(n->attrs.epsilon > 0.0f) || !(n->attrs.momentum >= 0.0f && n->attrs.momentum <= 1.0f))
        return incept_fail(INCEPT_ERR_ARG, "epsilon must be positive and momentum in [0, 1]");
    *c = in->c, *h = in->h, *w = in->w;
    return INCEPT_OK;
}

/* Mean and biased variance of channel ch over the batch and the plane (two passes). */
static void channel_stats(const incept_tensor *t, int ch, double *mean, double *var)
{
    const size_t plane = (size_t)t->h * t->w;
    double sum = 0.0;
    for (int s = 0; s < t->n; s++) {
        const float *x = t->data + s * t->batch_stride + ch * plane;
        float part = 0.0f;
        for (size_t i = 0; i < plane; i++)
            part += x[i];
        sum += part;
    }
    const double count = (double)t->n * plane, m = sum / count;
    double squares = 0.0;
    for (int s = 0; s < t->n; s++) {
        const float *x = t->data + s * t->batch_stride + ch * plane;
        const float mf = (float)m;
        float part = 0.0f;
        for (size_t i = 0; i < plane; i++)
            part += (x[i] - mf) * (x[i] - mf);
        squares += part;
    }
    *mean = m;
    *var = squares / count;
}

/* y = x * scale + shift over one channel of every sample, then the ReLU if asked. */
static void scale_shift(const incept_tensor *in, const incept_tensor *out, int ch, float scale,
                        float shift, int relu)
{
    const size_t plane = (size_t)in->h * in->w;
    for (int s = 0; s < in->n; s++) {
        const float *x = in->data + s * in->batch_stride + ch * plane;
        float *y = out->data + s * out->batch_stride + ch * plane;
        for (size_t i = 0; i < plane; i++) {
            float v = x[i] * scale + shift;
            y[i] = relu && v < 0.0f ? 0.0f : v;
        }
    }
}

static void batchnorm_forward(const incept_op_args *args)
{
    const incept_node *n = args->node;
    const incept_attrs *a = &n->attrs;
    const incept_tensor *in = &args->inputs[0], *out = &args->output;
    const incept_graph *g = args->graph;
    float *running_mean = incept_graph_param_data(g, a->running_mean);
    float *running_var = incept_graph_param_data(g, a->running_var);
    const double count = (double)in->n * in->h * in->w;
#pragma omp parallel for num_threads(args->threads) schedule(static)
    for (int ch = 0; ch < in->c; ch++) {
        double mean, var;
        if (args->training) {
            channel_stats(in, ch, &mean, &var);
            const float m = a->momentum;
            double unbiased = count > 1.0 ? var * count / (count - 1.0) : var;
            running_mean[ch] = (1.0f - m) * running_mean[ch] + m * (float)mean;
            running_var[ch] = (1.0f - m) * running_var[ch] + m * (float)unbiased;
        } else {
            mean = running_mean[ch];
            var = running_var[ch];
        }
        const float scale = (float)(args->weight[ch] / sqrt(var + a->epsilon));
        scale_shift(in, out, ch, scale, args->bias[ch] - (float)mean * scale, a->relu);
    }
}

/* With x^ = (x - mean) / std over the batch and g = dy (masked by the ReLU):
 *   dgamma = sum g x^,  dbeta = sum g,  dx = gamma / std * (g - mean(g) - x^ mean(g x^)). */
static void batchnorm_backward(const incept_backward_args *args)
{
    const incept_node *n = args->node;
    const incept_attrs *a = &n->attrs;
    const incept_tensor *in = &args->inputs[0], *out = &args->output, *dy = &args->output_grad;
    const incept_tensor *dx = &args->input_grads[0];
    const size_t plane = (size_t)in->h * in->w;
    const double count = (double)in->n * plane;
    const int relu = a->relu;
#pragma omp parallel for num_threads(args->threads) schedule(static)
    for (int ch = 0; ch < in->c; ch++) {
        double mean, var;
        channel_stats(in, ch, &mean, &var);
        const float mf = (float)mean, inv_std = (float)(1.0 / sqrt(var + a->epsilon));
        double sum_g = 0.0, sum_gx = 0.0;
        for (int s = 0; s < in->n; s++) {
            const float *x = in->data + s * in->batch_stride + ch * plane;
            const float *y = out->data + s * out->batch_stride + ch * plane;
            const float *gy = dy->data + s * dy->batch_stride + ch * plane;
            float part_g = 0.0f, part_gx = 0.0f;
            for (size_t i = 0; i < plane; i++) {
                float gi = relu && y[i] <= 0.0f ? 0.0f : gy[i];
                part_g += gi;
                part_gx += gi * (x[i] - mf);
            }
            sum_g += part_g;
            sum_gx += part_gx;
        }
        sum_gx *= inv_std; /* sum g x^ */
        args->weight_grad[ch] += (float)sum_gx;
        args->bias_grad[ch] += (float)sum_g;
        if (!dx->data)
            continue;
        const float k = args->weight[ch] * inv_std, mean_g = (float)(sum_g / count);
        const float mean_gx = (float)(sum_gx / count);
        for (int s = 0; s < in->n; s++) {
            const float *x = in->data + s * in->batch_stride + ch * plane;
            const float *y = out->data + s * out->batch_stride + ch * plane;
            const float *gy = dy->data + s * dy->batch_stride + ch * plane;
            float *d = dx->data + s * dx->batch_stride + ch * plane;
            for (size_t i = 0; i < plane; i++) {
                float gi = relu && y[i] <= 0.0f ? 0.0f : gy[i];
                d[i] += k * (gi - mean_g - (x[i] - mf) * inv_std * mean_gx);
            }
        }
    }
}

const incept_op incept_op_batchnorm = {
    .name = "batchnorm", .min_inputs = 1, .max_inputs = 1, .in_place = 1,
    .infer = batchnorm_infer, .forward = batchnorm_forward, .backward = batchnorm_backward,
};
