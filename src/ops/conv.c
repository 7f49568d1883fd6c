/* conv.c — 2-D convolution (any kernel, stride, padding incl. asymmetric, dilation, groups),
 * with bias and an optionally fused ReLU.
 *
 * Weight [out_channels, in_channels/groups, kernel_h, kernel_w], bias [out_channels].
 * Forward: 3x3 and 5x5 stride-1 convolutions go through Winograd F(4x4, 3x3) and F(4x4, 5x5)
 * (where a call has enough tiles) unless exact mode asks for direct sums; the rest per sample
 * and group as one SGEMM, out[M, HW] = W[M, K] * col[K, HW], where col is the im2col matrix
 * unfolded panel by panel inside the GEMM (for 1x1 / stride 1 / no pad it is the input itself),
 * with bias and ReLU applied as each tile is stored. In an int8 session (conv_quantize) a
 * convolution of one group is that GEMM in 8 bits: weights quantized per output channel, the
 * input coded while it is unfolded, exact 32-bit sums (kernels/qgemm.h).
 */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/status.h"
#include "kernels/bf16.h"
#include "kernels/kernels.h"
#include "kernels/qgemm.h"
#include "core/window.h"
#include "io/onnx_writer.h"
#include "io/onnx_import.h"
#include "ops/op.h"
#include "ops/conv_depthwise.h"

static incept_status conv_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    const incept_attrs *a = &n->attrs;
    if (a->kernel_h <= 0 || a->kernel_w <= 0 || a->stride_h <= 0 || a->stride_w <= 0 ||
        a->dilation_h <= 0 || a->dilation_w <= 0 || a->groups <= 0 || a->out_channels <= 0)
        return incept_fail(INCEPT_ERR_ARG, "kernel, stride, dilation, groups and output channels "
                           "must be positive");
    if (a->pad_top < 0 || a->pad_left < 0 || a->pad_bottom < 0 || a->pad_right < 0)
        return incept_fail(INCEPT_ERR_ARG, "negative padding");
    if (in->c % a->groups || a->out_channels % a->groups)
        return incept_fail(INCEPT_ERR_SHAPE, "channels %d -> %d not divisible by %d groups", in->c,
                           a->out_channels, a->groups);
    if (n->weight < 0)
        return incept_fail(INCEPT_ERR_ARG, "convolution without weights");
    const incept_param *wp = &g->params[n->weight];
    if (wp->ndim != 4 || wp->dims[0] != a->out_channels || wp->dims[1] != in->c / a->groups ||
        wp->dims[2] != a->kernel_h || wp->dims[3] != a->kernel_w)
        return incept_fail(INCEPT_ERR_SHAPE,
                           "weight '%s' has shape [%d,%d,%d,%d], expected [%d,%d,%d,%d]", wp->name,
                           wp->dims[0], wp->dims[1], wp->dims[2], wp->dims[3], a->out_channels,
                           in->c / a->groups, a->kernel_h, a->kernel_w);
    if (n->bias >= 0 && g->params[n->bias].count != (size_t)a->out_channels)
        return incept_fail(INCEPT_ERR_SHAPE, "bias '%s' has %zu values, expected %d",
                           g->params[n->bias].name, g->params[n->bias].count, a->out_channels);
    *c = a->out_channels;
    long long oh = incept_window_output(in->h, a->kernel_h, a->stride_h, a->pad_top, a->pad_bottom,
                                        a->dilation_h, 0);
    long long ow = incept_window_output(in->w, a->kernel_w, a->stride_w, a->pad_left, a->pad_right,
                                        a->dilation_w, 0);
    *h = oh > 0 && oh < 1 << 24 ? (int)oh : 0;
    *w = ow > 0 && ow < 1 << 24 ? (int)ow : 0;
    if (*h <= 0 || *w <= 0)
        return incept_fail(INCEPT_ERR_SHAPE, "%dx%d kernel does not fit the %dx%d input",
                           a->kernel_h, a->kernel_w, in->h, in->w);
    return INCEPT_OK;
}

static long long conv_macs(const incept_graph *g, const incept_node *n)
{
    const incept_value *in = incept_node_input(g, n, 0), *out = &g->values[n->output];
    const incept_attrs *a = &n->attrs;
    return (long long)out->c * out->h * out->w * (in->c / a->groups) * a->kernel_h * a->kernel_w;
}

static int conv_is_pointwise(const incept_attrs *a)
{
    return a->kernel_h == 1 && a->kernel_w == 1 && a->stride_h == 1 && a->stride_w == 1 &&
           a->pad_top == 0 && a->pad_left == 0 && a->pad_bottom == 0 && a->pad_right == 0;
}

static int conv_can_stack(const incept_node *n)
{
    return n->op == &incept_op_conv && conv_is_pointwise(&n->attrs) && n->attrs.groups == 1 &&
           n->weight >= 0 && !(n->attrs.relu_max < INFINITY); /* a stack applies ReLU only */
}

/* A convolution Winograd can compute: 3x3 or 5x5, stride and dilation 1, one group. */
static int conv_winograd_shape(const incept_attrs *a)
{
    return (a->kernel_h == 3 || a->kernel_h == 5) && a->kernel_w == a->kernel_h && a->stride_h == 1 &&
           a->stride_w == 1 && a->dilation_h == 1 && a->dilation_w == 1 && a->groups == 1;
}

