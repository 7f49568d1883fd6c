/* window.c — the N-d reference sliding-window ops over any number of spatial axes ([N, C, D1..Dk]):
 * Conv (groups, dilations, auto_pad; an im2col matrix per image and group on the engine's SGEMM),
 * MaxPool (with its Indices output; float32 and uint8), AveragePool, and the global poolings;
 * and their backward (float32), on the same walker. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/window.h"
#include "nd/nd.h"
#include "kernels/kernels.h"

#define MAX_SPATIAL (INCEPT_MAX_RANK - 2)

/* Where a window lies along each spatial axis. */
typedef struct {
    int axes;
    long long in[MAX_SPATIAL], out[MAX_SPATIAL], kernel[MAX_SPATIAL], stride[MAX_SPATIAL];
    long long dilation[MAX_SPATIAL], pad_begin[MAX_SPATIAL], pad_end[MAX_SPATIAL];
    size_t in_size, out_size, kernel_size; /* products over the axes */
} window;

/* Reads kernel (when not given), strides, dilations, pads, auto_pad and ceil_mode. */
static incept_status window_of(const incept_nd_context *ctx, const incept_tensor *x, const long long *kernel,
                               int pooling, window *w)
{
    const Onnx__NodeProto *n = ctx->node;
    int axes = x->rank - 2;
    memset(w, 0, sizeof *w);
    w->axes = axes;
    long long values[2 * MAX_SPATIAL];
    if (axes < 1)
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "input of rank %d (a window needs N, C and a spatial "
                           "axis)", x->rank);
    if (!kernel && incept_nd_attr_ints(n, "kernel_shape", w->kernel, MAX_SPATIAL) != axes)
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "kernel_shape must give %d sizes", axes);
    for (int d = 0; d < axes; d++) {
        w->in[d] = x->dims[d + 2];
        if (kernel)
            w->kernel[d] = kernel[d];
        w->stride[d] = w->dilation[d] = 1;
    }
    int count;
    if ((count = incept_nd_attr_ints(n, "strides", values, MAX_SPATIAL)) && count != axes)
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "strides must give %d values", axes);
    for (int d = 0; d < count; d++)
        w->stride[d] = values[d];
    if ((count = incept_nd_attr_ints(n, "dilations", values, MAX_SPATIAL)) && count != axes)
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "dilations must give %d values", axes);
    for (int d = 0; d < count; d++)
        w->dilation[d] = values[d];
    if ((count = incept_nd_attr_ints(n, "pads", values, 2 * MAX_SPATIAL)) && count != 2 * axes)
        return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "pads must give %d values", 2 * axes);
    for (int d = 0; d < count / 2; d++)
        w->pad_begin[d] = values[d], w->pad_end[d] = values[axes + d];
    int ceil_mode = pooling && incept_onnx_attr_int(n, "ceil_mode", 0) != 0;
    int same_upper = incept_onnx_attr_string_is(n, "auto_pad", "NOTSET", "SAME_UPPER");
    int same_lower = incept_onnx_attr_string_is(n, "auto_pad", "NOTSET", "SAME_LOWER");
    int valid = incept_onnx_attr_string_is(n, "auto_pad", "NOTSET", "VALID");
    if (!same_upper && !same_lower && !valid &&
        !incept_onnx_attr_string_is(n, "auto_pad", "NOTSET", "NOTSET"))
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "an unknown auto_pad");
    w->in_size = w->out_size = w->kernel_size = 1;
    for (int d = 0; d < axes; d++) {
        if (w->kernel[d] < 1 || w->stride[d] < 1 || w->dilation[d] < 1 || w->pad_begin[d] < 0 ||
            w->pad_end[d] < 0)
            return incept_nd_fail(ctx, INCEPT_ERR_FORMAT, "a kernel, stride, dilation or pad out of range "
                               "on spatial axis %d", d);
        if (same_upper || same_lower)
            incept_window_same_pads(w->in[d], w->kernel[d], w->stride[d], w->dilation[d], same_upper,
                                    &w->pad_begin[d], &w->pad_end[d]);
        else if (valid)
            w->pad_begin[d] = w->pad_end[d] = 0;
        w->out[d] = incept_window_output(w->in[d], w->kernel[d], w->stride[d], w->pad_begin[d],
                                         w->pad_end[d], w->dilation[d], ceil_mode && !same_upper &&
                                         !same_lower);
        if (w->out[d] <= 0)
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "a window of %lld taps %lld apart over %lld "
                                  "entries (padding %lld and %lld) on spatial axis %d", w->kernel[d],
                                  w->dilation[d], w->in[d], w->pad_begin[d], w->pad_end[d], d);
        w->in_size *= (size_t)w->in[d];
        w->out_size *= (size_t)w->out[d];
        w->kernel_size *= (size_t)w->kernel[d];
    }
    return INCEPT_OK;
}

