/* channels.c — the N-d reference normalizations: LRN across channels, BatchNormalization (running
 * statistics at inference; batch statistics and updated running ones in training mode, as
 * opset 14 defines it and opsets 7-9 did with their optional outputs) and Softmax (over one axis
 * from opset 13, over the axes from `axis` on, as one row, before). */
#include <math.h>
#include <string.h>

#include "nd/nd.h"

INCEPT_ND_OP(lrn)
{
    (void)n_out;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 2, 0);
    if (st || (st = incept_nd_array_alloc(ctx, out, INCEPT_FLOAT32, in[0]->rank, in[0]->dims)))
        return st;
    long long size = incept_onnx_attr_int(ctx->node, "size", 0);
    float alpha = incept_onnx_attr_float(ctx->node, "alpha", 1e-4f);
    float beta = incept_onnx_attr_float(ctx->node, "beta", 0.75f);
    float bias = incept_onnx_attr_float(ctx->node, "bias", 1.0f);
    if (size < 1)
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "size must be a positive odd number");
    long long batch = in[0]->dims[0], channels = in[0]->dims[1], below = (size - 1) / 2, above = size / 2;
    size_t plane = incept_nd_span(in[0], 2, in[0]->rank);
    const float *x = in[0]->data;
    float *y = out->data;
    for (long long n = 0; n < batch; n++)
        for (long long c = 0; c < channels; c++) {
            long long lo = c - below < 0 ? 0 : c - below;
            long long hi = c + above >= channels ? channels - 1 : c + above;
            for (size_t i = 0; i < plane; i++) {
                float sum = 0.0f;
                for (long long k = lo; k <= hi; k++) {
                    float v = x[((size_t)(n * channels + k)) * plane + i];
                    sum += v * v;
                }
                size_t at = (size_t)(n * channels + c) * plane + i;
                y[at] = x[at] / powf(bias + alpha / (float)size * sum, beta);
            }
        }
    return INCEPT_OK;
}

INCEPT_ND_OP(batchnorm)
{
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 2, 0);
    if (st)
        return st;
    const incept_tensor *x = in[0];
    long long channels = x->dims[1];
    for (int i = 1; i < 5; i++) {
        if ((st = incept_nd_expect(ctx, in, n_in, i, INCEPT_FLOAT32, 1, 1)))
            return st;
        if (in[i]->dims[0] != channels)
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "input %d has %lld values for %lld channels", i,
                               in[i]->dims[0], channels);
    }
    if (incept_onnx_attr_int(ctx->node, "spatial", 1) != 1)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "spatial = 0 (statistics per element)");
    float epsilon = incept_onnx_attr_float(ctx->node, "epsilon", 1e-5f);
    float momentum = incept_onnx_attr_float(ctx->node, "momentum", 0.9f);
    int training = ctx->opset >= 14 ? incept_onnx_attr_int(ctx->node, "training_mode", 0) != 0 : n_out > 1;
    if (!training && n_out > 1)
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "statistics outputs outside training mode");
    if ((st = incept_nd_array_alloc(ctx, &out[0], INCEPT_FLOAT32, x->rank, x->dims)))
        return st;
    for (int i = 1; i < n_out && i < 5; i++)
        if ((st = incept_nd_array_alloc(ctx, &out[i], INCEPT_FLOAT32, 1, &channels)))
            return st;
    const float *scale = in[1]->data, *shift = in[2]->data, *mean = in[3]->data, *var = in[4]->data;
    size_t batch = (size_t)x->dims[0], plane = incept_nd_span(x, 2, x->rank);
    const float *xs = x->data;
    float *y = out[0].data;
    for (long long c = 0; c < channels; c++) {
        double m = mean[c], v = var[c];
        if (training) { /* the batch's moments (population variance) */
            double sum = 0.0, squares = 0.0, count = (double)(batch * plane);
            for (size_t n = 0; n < batch; n++)
                for (size_t i = 0; i < plane; i++)
                    sum += xs[(n * (size_t)channels + (size_t)c) * plane + i];
            m = count > 0 ? sum / count : 0.0;
            for (size_t n = 0; n < batch; n++)
                for (size_t i = 0; i < plane; i++) {
                    double d = xs[(n * (size_t)channels + (size_t)c) * plane + i] - m;
                    squares += d * d;
                }
            v = count > 0 ? squares / count : 0.0;
            float *running[4] = {n_out > 1 ? out[1].data : NULL, n_out > 2 ? out[2].data : NULL,
                                 n_out > 3 ? out[3].data : NULL, n_out > 4 ? out[4].data : NULL};
            if (running[0])
                running[0][c] = (float)(mean[c] * momentum + m * (1.0 - momentum));
            if (running[1])
                running[1][c] = (float)(var[c] * momentum + v * (1.0 - momentum));
            if (running[2])
                running[2][c] = (float)m;
            if (running[3])
                running[3][c] = (float)v;
        }
        float a = (float)(scale[c] / sqrt(v + epsilon)), b = (float)(shift[c] - m * a);
        for (size_t n = 0; n < batch; n++) {
            size_t at = (n * (size_t)channels + (size_t)c) * plane;
            for (size_t i = 0; i < plane; i++)
                y[at + i] = xs[at + i] * a + b;
        }
    }
    return INCEPT_OK;
}

INCEPT_ND_OP(softmax)
{
    (void)n_out;
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 0, 0);
    int rank = in[0] ? in[0]->rank : 0, axis;
    if (st || (st = incept_nd_axis(ctx, incept_onnx_attr_int(ctx->node, "axis", ctx->opset >= 13 ? -1 : 1),
                                rank ? rank : 1, 0, &axis)) ||
        (st = incept_nd_array_alloc(ctx, out, INCEPT_FLOAT32, rank, in[0]->dims)))
        return st;
    size_t outer = incept_nd_span(in[0], 0, axis), length, inner;
    if (ctx->opset >= 13)
        length = rank ? (size_t)in[0]->dims[axis] : 1, inner = incept_nd_span(in[0], axis + 1, rank);
    else
        length = incept_nd_span(in[0], axis, rank), inner = 1;
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