/* Whether this convolution goes through Winograd F(4x4, 3x3) or F(4x4, 5x5): where a call has at
 * least 16 of its 4x4 tiles (14x14 and larger at batch 1, 7x7 from batch 4). Below that (7x7 at
 * batch 1: 4 tiles, padded to the GEMM's 16 columns) it is slower than im2col + GEMM (5x5
 * 32 -> 128: 0.15 against 0.08 ms). Measured at 14x14, batch 1, 2 threads: inception_4e's 3x3
 * 0.61 against 0.84 ms, its 5x5 0.16 against 0.31 ms. Never in exact mode. */
static int conv_uses_winograd(const incept_attrs *a, int batch, int out_h, int out_w, int exact)
{
    return !exact && conv_winograd_shape(a) && incept_winograd_tiles(a->kernel_h, batch, out_h, out_w) >= 16;
}

/* One input channel per group (MobileNet's depthwise convolutions, any channel multiplier): the
 * direct path. Not a one-channel image's first convolution (groups 1): Winograd and the GEMMs
 * run the Fashion-MNIST net's conv1 (1 -> 32, 28x28, batch 128) in 6.6 ms forward and backward,
 * the direct loops in 18.3. */
static int conv_is_depthwise(const incept_attrs *a, int in_c, int out_c)
{
    return a->groups > 1 && a->groups == in_c && out_c % in_c == 0;
}

/* When the batch covers the threads, each thread takes whole samples (its own im2col buffer);
 * otherwise the threads split each GEMM's output channels. */
static int conv_threads_per_sample(int batch, int threads) { return batch >= threads ? 1 : threads; }

/* Samples per GEMM when threads take whole samples: a 7x7 or 14x14 plane alone makes a GEMM too
 * narrow to run near the machine's peak, so several images' columns go side by side (the
 * im2col matrix of `images` images). Set by the plane alone, so no result depends on the
 * thread count. Measured (Fashion-MNIST net, batch 128): 7x7 3x3/5x5 backward 25-45% faster,
 * 14x14 planes no better (so they stay alone), pointwise slower (the copies cost more). */
#define CHUNK_COLUMNS 256
static int conv_chunk(const incept_attrs *a, int plane, int batch)
{
    if (conv_is_pointwise(a)) /* its B is the input itself: chunks would only add copies */
        return 1;
    int chunk = plane < CHUNK_COLUMNS ? CHUNK_COLUMNS / plane : 1;
    return chunk < batch ? chunk : batch;
}

static incept_im2col conv_geometry(const incept_attrs *a, const float *x, int channels,
                                   const incept_view *in, const incept_view *out, int images,
                                   size_t image_stride)
{
    incept_im2col geometry = {x, channels, in->h, in->w, a->kernel_h, a->kernel_w,
                              a->stride_h, a->stride_w, a->pad_top, a->pad_left,
                              a->dilation_h, a->dilation_w, out->h, out->w, images, image_stride};
    return geometry;
}

/* Forward scratch of one thread taking whole samples: the GEMM's packing, then the chunk's
 * output [C_out/groups, chunk * plane] before it is spread over the samples. */
static size_t conv_chunk_floats(const incept_graph *g, const incept_node *n, int batch)
{
    const incept_value *in = incept_node_input(g, n, 0), *out = &g->values[n->output];
    const incept_attrs *a = &n->attrs;
    const int plane = out->h * out->w, columns = conv_chunk(a, plane, batch) * plane;
    return incept_gemm_workspace(out->c / a->groups, columns,
                                 in->c / a->groups * a->kernel_h * a->kernel_w, 1) +
           (size_t)(out->c / a->groups) * columns;
}

static int conv_has_int8(const incept_attrs *a) { return a->groups == 1; }

static size_t conv_workspace(const incept_graph *g, const incept_node *n, const incept_run_config *cfg)
{
    const incept_value *in = incept_node_input(g, n, 0), *out = &g->values[n->output];
    const incept_attrs *a = &n->attrs;
    if (cfg->int8 && conv_has_int8(a) && n->weight >= 0) { /* quantized unless uncalibrated */
        const int k = in->c * a->kernel_h * a->kernel_w, plane = out->h * out->w;
        size_t bytes = conv_threads_per_sample(cfg->batch, cfg->threads) > 1
                           ? incept_qgemm_workspace(out->c, plane, k, cfg->threads)
                           : incept_qgemm_workspace(out->c, plane, k, 1) * (size_t)cfg->threads;
        const incept_run_config fp32 = {cfg->batch, cfg->threads, cfg->exact, cfg->training, 0};
        size_t floats = conv_workspace(g, n, &fp32);
        return (bytes + 3) / 4 > floats ? (bytes + 3) / 4 : floats;
    }
    if (conv_is_depthwise(a, in->c, out->c))
        return 0; /* computed in place, no scratch */
    if (conv_uses_winograd(a, cfg->batch, out->h, out->w, cfg->exact))
        return incept_winograd_workspace(a->kernel_h, in->c, out->c, cfg->batch, out->h, out->w,
                                         cfg->threads);
    if (conv_threads_per_sample(cfg->batch, cfg->threads) > 1)
        return incept_gemm_workspace(out->c / a->groups, out->h * out->w,
                                     in->c / a->groups * a->kernel_h * a->kernel_w, cfg->threads);
    return conv_chunk_floats(g, n, cfg->batch) * (size_t)cfg->threads;
}