/* The output array [N, channels, out...]. */
static incept_status window_output(const incept_nd_context *ctx, const incept_tensor *x, long long channels,
                                   const window *w, incept_tensor *out)
{
    long long dims[INCEPT_MAX_RANK] = {x->dims[0], channels};
    for (int d = 0; d < w->axes; d++)
        dims[d + 2] = w->out[d];
    return incept_nd_array_alloc(ctx, out, INCEPT_FLOAT32, x->rank, dims);
}

/* The kernel offsets of tap t along each axis. */
static void tap_offsets(const window *w, size_t t, long long *tap)
{
    for (int d = w->axes - 1; d >= 0; d--) {
        tap[d] = (long long)(t % (size_t)w->kernel[d]);
        t /= (size_t)w->kernel[d];
    }
}

/* The output position o's coordinates. */
static void position(const window *w, size_t o, long long *at)
{
    for (int d = w->axes - 1; d >= 0; d--) {
        at[d] = (long long)(o % (size_t)w->out[d]);
        o /= (size_t)w->out[d];
    }
}

/* The input offset read by output position `at` through tap `tap`, -1 in the padding; *inside
 * says whether it lies within the padded extent (for count_include_pad). */
static long long source(const window *w, const long long *at, const long long *tap, int *inside)
{
    long long offset = 0;
    *inside = 1;
    for (int d = 0; d < w->axes; d++) {
        long long p = at[d] * w->stride[d] - w->pad_begin[d] + tap[d] * w->dilation[d];
        if (p < -w->pad_begin[d] || p >= w->in[d] + w->pad_end[d])
            *inside = 0;
        if (p < 0 || p >= w->in[d])
            offset = -1;
        else if (offset >= 0)
            offset = offset * w->in[d] + p;
    }
    return offset;
}

