/* conv_depthwise.c — the direct path of a convolution with one input channel per group:
 * MobileNet's depthwise convolutions (any channel multiplier); forward, and backward (the
 * filters', biases' and input's gradients). The rest of the convolution's story is conv.c. */
#include <stddef.h>

#include "core/cpu.h"
#include "ops/conv_depthwise.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* A depthwise convolution (one input channel per group, MobileNet's): a GEMM per group would be
 * [multiplier x k] times [k x plane], a few multiply-adds per call; the plane is computed
 * directly instead, each output row accumulating one kernel tap at a time over its valid columns
 * (the inner loop runs along the row, unit-stride when the stride is 1). */

INCEPT_VECTOR_CLONES
static void depthwise_plane(const float *x, int in_h, int in_w, const float *w, float bias,
                            const incept_attrs *a, float *y, int out_h, int out_w)
{
    const int sh = a->stride_h, sw = a->stride_w, dh = a->dilation_h, dw = a->dilation_w;
    for (int oy = 0; oy < out_h; oy++) {
        float *row = y + (size_t)oy * out_w;
        for (int ox = 0; ox < out_w; ox++)
            row[ox] = bias;
        for (int ky = 0; ky < a->kernel_h; ky++) {
            int iy = oy * sh - a->pad_top + ky * dh;
            if (iy < 0 || iy >= in_h)
                continue;
            const float *xrow = x + (size_t)iy * in_w;
            for (int kx = 0; kx < a->kernel_w; kx++) {
                const float wk = w[ky * a->kernel_w + kx];
                int shift = kx * dw - a->pad_left; /* ix = ox * sw + shift */
                int first = shift >= 0 ? 0 : (-shift + sw - 1) / sw;
                int last = (in_w - 1 - shift) < 0 ? -1 : (in_w - 1 - shift) / sw;
                if (last >= out_w)
                    last = out_w - 1;
                if (sw == 1)
                    for (int ox = first; ox <= last; ox++)
                        row[ox] += wk * xrow[ox + shift];
                else
                    for (int ox = first; ox <= last; ox++)
                        row[ox] += wk * xrow[ox * sw + shift];
            }
        }
        if (a->relu)
            for (int ox = 0; ox < out_w; ox++)
                row[ox] = row[ox] > 0.0f ? row[ox] : 0.0f;
    }
}

void incept_conv_depthwise_forward(const incept_op_args *args)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_view *in = &args->inputs[0], *out = &args->output;
    const int channels = out->c, multiplier = out->c / in->c, kernel = a->kernel_h * a->kernel_w;
    const long tasks = (long)in->n * channels;
#pragma omp parallel for num_threads(args->threads) schedule(static)
    for (long t = 0; t < tasks; t++) {
        int s = (int)(t / channels), c = (int)(t % channels), from = c / multiplier;
        depthwise_plane(in->data + s * in->batch_stride + (size_t)from * in->h * in->w, in->h, in->w,
                        args->weight + (size_t)c * kernel, args->bias ? args->bias[c] : 0.0f, a,
                        out->data + s * out->batch_stride + (size_t)c * out->h * out->w, out->h, out->w);
    }
}

/* Backward of one (sample, input channel): the gradients of its `multiplier` filters and biases
 * into dw and db (this thread's partial sums) and, when dx is not NULL, of its input plane:
 * for each output row and tap, a dot product along the row for the filter and the transposed
 * forward (dx row += w * g row) for the input. */