/* ---- bf16 ---- */

/* A convolution's bf16 form: its weights as bf16 pairs of k, a row of `words` per output channel,
 * and for one Winograd may run (3x3 and 5x5, stride 1) its transformed filters in bf16, made
 * here once instead of on every call (at 14x14 that transform cost as much as the products). One
 * allocation. */
typedef struct {
    int words;
    const uint32_t *winograd; /* or NULL */
    uint32_t weights[];
} conv_bf16;

static incept_status conv_to_bf16(const incept_graph *g, const incept_node *n, void **state)
{
    *state = NULL;
    const incept_attrs *a = &n->attrs;
    if (a->groups != 1 || n->weight < 0)
        return INCEPT_OK; /* grouped and depthwise convolutions stay float */
    const incept_param *wp = &g->params[n->weight];
    const int m = wp->dims[0], k = wp->dims[1] * wp->dims[2] * wp->dims[3];
    const int words = incept_bf16_row_length(k) / 2;
    const int winograd = conv_winograd_shape(a); /* at some batch, unless exact */
    const size_t transformed = winograd ? incept_winograd_bf16_filter_words(a->kernel_h, wp->dims[1], m) : 0;
    conv_bf16 *form = incept_malloc(sizeof(conv_bf16) + sizeof(uint32_t) * ((size_t)m * words + transformed));
    if (!form)
        return INCEPT_ERR_NOMEM;
    form->words = words;
    const float *weight = g->param_data + wp->offset;
    incept_bf16_rows(weight, m, k, form->weights);
    form->winograd = NULL;
    if (winograd) {
        uint32_t *u = form->weights + (size_t)m * words;
        incept_winograd_bf16_filters(a->kernel_h, weight, wp->dims[1], m, u);
        form->winograd = u;
    }
    *state = form;
    return INCEPT_OK;
}

/* Samples [s0, s0 + count) through one GEMM per group whose B is their im2col matrices side by
 * side (unfolded while packing) or, for one sample of a pointwise convolution, the input
 * itself. One sample writes straight into the output; several go through `scratch` after the
 * packing. */
static void conv_chunk_forward(const incept_op_args *args, int s0, int count, float *scratch,
                               size_t packing, int threads)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_view *in = &args->inputs[0], *out = &args->output;
    int groups = a->groups, cin_g = in->c / groups, cout_g = out->c / groups;
    int k = cin_g * a->kernel_h * a->kernel_w, plane = out->h * out->w, columns = count * plane;
    size_t in_plane = (size_t)in->h * in->w;
    const float *x = in->data + s0 * in->batch_stride;
    float *y = out->data + s0 * out->batch_stride, *spread = scratch + packing;
    for (int gi = 0; gi < groups; gi++) {
        const float *xg = x + (size_t)gi * cin_g * in_plane;
        const float *weight = args->weight + (size_t)gi * cout_g * k;
        const float *bias = args->bias ? args->bias + (size_t)gi * cout_g : NULL;
        float *yg = y + (size_t)gi * cout_g * plane;
        incept_im2col geometry = conv_geometry(a, xg, cin_g, in, out, count, in->batch_stride);
        const conv_bf16 *half = args->bf16; /* groups 1 */
        if (half && count == 1 && conv_is_pointwise(a))
            incept_gemm_bf16(threads, cout_g, plane, k, half->weights, half->words, xg, plane, yg,
                             plane, bias, a->relu, scratch);
        else if (half && count == 1)
            incept_gemm_conv_bf16(threads, cout_g, plane, k, half->weights, half->words, &geometry,
                                  yg, plane, bias, a->relu, scratch);
        else if (half)
            incept_gemm_conv_bf16(threads, cout_g, columns, k, half->weights, half->words, &geometry,
                                  spread, columns, bias, a->relu, scratch);
        else if (count == 1 && conv_is_pointwise(a))
            incept_gemm(threads, cout_g, plane, k, weight, k, xg, plane, yg, plane, bias, a->relu,
                        scratch);
        else if (count == 1)
            incept_gemm_conv(threads, cout_g, plane, k, weight, k, &geometry, yg, plane, bias,
                             a->relu, scratch);
        else
            incept_gemm_conv(threads, cout_g, columns, k, weight, k, &geometry, spread, columns,
                             bias, a->relu, scratch);
        if (count > 1)
            for (int i = 0; i < count; i++)
                for (int o = 0; o < cout_g; o++)
                    memcpy(yg + i * out->batch_stride + (size_t)o * plane,
                           spread + (size_t)o * columns + (size_t)i * plane, sizeof(float) * plane);
    }
}

static void conv_forward_dense(const incept_op_args *args);

/* ---- int8 ---- */

/* A convolution's int8 form: its input's code and its quantized weights (one allocation). */
typedef struct {
    incept_quant input;
    incept_qgemm_weights weights;
} conv_int8;