INCEPT_ND_OP(conv)
{
    (void)n_out;
    incept_status st;
    if ((st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 3, 0)) ||
        (st = incept_nd_expect(ctx, in, n_in, 1, INCEPT_FLOAT32, in[0]->rank, in[0]->rank)))
        return st;
    const incept_tensor *x = in[0], *weight = in[1], *bias = n_in > 2 ? in[2] : NULL;
    long long groups = incept_onnx_attr_int(ctx->node, "group", 1), channels = x->dims[1];
    long long filters = weight->dims[0], group_in = weight->dims[1];
    if (groups < 1 || channels != group_in * groups || filters % groups)
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "%lld input channels, weights of %lld x %lld, %lld "
                           "groups", channels, filters, group_in, groups);
    if (bias && ((st = incept_nd_expect(ctx, in, n_in, 2, INCEPT_FLOAT32, 1, 1)) || bias->dims[0] != filters))
        return st ? st : incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "a bias of %lld for %lld filters",
                                     bias->dims[0], filters);
    long long kernel_attr[MAX_SPATIAL];
    int given = incept_nd_attr_ints(ctx->node, "kernel_shape", kernel_attr, MAX_SPATIAL);
    for (int d = 0; d < given && d < x->rank - 2; d++)
        if (kernel_attr[d] != weight->dims[d + 2])
            return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "kernel_shape disagrees with the weights");
    window w;
    if ((st = window_of(ctx, x, weight->dims + 2, 0, &w)) || (st = window_output(ctx, x, filters, &w, out)))
        return st;
    size_t rows = (size_t)group_in * w.kernel_size, cols = w.out_size;
    long long group_out = filters / groups;
    if (rows > INT32_MAX || cols > INT32_MAX)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "an im2col matrix of %zu x %zu", rows, cols);
    float *col = incept_alloc_floats(rows * cols + 1);
    float *workspace = incept_alloc_floats(incept_gemm_workspace((int)group_out, (int)cols, (int)rows,
                                                                 ctx->threads) + 1);
    if (!col || !workspace) {
        free(col), free(workspace);
        return incept_nd_fail(ctx, INCEPT_ERR_NOMEM, "out of memory for an im2col matrix of %zu x %zu", rows,
                           cols);
    }
    const float *xs = x->data, *ws = weight->data, *bs = bias ? bias->data : NULL;
    float *y = out->data;
    long long tap[MAX_SPATIAL], at[MAX_SPATIAL];
    for (long long n = 0; n < x->dims[0]; n++)
        for (long long g = 0; g < groups; g++) {
            const float *image = xs + ((size_t)n * (size_t)channels + (size_t)(g * group_in)) * w.in_size;
            for (size_t r = 0; r < rows; r++) { /* row (c, tap), column output position */
                tap_offsets(&w, r % w.kernel_size, tap);
                const float *plane = image + r / w.kernel_size * w.in_size;
                for (size_t o = 0; o < cols; o++) {
                    int inside;
                    position(&w, o, at);
                    long long s = source(&w, at, tap, &inside);
                    col[r * cols + o] = s < 0 ? 0.0f : plane[s];
                }
            }
            float *dst = y + ((size_t)n * (size_t)filters + (size_t)(g * group_out)) * cols;
            incept_gemm(ctx->threads, (int)group_out, (int)cols, (int)rows,
                        ws + (size_t)(g * group_out) * rows, (int)rows, col, (int)cols, dst, (int)cols,
                        bs ? bs + g * group_out : NULL, 0, workspace);
        }
    free(col);
    free(workspace);
    return INCEPT_OK;
}

/* Per image and group, with col the forward's im2col matrix [rows, cols] and G the group's dY
 * [group_out, cols]: dW += G col^T, dcol = W^T G folded back into dX (each tap adds into the
 * entry it read), dB += G's row sums. */