INCEPT_VECTOR_CLONES
static void depthwise_plane_backward(const float *x, float *dx, int in_h, int in_w, const float *g,
                                     size_t g_stride, const float *w, const incept_attrs *a,
                                     int out_h, int out_w, int multiplier, float *dw, float *db)
{
    const int sh = a->stride_h, sw = a->stride_w, dh = a->dilation_h, dil = a->dilation_w;
    const int taps = a->kernel_h * a->kernel_w;
    for (int m = 0; m < multiplier; m++) {
        const float *gm = g + (size_t)m * g_stride, *wm = w + (size_t)m * taps;
        float bias_sum = 0.0f;
        for (int i = 0; i < out_h * out_w; i++)
            bias_sum += gm[i];
        db[m] += bias_sum;
        for (int oy = 0; oy < out_h; oy++) {
            const float *restrict grow = gm + (size_t)oy * out_w;
            for (int ky = 0; ky < a->kernel_h; ky++) {
                int iy = oy * sh - a->pad_top + ky * dh;
                if (iy < 0 || iy >= in_h)
                    continue;
                const float *restrict xrow = x + (size_t)iy * in_w;
                float *restrict dxrow = dx ? dx + (size_t)iy * in_w : NULL;
                for (int kx = 0; kx < a->kernel_w; kx++) {
                    const int tap = ky * a->kernel_w + kx, shift = kx * dil - a->pad_left;
                    int first = shift >= 0 ? 0 : (-shift + sw - 1) / sw;
                    int last = (in_w - 1 - shift) < 0 ? -1 : (in_w - 1 - shift) / sw;
                    if (last >= out_w)
                        last = out_w - 1;
                    float dot = 0.0f;
                    if (sw == 1) {
#pragma omp simd reduction(+ : dot)
                        for (int ox = first; ox <= last; ox++)
                            dot += grow[ox] * xrow[ox + shift];
                        if (dxrow)
                            for (int ox = first; ox <= last; ox++)
                                dxrow[ox + shift] += wm[tap] * grow[ox];
                    } else {
                        for (int ox = first; ox <= last; ox++)
                            dot += grow[ox] * xrow[ox * sw + shift];
                        if (dxrow)
                            for (int ox = first; ox <= last; ox++)
                                dxrow[ox * sw + shift] += wm[tap] * grow[ox];
                    }
                    dw[(size_t)m * taps + tap] += dot;
                }
            }
        }
    }
}

size_t incept_conv_depthwise_backward_floats(int out_c, int taps, int threads)
{
    return (size_t)threads * ((size_t)out_c * taps + (size_t)out_c);
}

/* Threads take (sample, input channel) pairs, each with its own partial filter and bias
 * gradients, added up in thread order at the end (deterministic for a thread count); the input
 * planes they write are their own. Against a GEMM per group (one filter of 9 taps each):
 * a training step of the reduced mobilenet_v2 fixture (tests/fixtures/torchvision, batch 16,
 * 2 threads) 36.0 -> 16.0 ms. */
void incept_conv_depthwise_backward(const incept_backward_args *args, const incept_view *dy)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_view *in = &args->inputs[0], *dx = &args->input_grads[0];
    const int out_c = dy->c, multiplier = out_c / in->c, taps = a->kernel_h * a->kernel_w;
    const size_t partial = (size_t)out_c * taps + (size_t)out_c;
    const long tasks = (long)in->n * in->c;
    const int threads = tasks < args->threads ? (int)tasks : args->threads;
    const size_t out_plane = (size_t)dy->h * dy->w, in_plane = (size_t)in->h * in->w;
#pragma omp parallel num_threads(threads)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        float *dw = args->workspace + (size_t)t * partial, *db = dw + (size_t)out_c * taps;
        for (size_t i = 0; i < partial; i++)
            dw[i] = 0.0f;
#pragma omp for schedule(static)
        for (long task = 0; task < tasks; task++) {
            const int s = (int)(task / in->c), c = (int)(task % in->c), o = c * multiplier;
            depthwise_plane_backward(in->data + s * in->batch_stride + (size_t)c * in_plane,
                                     dx->data ? dx->data + s * dx->batch_stride + (size_t)c * in_plane : NULL,
                                     in->h, in->w, dy->data + s * dy->batch_stride + (size_t)o * out_plane,
                                     out_plane, args->weight + (size_t)o * taps, a, dy->h, dy->w,
                                     multiplier, dw + (size_t)o * taps, db + o);
        }
    }
    for (int t = 0; t < threads; t++) {
        const float *dw = args->workspace + (size_t)t * partial, *db = dw + (size_t)out_c * taps;
        for (size_t i = 0; i < (size_t)out_c * taps; i++)
            args->weight_grad[i] += dw[i];
        for (int o = 0; o < out_c && args->bias_grad; o++)
            args->bias_grad[o] += db[o];
    }
}