static incept_status conv_quantize(const incept_graph *g, const incept_node *n, void **state)
{
    const incept_value *in = incept_node_input(g, n, 0), *out = &g->values[n->output];
    const incept_attrs *a = &n->attrs;
    *state = NULL;
    if (!conv_has_int8(a) || n->weight < 0)
        return INCEPT_OK; /* grouped and depthwise convolutions stay in float */
    const int m = out->c, k = in->c * a->kernel_h * a->kernel_w;
    const size_t head = 64, floats = ((size_t)2 * m * sizeof(float) + 63) / 64 * 64;
    float *block = incept_alloc_floats((head + floats + incept_qgemm_weights_bytes(m, k) + 3) / 4);
    if (!block)
        return INCEPT_ERR_NOMEM;
    conv_int8 *q = (conv_int8 *)(void *)block;
    q->input = incept_quant_range(in->range_lo, in->range_hi);
    q->weights.scale = block + head / 4;
    q->weights.bias = q->weights.scale + m;
    q->weights.data = (signed char *)(block + (head + floats) / 4);
    incept_qgemm_prepare(m, k, incept_graph_param_data(g, n->weight), k,
                         n->bias >= 0 ? incept_graph_param_data(g, n->bias) : NULL, q->input, &q->weights);
    *state = q;
    return INCEPT_OK;
}

/* One sample's int8 GEMM over its im2col matrix, written straight into the output. */
static void conv_sample_int8(const incept_op_args *args, int s, int threads, void *workspace)
{
    const conv_int8 *q = args->quantized;
    const incept_attrs *a = &args->node->attrs;
    const incept_view *in = &args->inputs[0], *out = &args->output;
    incept_im2col geometry = conv_geometry(a, in->data + s * in->batch_stride, in->c, in, out, 1,
                                           in->batch_stride);
    incept_qgemm_conv(threads, &q->weights, out->h * out->w, &geometry, q->input,
                      out->data + s * out->batch_stride, out->h * out->w, a->relu, workspace);
}

/* Sample by sample, the threads splitting each GEMM or, when the batch covers them, taking
 * whole samples (each its own workspace; no nested parallel regions). */
static void conv_forward_int8(const incept_op_args *args)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_view *in = &args->inputs[0], *out = &args->output;
    if (conv_threads_per_sample(in->n, args->threads) > 1) {
        for (int s = 0; s < in->n; s++)
            conv_sample_int8(args, s, args->threads, args->workspace);
        return;
    }
    const size_t per_thread = incept_qgemm_workspace(out->c, out->h * out->w,
                                                     in->c * a->kernel_h * a->kernel_w, 1);
#pragma omp parallel for num_threads(args->threads) schedule(dynamic, 1)
    for (int s = 0; s < in->n; s++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        conv_sample_int8(args, s, 1, (char *)args->workspace + per_thread * (size_t)t);
    }
}

static void conv_forward(const incept_op_args *args)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_view *in = &args->inputs[0], *out = &args->output;
    if (args->quantized) {
        conv_forward_int8(args);
    } else if (conv_is_depthwise(a, in->c, out->c)) {
        incept_conv_depthwise_forward(args);
    } else {
        conv_forward_dense(args);
    }
    if (a->relu) { /* a fused ReLU6: the kernels applied max(0, .), this the upper bound */
        incept_view y = *out;
        incept_clamp_max(&y, a->relu_max);
    }
}

static void conv_forward_dense(const incept_op_args *args)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_view *in = &args->inputs[0], *out = &args->output;
    if (conv_uses_winograd(a, in->n, out->h, out->w, args->exact)) {
        incept_winograd_args w = {in->data, in->batch_stride, in->n, in->c, in->h, in->w,
                                  args->weight, args->bias, a->kernel_h, out->c, a->pad_top,
                                  a->pad_left, a->relu, out->data, out->batch_stride, out->h, out->w,
                                  0, args->bf16 != NULL,
                                  args->bf16 ? ((const conv_bf16 *)args->bf16)->winograd : NULL};
        incept_winograd_conv(&w, args->workspace, args->threads);
        return;
    }
    if (conv_threads_per_sample(in->n, args->threads) > 1) {
        for (int s = 0; s < in->n; s++)
            conv_chunk_forward(args, s, 1, args->workspace, 0, args->threads);
        return;
    }
    const int plane = out->h * out->w, chunk = conv_chunk(a, plane, in->n);
    const int chunks = (in->n + chunk - 1) / chunk;
    const size_t per_thread = conv_chunk_floats(args->graph, args->node, in->n);
    const size_t packing = per_thread - (size_t)(out->c / a->groups) * chunk * plane;
#pragma omp parallel for num_threads(args->threads) schedule(dynamic, 1)
    for (int i = 0; i < chunks; i++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        int s0 = i * chunk, count = in->n - s0 < chunk ? in->n - s0 : chunk;
        conv_chunk_forward(args, s0, count, args->workspace + per_thread * (size_t)t, packing, 1);
    }
}

/* Backward, per chunk of samples (as the forward's) and group, with col the im2col matrix of the
 * chunk (the input itself for one sample of a pointwise convolution) and G the chunk's dY
 * gathered as [C_out, chunk * plane]:
 *   dbias += row sums of G;   dW += G col^T;   dcol = W^T G, folded back into dX (col2im).
 * Threads take whole chunks, each with its own scratch and its own partial dW and dbias, which
 * are added up in thread order at the end: deterministic for a given thread count. */
typedef struct {
    size_t k, plane, m, out_c, chunk, column, gradient, gemm, per_thread;
} conv_backward_sizes;