INCEPT_ND_GRAD(conv)
{
    incept_status st = incept_nd_grad_expect(ctx, in, n_in, out, n_out, dout, din);
    if (st || n_in < 2 || n_out < 1 || !dout[0])
        return st;
    const incept_tensor *x = in[0], *weight = in[1];
    float *dx = din[0] ? din[0]->data : NULL, *dw = din[1] ? din[1]->data : NULL;
    float *db = n_in > 2 && in[2] && din[2] ? din[2]->data : NULL;
    long long groups = incept_onnx_attr_int(ctx->node, "group", 1), channels = x->dims[1];
    if (x->rank < 3 || weight->rank != x->rank || groups < 1 || channels != weight->dims[1] * groups ||
        weight->dims[0] % groups || out[0].dims[1] != weight->dims[0])
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "the input, weights and output do not match");
    window w;
    if ((st = window_of(ctx, x, weight->dims + 2, 0, &w)))
        return st;
    long long filters = weight->dims[0], group_in = weight->dims[1], group_out = filters / groups;
    size_t rows = (size_t)group_in * w.kernel_size, cols = w.out_size;
    if (incept_tensor_count(dout[0]) != (size_t)x->dims[0] * (size_t)filters * cols)
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "the output's gradient does not match the window");
    const float *g = dout[0]->data;
    for (long long n = 0; db && n < x->dims[0]; n++)
        for (long long f = 0; f < filters; f++) {
            double sum = 0.0;
            for (size_t o = 0; o < cols; o++)
                sum += g[((size_t)n * (size_t)filters + (size_t)f) * cols + o];
            db[f] += (float)sum;
        }
    if ((!dx && !dw) || !rows || !cols || !group_out)
        return INCEPT_OK;
    if (rows > INT32_MAX || cols > INT32_MAX)
        return incept_nd_fail(ctx, INCEPT_ERR_UNSUPPORTED, "an im2col matrix of %zu x %zu", rows, cols);
    float *col = incept_alloc_floats(rows * cols + 1);
    float *wt = incept_alloc_floats(rows * (size_t)group_out + 1);
    float *workspace = incept_alloc_floats(incept_gemm_workspace((int)rows, (int)cols, (int)group_out,
                                                                 ctx->threads) + 1);
    if (!col || !wt || !workspace) {
        free(col), free(wt), free(workspace);
        return incept_nd_fail(ctx, INCEPT_ERR_NOMEM, "out of memory for an im2col matrix of %zu x %zu", rows,
                              cols);
    }
    const float *xs = x->data, *ws = weight->data;
    long long tap[MAX_SPATIAL], at[MAX_SPATIAL];
    for (long long n = 0; n < x->dims[0]; n++)
        for (long long g_i = 0; g_i < groups; g_i++) {
            size_t image_at = ((size_t)n * (size_t)channels + (size_t)(g_i * group_in)) * w.in_size;
            const float *gy = g + ((size_t)n * (size_t)filters + (size_t)(g_i * group_out)) * cols;
            const float *wg = ws + (size_t)(g_i * group_out) * rows;
            if (dw) { /* dW[group_out, rows] += G col^T, col as the transposed B */
                for (size_t r = 0; r < rows; r++) {
                    tap_offsets(&w, r % w.kernel_size, tap);
                    const float *plane = xs + image_at + r / w.kernel_size * w.in_size;
                    for (size_t o = 0; o < cols; o++) {
                        int inside;
                        position(&w, o, at);
                        long long s = source(&w, at, tap, &inside);
                        col[r * cols + o] = s < 0 ? 0.0f : plane[s];
                    }
                }
                incept_gemm_accumulate(ctx->threads, (int)group_out, (int)rows, (int)cols, gy, (int)cols, col,
                                       (int)cols, 1, dw + (size_t)(g_i * group_out) * rows, (int)rows,
                                       workspace);
            }
            if (!dx)
                continue;
            for (long long f = 0; f < group_out; f++) /* W^T [rows, group_out] */
                for (size_t r = 0; r < rows; r++)
                    wt[r * (size_t)group_out + (size_t)f] = wg[(size_t)f * rows + r];
            incept_gemm(ctx->threads, (int)rows, (int)cols, (int)group_out, wt, (int)group_out, gy, (int)cols,
                        col, (int)cols, NULL, 0, workspace);
            for (size_t r = 0; r < rows; r++) {
                tap_offsets(&w, r % w.kernel_size, tap);
                float *plane = dx + image_at + r / w.kernel_size * w.in_size;
                for (size_t o = 0; o < cols; o++) {
                    int inside;
                    position(&w, o, at);
                    long long s = source(&w, at, tap, &inside);
                    if (s >= 0)
                        plane[s] += col[r * cols + o];
                }
            }
        }
    free(col);
    free(wt);
    free(workspace);
    return INCEPT_OK;
}

/* MaxPool (maximum, first of equals; its index into the flattened input, row-major or, with
 * storage_order 1, column-major within the plane) or AveragePool. */
static incept_status pool(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                          incept_tensor *out, int n_out, int max)
{
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 3, 0);
    window w;
    if (st || (st = window_of(ctx, in[0], NULL, 1, &w)) ||
        (st = window_output(ctx, in[0], in[0]->dims[1], &w, &out[0])))
        return st;
    long long *indices = NULL;
    if (max && n_out > 1) {
        if ((st = incept_nd_array_alloc(ctx, &out[1], INCEPT_INT64, out[0].rank, out[0].dims)))
            return st;
        indices = out[1].data;
    }
    int include_pad = incept_onnx_attr_int(ctx->node, "count_include_pad", 0) != 0;
    int column_major = incept_onnx_attr_int(ctx->node, "storage_order", 0) != 0;
    size_t planes = (size_t)(in[0]->dims[0] * in[0]->dims[1]);
    const float *x = in[0]->data;
    float *y = out[0].data;
    long long tap[MAX_SPATIAL], at[MAX_SPATIAL];
    for (size_t p = 0; p < planes; p++)
        for (size_t o = 0; o < w.out_size; o++) {
            position(&w, o, at);
            float best = -FLT_MAX, sum = 0.0f;
            long long best_at = -1, counted = 0;
            for (size_t t = 0; t < w.kernel_size; t++) {
                int inside;
                tap_offsets(&w, t, tap);
                long long s = source(&w, at, tap, &inside);
                counted += s >= 0 || (include_pad && inside);
                if (s < 0)
                    continue;
                float v = x[p * w.in_size + (size_t)s];
                sum += v;
                if (v > best || best_at < 0)
                    best = v, best_at = s;
            }
            y[p * w.out_size + o] = max ? best : counted ? sum / (float)counted : 0.0f;
            if (indices && column_major && best_at >= 0) {
                long long row_major = best_at, column = 0, scale = 1;
                for (int d = w.axes - 1; d >= 0; d--) /* coordinates, last axis first */
                    at[d] = row_major % w.in[d], row_major /= w.in[d];
                for (int d = 0; d < w.axes; d++)
                    column += at[d] * scale, scale *= w.in[d];
                best_at = column;
            }
            if (indices)
                indices[p * w.out_size + o] = (long long)(p * w.in_size) + best_at;
        }
    return INCEPT_OK;
}