static conv_backward_sizes backward_sizes(const incept_graph *g, const incept_node *n, int batch)
{
    const incept_value *in = incept_node_input(g, n, 0), *out = &g->values[n->output];
    const incept_attrs *a = &n->attrs;
    conv_backward_sizes z;
    z.k = (size_t)(in->c / a->groups) * a->kernel_h * a->kernel_w;
    z.plane = (size_t)out->h * out->w;
    z.m = (size_t)(out->c / a->groups);
    z.out_c = (size_t)out->c;
    z.chunk = (size_t)conv_chunk(a, (int)z.plane, batch);
    z.column = z.k * z.chunk * z.plane;
    z.gradient = z.m * z.chunk * z.plane;
    const int columns = (int)(z.chunk * z.plane);
    size_t dw = incept_gemm_workspace((int)z.m, (int)z.k, columns, 1);
    size_t dc = incept_gemm_workspace((int)z.k, columns, (int)z.m, 1);
    z.gemm = dw > dc ? dw : dc;
    /* col, dcol, G, this thread's dW^T and W^T (groups > 1), GEMM packing, partial dW, partial
     * dbias */
    z.per_thread = 2 * z.column + z.gradient + z.k * z.m + z.gemm + z.out_c * z.k + z.out_c;
    return z;
}

/* The gradient of a stride-1 convolution's input is itself a convolution: of dY by the filters
 * turned 180 degrees with input and output channels swapped, padded by kernel - 1 - pad. Where
 * Winograd would take that convolution (3x3 and 5x5 filters on planes of enough tiles) it runs
 * there instead of W^T dY and col2im. Measured (Fashion-MNIST net, batch 128, 2 threads): the
 * input gradient of its 14x14 3x3 convolution 6.5 -> 5.6 ms, of the 7x7 5x5 ones 1.6 -> 1.1 ms. */
static int conv_backward_data_winograd(const incept_attrs *a, int batch, int in_h, int in_w,
                                       int exact)
{
    return conv_uses_winograd(a, batch, in_h, in_w, exact) && a->pad_top < a->kernel_h &&
           a->pad_left < a->kernel_w;
}

static size_t conv_backward_workspace(const incept_graph *g, const incept_node *n,
                                      const incept_run_config *cfg)
{
    const incept_value *in = incept_node_input(g, n, 0), *out = &g->values[n->output];
    if (conv_is_depthwise(&n->attrs, in->c, out->c))
        return incept_conv_depthwise_backward_floats(out->c, n->attrs.kernel_h * n->attrs.kernel_w,
                                                     cfg->threads);
    conv_backward_sizes z = backward_sizes(g, n, cfg->batch);
    size_t need = z.k * z.m + (size_t)cfg->threads * z.per_thread;
    if (conv_backward_data_winograd(&n->attrs, cfg->batch, in->h, in->w, cfg->exact)) {
        size_t winograd = z.k * z.m + incept_winograd_workspace(n->attrs.kernel_h, out->c, in->c,
                                                                cfg->batch, in->h, in->w,
                                                                cfg->threads);
        need = winograd > need ? winograd : need;
    }
    return need;
}

/* dX += the convolution of dY by the turned, transposed filters (conv_backward_data_winograd). */
static void conv_backward_data_by_winograd(const incept_backward_args *args, const incept_view *dy)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_view *in = &args->inputs[0], *dx = &args->input_grads[0];
    const int kernel = a->kernel_h, taps = kernel * kernel, in_c = in->c, out_c = dy->c;
    float *turned = args->workspace; /* [in_c][out_c][ky][kx] = W[o][c][K-1-ky][K-1-kx] */
    for (int c = 0; c < in_c; c++)
        for (int o = 0; o < out_c; o++) {
            const float *w = args->weight + ((size_t)o * in_c + c) * taps;
            float *t = turned + ((size_t)c * out_c + o) * taps;
            for (int k = 0; k < taps; k++)
                t[k] = w[taps - 1 - k];
        }
    incept_winograd_args w = {dy->data, dy->batch_stride, in->n, out_c, dy->h, dy->w,
                              turned, NULL, kernel, in_c, kernel - 1 - a->pad_top,
                              kernel - 1 - a->pad_left, 0, dx->data, dx->batch_stride, in->h, in->w,
                              1, 0, NULL};
    incept_winograd_conv(&w, args->workspace + (size_t)in_c * out_c * taps, args->threads);
}

static void conv_backward(const incept_backward_args *args)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_view *in = &args->inputs[0], *dx = &args->input_grads[0];
    incept_view dy = args->output_grad;
    if (a->relu)
        incept_activation_mask_grad(&args->output, &dy, a->relu_max);
    if (conv_is_depthwise(a, in->c, dy.c)) {
        incept_conv_depthwise_backward(args, &dy);
        return;
    }
    const conv_backward_sizes z = backward_sizes(args->graph, args->node, in->n);
    const int groups = a->groups, cin_g = in->c / groups, cout_g = dy.c / groups;
    const int k = (int)z.k, plane = (int)z.plane, chunk = (int)z.chunk;
    const int chunks = (in->n + chunk - 1) / chunk;
    const size_t in_plane = (size_t)in->h * in->w;
    const int pointwise = conv_is_pointwise(a);
    const int winograd_dx = dx->data && conv_backward_data_winograd(a, in->n, in->h, in->w, args->exact);
    const int gemm_dx = dx->data && !winograd_dx;
    float *shared_wt = args->workspace;
    if (gemm_dx && groups == 1) /* W^T once per call, so the GEMMs read its rows in place */
        for (int o = 0; o < cout_g; o++)
            for (int kk = 0; kk < k; kk++)
                shared_wt[(size_t)kk * cout_g + o] = args->weight[(size_t)o * k + kk];
    const int threads = chunks < args->threads ? chunks : args->threads;
#pragma omp parallel num_threads(threads)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        float *col = args->workspace + z.k * z.m + (size_t)t * z.per_thread;
        float *dcol = col + z.column, *gathered = dcol + z.column, *wt = gathered + z.gradient;
        float *packing = wt + z.k * z.m, *dw = packing + z.gemm, *db = dw + z.out_c * z.k;
        memset(dw, 0, sizeof(float) * (z.out_c * z.k + z.out_c));
#pragma omp for schedule(static)
        for (int ci = 0; ci < chunks; ci++) {
            const int s0 = ci * chunk, count = in->n - s0 < chunk ? in->n - s0 : chunk;
            const int columns = count * plane;
            for (int gi = 0; gi < groups; gi++) {
                const float *x = in->data + s0 * in->batch_stride + (size_t)gi * cin_g * in_plane;
                const float *g = dy.data + s0 * dy.batch_stride + (size_t)gi * cout_g * plane;
                const float *w = args->weight + (size_t)gi * cout_g * k;
                incept_im2col geometry = conv_geometry(a, x, cin_g, in, &dy, count, in->batch_stride);
                if (count > 1) { /* G[o][i * plane + p] = dY of sample s0 + i */
                    for (int i = 0; i < count; i++)
                        for (int o = 0; o < cout_g; o++)
                            memcpy(gathered + (size_t)o * columns + (size_t)i * plane,
                                   g + i * dy.batch_stride + (size_t)o * plane, sizeof(float) * plane);
                    g = gathered;
                }
                for (int o = 0; o < cout_g; o++) {
                    float sum = 0.0f;
                    for (int i = 0; i < columns; i++)
                        sum += g[(size_t)o * columns + i];
                    db[gi * cout_g + o] += sum;
                }
                const float *cols = x;
                if (!pointwise || count > 1) {
                    incept_im2col_dense(&geometry, col);
                    cols = col;
                }
                /* dW[M, K] += G[M, N] col[K, N]^T, computed as its transpose col G^T [K, M]: A is
                 * col read in place and B, packed from G^T, has M values a step instead of K
                 * (packing col^T was 7% of a Fashion-MNIST training step); added transposed */
                incept_gemm_bt(1, k, cout_g, columns, cols, columns, g, columns, wt, cout_g, packing);
                float *dwg = dw + (size_t)gi * cout_g * k;
                for (int o = 0; o < cout_g; o++)
                    for (int kk = 0; kk < k; kk++)
                        dwg[(size_t)o * k + kk] += wt[(size_t)kk * cout_g + o];
                if (!gemm_dx)
                    continue;
                const float *wt_g = shared_wt;
                if (groups > 1) { /* this group's W^T */
                    for (int o = 0; o < cout_g; o++)
                        for (int kk = 0; kk < k; kk++)
                            wt[(size_t)kk * cout_g + o] = w[(size_t)o * k + kk];
                    wt_g = wt;
                }
                float *dxg = dx->data + s0 * dx->batch_stride + (size_t)gi * cin_g * in_plane;
                if (pointwise && count == 1) { /* dX[K, N] += W^T dY directly */
                    incept_gemm_accumulate(1, k, plane, cout_g, wt_g, cout_g, g, plane, 0, dxg, plane,
                                           packing);
                } else {
                    incept_gemm(1, k, columns, cout_g, wt_g, cout_g, g, columns, dcol, columns, NULL,
                                0, packing);
                    incept_im2col into = conv_geometry(a, dxg, cin_g, in, &dy, count, dx->batch_stride);
                    incept_col2im_add(&into, dcol, dxg);
                }
            }
        }
    }
    for (int t = 0; t < threads; t++) { /* the partial sums, in thread order */
        const float *dw = args->workspace + z.k * z.m + (size_t)t * z.per_thread + 2 * z.column +
                          z.gradient + z.k * z.m + z.gemm;
        const float *db = dw + z.out_c * z.k;
        for (size_t i = 0; i < z.out_c * z.k; i++)
            args->weight_grad[i] += dw[i];
        for (size_t i = 0; i < z.out_c && args->bias_grad; i++)
            args->bias_grad[i] += db[i];
    }
    if (winograd_dx) /* after the partial sums: it takes the workspace over */
        conv_backward_data_by_winograd(args, &dy);
}

/* Sample s of every member of a stack through one GEMM. */
static void stacked_sample(const incept_op_args *members, int count, int s, int threads, float *workspace)
{
    incept_gemm_part parts[INCEPT_STACK_MAX];
    const incept_view *in = &members[0].inputs[0];
    const int plane = in->h * in->w;
    for (int i = 0; i < count; i++) {
        const incept_op_args *m = &members[i];
        const conv_bf16 *half = m->bf16; /* a bf16 session: every member has one */
        parts[i] = (incept_gemm_part){m->weight, half ? half->words : in->c, m->output.c,
                                      m->output.data + s * m->output.batch_stride, plane, m->bias,
                                      m->node->attrs.relu, half ? half->weights : NULL};
    }
    incept_gemm_stacked(threads, plane, in->c, parts, count, in->data + s * in->batch_stride, plane,
                        workspace);
}