/* uint8 data is pooled as floats (exact for its values) and the result brought back. */
INCEPT_ND_OP(maxpool)
{
    if (n_in < 1 || !in[0] || in[0]->dtype != INCEPT_UINT8)
        return pool(ctx, in, n_in, out, n_out, 1);
    incept_tensor wide = {0}, pooled = {0};
    const incept_tensor *wide_in[1] = {&wide};
    incept_status st = incept_nd_array_alloc(ctx, &wide, INCEPT_FLOAT32, in[0]->rank, in[0]->dims);
    size_t n = incept_tensor_count(in[0]);
    for (size_t i = 0; !st && i < n; i++)
        ((float *)wide.data)[i] = ((const unsigned char *)in[0]->data)[i];
    if (!st && !(st = pool(ctx, wide_in, 1, out, n_out, 1)))
        st = incept_nd_array_alloc(ctx, &pooled, INCEPT_UINT8, out[0].rank, out[0].dims);
    for (size_t i = 0, m = st ? 0 : incept_tensor_count(&pooled); i < m; i++)
        ((unsigned char *)pooled.data)[i] = (unsigned char)((const float *)out[0].data)[i];
    incept_tensor_free(&wide);
    incept_tensor_free(&out[0]);
    out[0] = pooled;
    return st;
}

INCEPT_ND_OP(averagepool)
{
    return pool(ctx, in, n_in, out, n_out, 0);
}

/* The pools' backward, walking the windows as pool() does: MaxPool's gradient to the entry it
 * picked (the first of equals; none for a window wholly in the padding), AveragePool's shared
 * among the entries it counted (the padding's share, with count_include_pad, is lost). */
static incept_status pool_grad(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                               const incept_tensor *out, int n_out, const incept_tensor *const *dout,
                               incept_tensor *const *din, int max)
{
    incept_status st = incept_nd_grad_expect(ctx, in, n_in, out, n_out < 1 ? n_out : 1, dout, din);
    window w;
    if (st || n_in < 1 || n_out < 1 || !din[0] || !dout[0])
        return st;
    if ((st = window_of(ctx, in[0], NULL, 1, &w)))
        return st;
    size_t planes = (size_t)(in[0]->dims[0] * in[0]->dims[1]);
    if (incept_tensor_count(dout[0]) != planes * w.out_size)
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "the output's gradient does not match the window");
    int include_pad = incept_onnx_attr_int(ctx->node, "count_include_pad", 0) != 0;
    const float *x = in[0]->data, *g = dout[0]->data;
    float *dx = din[0]->data;
    long long tap[MAX_SPATIAL], at[MAX_SPATIAL];
    for (size_t p = 0; p < planes; p++)
        for (size_t o = 0; o < w.out_size; o++) {
            position(&w, o, at);
            float best = -FLT_MAX, share = 0.0f;
            long long best_at = -1, counted = 0;
            for (size_t t = 0; t < w.kernel_size && !max; t++) {
                int inside;
                tap_offsets(&w, t, tap);
                long long s = source(&w, at, tap, &inside);
                counted += s >= 0 || (include_pad && inside);
            }
            if (!max && counted)
                share = g[p * w.out_size + o] / (float)counted;
            for (size_t t = 0; t < w.kernel_size; t++) {
                int inside;
                tap_offsets(&w, t, tap);
                long long s = source(&w, at, tap, &inside);
                if (s < 0)
                    continue;
                float v = x[p * w.in_size + (size_t)s];
                if (!max)
                    dx[p * w.in_size + (size_t)s] += share;
                else if (v > best || best_at < 0)
                    best = v, best_at = s;
            }
            if (max && best_at >= 0)
                dx[p * w.in_size + (size_t)best_at] += g[p * w.out_size + o];
        }
    return INCEPT_OK;
}