/* Pointwise convolutions of one input (an Inception module's #1x1, #3x3 reduce and #5x5 reduce)
 * as one GEMM per sample: their weights stacked as the rows of one A over the input, which is
 * packed once instead of once per convolution and split between the threads as a whole. Each
 * output gets the bits its own forward would give. */
static void conv_stacked_forward(const incept_op_args *members, int count)
{
    const incept_view *in = &members[0].inputs[0];
    const int threads = members[0].threads;
    if (conv_threads_per_sample(in->n, threads) > 1) { /* the threads share each sample's GEMM */
        for (int s = 0; s < in->n; s++)
            stacked_sample(members, count, s, threads, members[0].workspace);
        return;
    }
    const size_t per_thread = incept_gemm_workspace(0, in->h * in->w, in->c, 1);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int s = 0; s < in->n; s++) { /* each thread whole samples */
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        stacked_sample(members, count, s, 1, members[0].workspace + (size_t)t * per_thread);
    }
}

/* "3x3 conv /2" and its channels, as Figure 3 labels a box. */
static void conv_describe(const incept_graph *g, const incept_node *n, int drawing, char *buf, size_t size)
{
    const incept_attrs *a = &n->attrs;
    if (drawing)
        snprintf(buf, size, "%dx%d conv%s\\n%d", a->kernel_h, a->kernel_w, a->stride_h > 1 ? " /2" : "",
                 g->values[n->output].c);
    else
        snprintf(buf, size, "convolution");
}

/* The QDQ form of a convolution (a quantized export): its input through QuantizeLinear and
 * DequantizeLinear of the input's code, its weights int8 with a scale per output channel and its
 * bias int32 (scale: input scale x weight scale), each through DequantizeLinear (axis 0) whose
 * output takes the parameter's name: the codes an int8 session computes with. */