/* Its Indices output (int64) carries no gradient. */
INCEPT_ND_GRAD(maxpool)
{
    return pool_grad(ctx, in, n_in, out, n_out, dout, din, 1);
}

INCEPT_ND_GRAD(averagepool)
{
    return pool_grad(ctx, in, n_in, out, n_out, dout, din, 0);
}

static incept_status global_pool(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                                 incept_tensor *out, int max)
{
    incept_status st = incept_nd_expect(ctx, in, n_in, 0, INCEPT_FLOAT32, 2, 0);
    if (st)
        return st;
    long long dims[INCEPT_MAX_RANK];
    for (int d = 0; d < in[0]->rank; d++)
        dims[d] = d < 2 ? in[0]->dims[d] : 1;
    if ((st = incept_nd_array_alloc(ctx, out, INCEPT_FLOAT32, in[0]->rank, dims)))
        return st;
    size_t planes = incept_nd_span(in[0], 0, 2), size = incept_nd_span(in[0], 2, in[0]->rank);
    const float *x = in[0]->data;
    float *y = out->data;
    for (size_t p = 0; p < planes; p++) {
        double acc = max ? -FLT_MAX : 0.0;
        for (size_t i = 0; i < size; i++)
            acc = max ? (x[p * size + i] > acc ? x[p * size + i] : acc) : acc + x[p * size + i];
        y[p] = (float)(max || !size ? acc : acc / (double)size);
    }
    return INCEPT_OK;
}

INCEPT_ND_OP(globalaveragepool)
{
    (void)n_out;
    return global_pool(ctx, in, n_in, out, 0);
}

INCEPT_ND_OP(globalmaxpool)
{
    (void)n_out;
    return global_pool(ctx, in, n_in, out, 1);
}

/* GlobalAveragePool shares each plane's gradient among its entries; GlobalMaxPool gives it to
 * the entry the forward kept (the first of equals). */
static incept_status global_pool_grad(const incept_nd_context *ctx, const incept_tensor *const *in, int n_in,
                                      const incept_tensor *out, int n_out, const incept_tensor *const *dout,
                                      incept_tensor *const *din, int max)
{
    incept_status st = incept_nd_grad_expect(ctx, in, n_in, out, n_out, dout, din);
    if (st || n_in < 1 || n_out < 1 || !din[0] || !dout[0])
        return st;
    if (in[0]->rank < 2)
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "input of rank %d", in[0]->rank);
    size_t planes = incept_nd_span(in[0], 0, 2), size = incept_nd_span(in[0], 2, in[0]->rank);
    if (incept_tensor_count(dout[0]) != planes)
        return incept_nd_fail(ctx, INCEPT_ERR_SHAPE, "the output's gradient does not match the input");
    const float *x = in[0]->data, *g = dout[0]->data;
    float *dx = din[0]->data;
    for (size_t p = 0; p < planes && size; p++) {
        if (!max) {
            float share = (float)(g[p] / (double)size);
            for (size_t i = 0; i < size; i++)
                dx[p * size + i] += share;
            continue;
        }
        double best = -FLT_MAX;
        size_t best_at = size;
        for (size_t i = 0; i < size; i++)
            if (x[p * size + i] > best)
                best = x[p * size + i], best_at = i;
        if (best_at < size)
            dx[p * size + best_at] += g[p];
    }
    return INCEPT_OK;
}

INCEPT_ND_GRAD(globalaveragepool)
{
    return global_pool_grad(ctx, in, n_in, out, n_out, dout, din, 0);
}

INCEPT_ND_GRAD(globalmaxpool)
{
    return global_pool_grad(ctx, in, n_in, out, n_out, dout, din, 1);
}