static incept_status conv_to_onnx_qdq(const incept_onnx_export *e, const char *weight, const char *bias)
{
    const incept_graph *g = e->g;
    const incept_node *n = e->n;
    const incept_value *in = incept_node_input(g, n, 0);
    const incept_param *wp = &g->params[n->weight];
    const int m = g->values[n->output].c, k = (int)(wp->count / (size_t)m);
    const incept_quant code = incept_quant_range(in->range_lo, in->range_hi);
    incept_onnx_writer *w = e->w;
    char *names = incept_onnx_put_scratch(w, 10 * 1100);
    signed char *q = incept_onnx_put_scratch(w, wp->count);
    float *scale = incept_onnx_put_scratch(w, sizeof(float) * 2 * (size_t)m);
    int32_t *zero = incept_onnx_put_scratch(w, sizeof(int32_t) * (size_t)m);
    int32_t *qbias = incept_onnx_put_scratch(w, sizeof(int32_t) * (size_t)m);
    if (!names || !q || !scale || !zero || !qbias)
        return INCEPT_ERR_NOMEM;
    char *x_scale = names, *x_zero = names + 1100, *x_q = names + 2200, *x_dq = names + 3300;
    char *w_q = names + 4400, *w_scale = names + 5500, *w_zero = names + 6600;
    char *b_q = names + 7700, *b_scale = names + 8800, *b_zero = names + 9900;
    snprintf(x_scale, 1100, "%s/x_scale", n->name), snprintf(x_zero, 1100, "%s/x_zero_point", n->name);
    snprintf(x_q, 1100, "%s/x_quantized", n->name), snprintf(x_dq, 1100, "%s/x_dequantized", n->name);
    snprintf(w_q, 1100, "%s_quantized", weight), snprintf(w_scale, 1100, "%s_scale", weight);
    snprintf(w_zero, 1100, "%s_zero_point", weight);
    const float *wd = g->param_data + wp->offset, *bd = bias ? g->param_data + g->params[n->bias].offset : NULL;
    float *b_scales = scale + m;
    for (int r = 0; r < m; r++) {
        scale[r] = incept_quant_weight_scale(wd + (size_t)r * k, k);
        for (int j = 0; j < k; j++)
            q[(size_t)r * k + j] = (signed char)incept_quant_weight(wd[(size_t)r * k + j], scale[r]);
        b_scales[r] = code.scale * scale[r];
        double v = bd ? nearbyint((double)bd[r] / b_scales[r]) : 0.0;
        qbias[r] = v > 2147483647.0 ? 2147483647 : v < -2147483647.0 ? -2147483647 : (int32_t)v;
    }
    const unsigned char x_zero_value = (unsigned char)code.zero_point;
    const int64_t none = 0, per_row = m, w_dims[4] = {wp->dims[0], wp->dims[1], wp->dims[2], wp->dims[3]};
    const char *q_ins[] = {e->in, x_scale, x_zero, NULL}, *dq_ins[] = {x_q, x_scale, x_zero, NULL};
    const char *w_ins[] = {w_q, w_scale, w_zero, NULL};
    struct Onnx__AttributeProto *axis0[] = {incept_onnx_put_int(w, "axis", 0), NULL};
    int ok = axis0[0] &&
             incept_onnx_put_initializer(w, x_scale, INCEPT_ONNX_FLOAT, &none, 0, &code.scale, sizeof(float)) &&
             incept_onnx_put_initializer(w, x_zero, INCEPT_ONNX_UINT8, &none, 0, &x_zero_value, 1) &&
             incept_onnx_put_node(w, "QuantizeLinear", x_q, q_ins, x_q, NULL) &&
             incept_onnx_put_node(w, "DequantizeLinear", x_dq, dq_ins, x_dq, NULL) &&
             incept_onnx_put_initializer(w, w_q, INCEPT_ONNX_INT8, w_dims, 4, q, wp->count) &&
             incept_onnx_put_initializer(w, w_scale, INCEPT_ONNX_FLOAT, &per_row, 1, scale, sizeof(float) * (size_t)m) &&
             incept_onnx_put_initializer(w, w_zero, INCEPT_ONNX_INT8, &per_row, 1, zero, (size_t)m) &&
             incept_onnx_put_node(w, "DequantizeLinear", weight, w_ins, weight, axis0);
    if (ok && bias) {
        snprintf(b_q, 1100, "%s_quantized", bias), snprintf(b_scale, 1100, "%s_scale", bias);
        snprintf(b_zero, 1100, "%s_zero_point", bias);
        const char *b_ins[] = {b_q, b_scale, b_zero, NULL};
        struct Onnx__AttributeProto *b_axis[] = {incept_onnx_put_int(w, "axis", 0), NULL};
        ok = b_axis[0] && incept_onnx_put_initializer(w, b_q, INCEPT_ONNX_INT32, &per_row, 1, qbias, 4 * (size_t)m) &&
             incept_onnx_put_initializer(w, b_scale, INCEPT_ONNX_FLOAT, &per_row, 1, b_scales, 4 * (size_t)m) &&
             incept_onnx_put_initializer(w, b_zero, INCEPT_ONNX_INT32, &per_row, 1, zero, 4 * (size_t)m) &&
             incept_onnx_put_node(w, "DequantizeLinear", bias, b_ins, bias, b_axis);
    }
    const char *ins[] = {x_dq, weight, bias, NULL};
    struct Onnx__AttributeProto *attrs[8] = {NULL};
    int a = incept_onnx_put_window(w, &n->attrs, 1, attrs);
    attrs[a] = incept_onnx_put_int(w, "group", 1);
    ok = ok && incept_onnx_put_node(w, "Conv", n->name, ins, e->out, attrs);
    return ok ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* Conv with its weight and bias as initializers (quantized exports: its QDQ form). */
static incept_status conv_to_onnx(const incept_onnx_export *e)
{
    const incept_graph *g = e->g;
    const incept_node *n = e->n;
    const char *ins[] = {e->in, g->params[n->weight].name, n->bias >= 0 ? g->params[n->bias].name : NULL, NULL};
    if (e->int8 && conv_has_int8(&n->attrs)) {
        if (!incept_node_input(g, n, 0)->has_range)
            return incept_fail(INCEPT_ERR_ARG, "%s: node '%s': its input has no range for 8 bits: calibrate "
                               "the model first", e->path, n->name);
        return conv_to_onnx_qdq(e, ins[1], ins[2]);
    }
    struct Onnx__AttributeProto *attrs[8] = {NULL};
    int k = incept_onnx_put_window(e->w, &n->attrs, 1, attrs);
    attrs[k] = incept_onnx_put_int(e->w, "group", n->attrs.groups);
    int ok = incept_onnx_put_param(e->w, g, n->weight) && (n->bias < 0 || incept_onnx_put_param(e->w, g, n->bias)) &&
             incept_onnx_put_node(e->w, "Conv", n->name, ins, e->out, attrs);
    return ok ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* Conv: a 4-D weight initializer, an optional bias; groups, strides, dilations, pads, auto_pad. */
static incept_status conv_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    const incept_value *in = &im->graph->values[x->value];
    const Onnx__TensorProto *w = incept_onnx_constant_input(im, n, 1);
    if (!w || w->n_dims != 4)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                          "the weight must be a 4-D initializer (2-D convolution)");
    incept_attrs a = incept_attrs_default();
    int dims[4];
    if ((st = incept_onnx_tensor_dims(im, n, w, dims, 4)) ||
        (st = incept_onnx_int_attr(im, n, "group", 1, 1, INT32_MAX, &a.groups)))
        return st;
    a.out_channels = dims[0];
    a.kernel_h = dims[2], a.kernel_w = dims[3];
    if ((st = incept_onnx_window_attrs(im, n, in, &a, 0, 2)))
        return st;
    int weight, bias = -1;
    if ((st = incept_onnx_weight_param(im, n, 1, 4, dims, 0, 1.0f, &weight)))
        return st;
    if (incept_onnx_has_input(n, 2) && (st = incept_onnx_weight_param(im, n, 2, 1, dims, 0, 1.0f, &bias)))
        return st;
    return incept_onnx_emit(im, n, "conv", &x->value, 1, &a, weight, bias, 4);
}

const incept_op incept_op_conv = {
    .name = "conv",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = conv_infer,
    .can_stack = conv_can_stack,
    .stacked_forward = conv_stacked_forward,
    .multiply_adds = conv_macs,
    .workspace_floats = conv_workspace,
    .forward = conv_forward,
    .backward_workspace_floats = conv_backward_workspace,
    .backward = conv_backward,
    .label = "convolution",
    .drawing_color = "#dce8fa",
    .describe = conv_describe,
    .to_onnx = conv_to_onnx,
    .onnx_types = {"Conv"},
    .from_onnx = conv_from_onnx,
    .fuses_activation = 1,
    .quantize = conv_quantize,
    .to_bf16 = conv_to_bf16,
};
