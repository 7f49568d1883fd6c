/* maxpool.c — 2-D max pooling with kernel, stride, asymmetric padding and ceil mode (ONNX
 * MaxPool, PyTorch max_pool2d). Padding never wins: windows take the max of real inputs only. */
#include <string.h>
#include <stdlib.h>
#include <stdio.h>

#include <float.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/cpu.h"
#include "core/status.h"
#include "core/window.h"
#include "io/onnx_writer.h"
#include "io/onnx_import.h"
#include "ops/op.h"

/* Shared by the pooling ops: output dims of a window over the input. */
incept_status incept_pool_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w)
{
    const incept_value *in = incept_node_input(g, n, 0);
    const incept_attrs *a = &n->attrs;
    if (a->kernel_h <= 0 || a->kernel_w <= 0 || a->stride_h <= 0 || a->stride_w <= 0)
        return incept_fail(INCEPT_ERR_ARG, "kernel and stride must be positive");
    if (a->pad_top < 0 || a->pad_left < 0 || a->pad_bottom < 0 || a->pad_right < 0)
        return incept_fail(INCEPT_ERR_ARG, "negative padding");
    if (a->pad_top >= a->kernel_h || a->pad_bottom >= a->kernel_h || a->pad_left >= a->kernel_w ||
        a->pad_right >= a->kernel_w)
        return incept_fail(INCEPT_ERR_ARG, "padding must be smaller than the %dx%d window",
                           a->kernel_h, a->kernel_w);
    *c = in->c;
    if ((a->dilation_h != 1 || a->dilation_w != 1) && n->op != &incept_op_maxpool)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "dilation in a pool other than max");
    if (a->dilation_h < 1 || a->dilation_w < 1)
        return incept_fail(INCEPT_ERR_ARG, "dilation must be positive");
    long long oh = incept_window_output(in->h, a->kernel_h, a->stride_h, a->pad_top, a->pad_bottom,
                                        a->dilation_h, a->ceil_mode);
    long long ow = incept_window_output(in->w, a->kernel_w, a->stride_w, a->pad_left, a->pad_right,
                                        a->dilation_w, a->ceil_mode);
    *h = oh > 0 && oh < 1 << 24 ? (int)oh : 0;
    *w = ow > 0 && ow < 1 << 24 ? (int)ow : 0;
    if (*h <= 0 || *w <= 0)
        return incept_fail(INCEPT_ERR_SHAPE, "%dx%d window does not fit the %dx%d input",
                           a->kernel_h, a->kernel_w, in->h, in->w);
    return INCEPT_OK;
}

#define ROW_LIMIT 1024 /* widths up to this take the separable path */
#define PAD_LIMIT 64   /* ... and windows up to this wide */
#define PLANE_LIMIT 4096 /* planes up to 64x64 take the flat stride-1 backward */

/* How much of an output's gradient a tap takes in the backward searches below: all of what is
 * still open (1 until its winner is found, then 0) when the tap's value equals the forward
 * output, else none; a NaN output equals nothing. Arithmetic, not `x == y ? open : 0`: gcc
 * compiled that conditional to a branch a value in the AVX2 clones, and the stride-1 pool
 * branches' backward ran 4.6x slower (128 x 32 x 14x14: 23 against 5.0 ms). A macro, not an
 * inline function: gcc 12 did not inline one into the target_clones loops, which then stayed
 * scalar (26 ms). */
#define TAP_SHARE(x, y, open) ((float)((x) == (y)) * (open))

/* The input index of output (oy, ox)'s window maximum, the first of equal maxima in row-major
 * window order (as PyTorch picks), taps `dilation` apart; -1 if the window holds no input. */
static int window_winner(const float *x, const incept_attrs *a, int in_h, int in_w, int oy, int ox)
{
    int best = -1;
    for (int ky = 0; ky < a->kernel_h; ky++) {
        int iy = oy * a->stride_h - a->pad_top + ky * a->dilation_h;
        if (iy < 0 || iy >= in_h)
            continue;
        for (int kx = 0; kx < a->kernel_w; kx++) {
            int ix = ox * a->stride_w - a->pad_left + kx * a->dilation_w;
            if (ix >= 0 && ix < in_w && (best < 0 || x[iy * in_w + ix] > x[best]))
                best = iy * in_w + ix;
        }
    }
    return best;
}

/* One plane, window by window: any width or dilation. */
static void maxpool_plane_direct(const float *x, float *y, const incept_attrs *a, int in_h, int in_w,
                                 int out_h, int out_w)
{
    for (int oy = 0; oy < out_h; oy++)
        for (int ox = 0; ox < out_w; ox++) {
            int best = window_winner(x, a, in_h, in_w, oy, ox);
            y[oy * out_w + ox] = best >= 0 ? x[best] : -FLT_MAX;
        }
}

/* One plane, separably: the max down each column of the window's rows (vectorized across the
 * row) into a row padded with -FLT_MAX, then across each window of that row (vectorized too when
 * the window is 3 wide, as in every GoogLeNet pool). Max is exact, so the result is the same as
 * the direct loop's. */
INCEPT_VECTOR_CLONES
static void maxpool_plane_separable(const float *x, float *y, const incept_attrs *a, int in_h,
                                    int in_w, int out_h, int out_w)
{
    float padded[ROW_LIMIT + 2 * PAD_LIMIT];
    const int stride = a->stride_w, kernel = a->kernel_w, left = a->pad_left;
    const int span = (out_w - 1) * stride + kernel; /* columns the windows touch, padding included */
    for (int i = 0; i < span; i++)
        padded[i] = -FLT_MAX;
    float *column = padded + left;
    for (int oy = 0; oy < out_h; oy++) {
        int y0 = oy * a->stride_h - a->pad_top, y1 = y0 + a->kernel_h;
        if (y0 < 0) y0 = 0;
        if (y1 > in_h) y1 = in_h;
        const float *first = x + (size_t)y0 * in_w;
        for (int ix = 0; ix < in_w; ix++)
            column[ix] = first[ix];
        for (int iy = y0 + 1; iy < y1; iy++) {
            const float *restrict row = x + (size_t)iy * in_w;
            for (int ix = 0; ix < in_w; ix++)
                column[ix] = row[ix] > column[ix] ? row[ix] : column[ix];
        }
        float *restrict out = y + (size_t)oy * out_w;
        if (kernel == 3 && stride == 1) {
            for (int ox = 0; ox < out_w; ox++) {
                float m = padded[ox] > padded[ox + 1] ? padded[ox] : padded[ox + 1];
                out[ox] = padded[ox + 2] > m ? padded[ox + 2] : m;
            }
        } else if (kernel == 3 && stride == 2) {
            for (int ox = 0; ox < out_w; ox++) {
                const float *w = padded + 2 * ox;
                float m = w[0] > w[1] ? w[0] : w[1];
                out[ox] = w[2] > m ? w[2] : m;
            }
        } else {
            for (int ox = 0; ox < out_w; ox++) {
                const float *w = padded + ox * stride;
                float m = w[0];
                for (int kx = 1; kx < kernel; kx++)
                    m = w[kx] > m ? w[kx] : m;
                out[ox] = m;
            }
        }
    }
}

/* 3x3, stride 1, padding 1 (every Inception module's pool branch) on a plane of at most
 * PLANE_LIMIT values and at least 2x2, in whole-plane passes that vectorize over the plane rather
 * than over rows of 14 or 7: the max of each value with the values above and below, then with
 * those left and right, each row's two ends fixed after (their outer neighbour is another row's).
 * The same maxima as the window loops, ~5x faster on GoogLeNet's 14x14 planes. */
INCEPT_VECTOR_CLONES
static void maxpool_plane_same3(const float *restrict x, float *restrict y, int h, int w)
{
    float v[PLANE_LIMIT];
    const int n = h * w;
    for (int i = 0; i < w; i++)
        v[i] = x[i + w] > x[i] ? x[i + w] : x[i];
    for (int i = w; i < n - w; i++) {
        float m = x[i - w] > x[i] ? x[i - w] : x[i];
        v[i] = x[i + w] > m ? x[i + w] : m;
    }
    for (int i = n - w; i < n; i++)
        v[i] = x[i - w] > x[i] ? x[i - w] : x[i];
    for (int i = 1; i < n - 1; i++) {
        float m = v[i - 1] > v[i] ? v[i - 1] : v[i];
        y[i] = v[i + 1] > m ? v[i + 1] : m;
    }
    for (int r = 0; r < h; r++) {
        int first = r * w, last = first + w - 1;
        y[first] = v[first + 1] > v[first] ? v[first + 1] : v[first];
        y[last] = v[last - 1] > v[last] ? v[last - 1] : v[last];
    }
}

static void maxpool_forward(const incept_op_args *args)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_view *in = &args->inputs[0], *out = &args->output;
    int planes = in->n * in->c;
    int separable = in->w <= ROW_LIMIT && a->kernel_w <= PAD_LIMIT && a->dilation_h == 1 &&
                    a->dilation_w == 1;
    int same3 = a->kernel_h == 3 && a->kernel_w == 3 && a->stride_h == 1 && a->stride_w == 1 &&
                a->pad_top == 1 && a->pad_left == 1 && a->pad_bottom == 1 && a->pad_right == 1 &&
                a->dilation_h == 1 && a->dilation_w == 1 && out->h == in->h && out->w == in->w &&
                in->h >= 2 && in->w >= 2 && in->h * in->w <= PLANE_LIMIT;
#pragma omp parallel for num_threads(args->threads) schedule(static)
    for (int p = 0; p < planes; p++) {
        int s = p / in->c, ch = p % in->c;
        const float *x = in->data + s * in->batch_stride + (size_t)ch * in->h * in->w;
        float *y = out->data + s * out->batch_stride + (size_t)ch * out->h * out->w;
        if (same3)
            maxpool_plane_same3(x, y, in->h, in->w);
        else if (separable)
            maxpool_plane_separable(x, y, a, in->h, in->w, out->h, out->w);
        else
            maxpool_plane_direct(x, y, a, in->h, in->w, out->h, out->w);
    }
}

/* One plane: each output's gradient goes to the input that won its window, the first of equal
 * maxima in row-major window order (as PyTorch picks). The winner is the first tap equal to the
 * forward output; taps are visited in that order for a whole output row at a time, so the
 * loops over the row vectorize. */
INCEPT_VECTOR_CLONES
static void maxpool_plane_backward(const float *x, const float *y, const float *g, float *d,
                                   const incept_attrs *a, int in_h, int in_w, int out_h, int out_w)
{
    float open[ROW_LIMIT]; /* 1 while an output's winner is still to be found */
    for (int oy = 0; oy < out_h; oy++) {
        const float *yr = y + (size_t)oy * out_w, *gr = g + (size_t)oy * out_w;
        for (int ox = 0; ox < out_w; ox++)
            open[ox] = 1.0f;
        for (int ky = 0; ky < a->kernel_h; ky++) {
            int iy = oy * a->stride_h - a->pad_top + ky;
            if (iy < 0 || iy >= in_h)
                continue;
            const float *xr = x + (size_t)iy * in_w;
            float *dr = d + (size_t)iy * in_w;
            for (int kx = 0; kx < a->kernel_w; kx++) {
                /* outputs whose tap (ky, kx) lies inside the row; branch-free so it vectorizes */
                int shift = kx - a->pad_left, lo = 0, hi = out_w;
                while (lo < out_w && lo * a->stride_w + shift < 0)
                    lo++;
                while (hi > lo && (hi - 1) * a->stride_w + shift >= in_w)
                    hi--;
                if (a->stride_w == 1) {
                    float *restrict dd = dr + shift, *restrict op = open;
                    const float *restrict xx = xr + shift, *restrict yy = yr, *restrict gg = gr;
                    for (int ox = lo; ox < hi; ox++) {
                        float win = TAP_SHARE(xx[ox], yy[ox], op[ox]);
                        dd[ox] += win * gg[ox];
                        op[ox] -= win;
                    }
                } else {
                    for (int ox = lo; ox < hi; ox++) {
                        int ix = ox * a->stride_w + shift;
                        float win = TAP_SHARE(xr[ix], yr[ox], open[ox]);
                        dr[ix] += win * gr[ox];
                        open[ox] -= win;
                    }
                }
            }
        }
    }
}

/* One plane, strided windows (GoogLeNet's 3x3/2 pools): the winner of every window is found
 * first, then each output's gradient goes to its winner's input. For each tap the values it
 * reads are gathered into an output-shaped image (-inf where the tap falls in the padding), so
 * the search runs over the whole plane in long vector loops. Strictly greater keeps the first
 * of equal maxima in row-major window order, as the stride-1 path and PyTorch do. */
INCEPT_VECTOR_CLONES
static void maxpool_strided_backward(const float *x, const float *g, float *d, const incept_attrs *a,
                                     int in_h, int in_w, int out_h, int out_w)
{
    const int plane = out_h * out_w, kw = a->kernel_w;
    float tap[PLANE_LIMIT], best[PLANE_LIMIT];
    int winner[PLANE_LIMIT]; /* the winning tap, ky * kw + kx */
    for (int i = 0; i < plane; i++) {
        best[i] = -INFINITY;
        winner[i] = -1;
    }
    for (int ky = 0; ky < a->kernel_h; ky++)
        for (int kx = 0; kx < kw; kx++) {
            for (int oy = 0; oy < out_h; oy++) {
                const int iy = oy * a->stride_h - a->pad_top + ky;
                float *t = tap + oy * out_w;
                for (int ox = 0; ox < out_w; ox++) {
                    const int ix = ox * a->stride_w - a->pad_left + kx;
                    t[ox] = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w
                                ? x[(size_t)iy * in_w + ix] : -INFINITY;
                }
            }
            const int k = ky * kw + kx;
            for (int i = 0; i < plane; i++) {
                const int take = tap[i] > best[i];
                best[i] = take ? tap[i] : best[i];
                winner[i] = take ? k : winner[i];
            }
        }
    for (int oy = 0, i = 0; oy < out_h; oy++)
        for (int ox = 0; ox < out_w; ox++, i++)
            if (winner[i] >= 0) {
                const int iy = oy * a->stride_h - a->pad_top + winner[i] / kw;
                const int ix = ox * a->stride_w - a->pad_left + winner[i] % kw;
                d[(size_t)iy * in_w + ix] += g[i];
            }
}

/* Stride 2 both ways (GoogLeNet's and the Fashion net's 3x3/2 pools): the plane is split into
 * its four phases (even or odd row, even or odd column), each an image of PHASE_LIMIT values or
 * fewer with NaN around it (in the backward workspace, PHASE_BUFFERS images a thread); a tap
 * (ky, kx) of every window then reads one phase at a fixed offset, and the whole plane is one
 * flat loop per tap, unit stride, as the stride-1 path. The outputs are laid out with the
 * phases' row width (columns past out_w hold NaN, equal to nothing), the winner is the first tap
 * equal to the forward output (row-major window order, as PyTorch), and the gradients gathered
 * per phase are added back into the plane at the end. */
#define PHASE_LIMIT 4096
#define PHASE_BUFFERS 11 /* the phases, their gradients, the outputs, their gradients, open */
struct phase_geometry {
    int base_r, base_c; /* where phase row and column 0 of the input sit */
    int rows, cols;     /* each phase image's size; outputs use the same row width */
};

static int phase_geometry(const incept_attrs *a, int in_h, int in_w, int out_h, int out_w,
                          struct phase_geometry *p)
{
    /* measured: 1.6-1.9x faster than maxpool_strided_backward from 14-wide outputs on, slower at
     * 7 (the rows too short for the per-row deinterleaving to pay) */
    if (out_w < 12 || a->stride_h != 2 || a->stride_w != 2 || a->dilation_h != 1 ||
        a->dilation_w != 1 || a->pad_top < 0 || a->pad_left < 0 || a->pad_top >= a->kernel_h ||
        a->pad_left >= a->kernel_w)
        return 0;
    p->base_r = (a->pad_top + 1) / 2, p->base_c = (a->pad_left + 1) / 2;
    /* the furthest tap (kernel - 1 - pad) / 2 past an output, and every input row and column */
    int below = (a->kernel_h - 1 - a->pad_top) / 2, right = (a->kernel_w - 1 - a->pad_left) / 2;
    int rows = out_h + below, cols = out_w + right;
    rows = rows > (in_h + 1) / 2 ? rows : (in_h + 1) / 2;
    cols = cols > (in_w + 1) / 2 ? cols : (in_w + 1) / 2;
    p->rows = p->base_r + rows + 1; /* and a row of NaN the flat loops may read into */
    p->cols = p->base_c + cols + 1;
    return (long)p->rows * p->cols <= PHASE_LIMIT;
}

/* scratch: PHASE_BUFFERS x rows x cols floats. */
INCEPT_VECTOR_CLONES
static void maxpool_phase_backward(const float *restrict x, const float *restrict y,
                                   const float *restrict g, float *restrict d, const incept_attrs *a,
                                   const struct phase_geometry *p, int in_h, int in_w, int out_h,
                                   int out_w, float *scratch)
{
    const int size = p->rows * p->cols, wp = p->cols, flat = out_h * wp;
    float *phase[4], *grad[4];
    for (int k = 0; k < 4; k++)
        phase[k] = scratch + (size_t)k * size, grad[k] = scratch + (size_t)(4 + k) * size;
    float *restrict yp = scratch + (size_t)8 * size, *restrict gp = scratch + (size_t)9 * size,
                    *restrict open = scratch + (size_t)10 * size;
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < size; i++) {
            phase[k][i] = NAN;
            grad[k][i] = 0.0f;
        }
    for (int iy = 0; iy < in_h; iy++) {
        const float *xr = x + (size_t)iy * in_w;
        float *even = phase[(iy & 1) * 2] + (iy / 2 + p->base_r) * wp + p->base_c;
        float *odd = phase[(iy & 1) * 2 + 1] + (iy / 2 + p->base_r) * wp + p->base_c;
        for (int j = 0; 2 * j < in_w; j++)
            even[j] = xr[2 * j];
        for (int j = 0; 2 * j + 1 < in_w; j++)
            odd[j] = xr[2 * j + 1];
    }
    for (int oy = 0; oy < out_h; oy++) {
        float *yr = yp + oy * wp, *gr = gp + oy * wp;
        for (int ox = 0; ox < out_w; ox++) {
            yr[ox] = y[oy * out_w + ox];
            gr[ox] = g[oy * out_w + ox];
        }
        for (int ox = out_w; ox < wp; ox++) {
            yr[ox] = NAN;
            gr[ox] = 0.0f;
        }
    }
    for (int i = 0; i < flat; i++)
        open[i] = 1.0f;
    for (int ky = 0; ky < a->kernel_h; ky++)
        for (int kx = 0; kx < a->kernel_w; kx++) {
            /* input row 2 oy + r: phase r & 1, phase row oy + floor(r / 2); columns alike */
            const int r = ky - a->pad_top, c = kx - a->pad_left;
            const int k = (r & 1) * 2 + (c & 1);
            const int shift = (p->base_r + (r - (r & 1)) / 2) * wp + p->base_c + (c - (c & 1)) / 2;
            const float *restrict src = phase[k] + shift;
            float *restrict dst = grad[k] + shift;
            for (int i = 0; i < flat; i++) {
                float win = TAP_SHARE(src[i], yp[i], open[i]);
                dst[i] += win * gp[i];
                open[i] -= win;
            }
        }
    for (int iy = 0; iy < in_h; iy++) {
        float *dr = d + (size_t)iy * in_w;
        const float *even = grad[(iy & 1) * 2] + (iy / 2 + p->base_r) * wp + p->base_c;
        const float *odd = grad[(iy & 1) * 2 + 1] + (iy / 2 + p->base_r) * wp + p->base_c;
        for (int j = 0; 2 * j < in_w; j++)
            dr[2 * j] += even[j];
        for (int j = 0; 2 * j + 1 < in_w; j++)
            dr[2 * j + 1] += odd[j];
    }
}

/* The same for a stride-1 window with the output as large as the input (the Inception pool
 * branch: 3x3, pad 1): the plane is one flat vector and each tap a fixed offset into it, with
 * `valid` masking the columns a horizontal shift would wrap into. Long loops: they vectorize
 * even on 7x7 and 14x14 planes. */
INCEPT_VECTOR_CLONES
static void maxpool_same_backward(const float *restrict x, const float *restrict y,
                                  const float *restrict g, float *restrict d, float *restrict open,
                                  float *restrict valid, const incept_attrs *a, int h, int w)
{
    const int plane = h * w;
    for (int r = 0, i = 0; r < h; r++)
        for (int c = 0; c < w; c++, i++) {
            open[i] = 1.0f;
            valid[i] = (float)c; /* the column, for the masks below */
        }
    float column_mask[PLANE_LIMIT];
    for (int ky = 0; ky < a->kernel_h; ky++)
        for (int kx = 0; kx < a->kernel_w; kx++) {
            const int dy = ky - a->pad_top, dx = kx - a->pad_left, shift = dy * w + dx;
            const float lo = (float)-dx, hi = (float)(w - dx);
            for (int i = 0; i < plane; i++)
                column_mask[i] = valid[i] >= lo && valid[i] < hi ? 1.0f : 0.0f;
            /* outputs whose tap row lies inside the plane, and whose tap stays inside the array
             * (the first and last columns' shifts would step outside; column_mask drops them) */
            int first = dy < 0 ? -dy * w : 0, last = dy > 0 ? (h - dy) * w : plane;
            if (first < -shift)
                first = -shift;
            if (last > plane - shift)
                last = plane - shift;
            for (int i = first; i < last; i++) {
                float win = TAP_SHARE(x[i + shift], y[i], open[i]) * column_mask[i];
                d[i + shift] += win * g[i];
                open[i] -= win;
            }
        }
}

static void maxpool_backward(const incept_backward_args *args)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_view *in = &args->inputs[0], *out = &args->output, *dy = &args->output_grad;
    const incept_view *dx = &args->input_grads[0];
    if (!dx->data)
        return;
    /* the stride-2 phases need their scratch in the workspace (maxpool_backward_workspace) */
    struct phase_geometry geometry;
    const int phases = args->workspace && phase_geometry(a, in->h, in->w, out->h, out->w, &geometry);
    const size_t per_thread = phases ? (size_t)PHASE_BUFFERS * geometry.rows * geometry.cols : 0;
    int planes = in->n * in->c;
#pragma omp parallel for num_threads(args->threads) schedule(static)
    for (int p = 0; p < planes; p++) {
        int s = p / in->c, ch = p % in->c;
        size_t in_plane = (size_t)ch * in->h * in->w, out_plane = (size_t)ch * out->h * out->w;
        const float *x = in->data + s * in->batch_stride + in_plane;
        float *d = dx->data + s * dx->batch_stride + in_plane;
        const float *y = out->data + s * out->batch_stride + out_plane;
        const float *g = dy->data + s * dy->batch_stride + out_plane;
        const int dilated = a->dilation_h != 1 || a->dilation_w != 1;
        if (!dilated && a->stride_h == 1 && a->stride_w == 1 && out->h == in->h && out->w == in->w &&
            (size_t)in->h * in->w <= PLANE_LIMIT) {
            float open[PLANE_LIMIT], valid[PLANE_LIMIT];
            maxpool_same_backward(x, y, g, d, open, valid, a, in->h, in->w);
            continue;
        }
        if (phases) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            maxpool_phase_backward(x, y, g, d, a, &geometry, in->h, in->w, out->h, out->w,
                                   args->workspace + per_thread * (size_t)t);
            continue;
        }
        if (!dilated && out->w <= ROW_LIMIT && a->stride_w == 1) {
            maxpool_plane_backward(x, y, g, d, a, in->h, in->w, out->h, out->w);
            continue;
        }
        if (!dilated && (size_t)out->h * out->w <= PLANE_LIMIT) {
            maxpool_strided_backward(x, g, d, a, in->h, in->w, out->h, out->w);
            continue;
        }
        for (int oy = 0; oy < out->h; oy++) /* very wide rows or dilated: window by window */
            for (int ox = 0; ox < out->w; ox++) {
                int best = window_winner(x, a, in->h, in->w, oy, ox);
                if (best >= 0)
                    d[best] += g[oy * out->w + ox];
            }
    }
}

/* Scratch for the stride-2 phases, a share per thread; none for the other paths. */
static size_t maxpool_backward_workspace(const incept_graph *g, const incept_node *n,
                                         const incept_run_config *config)
{
    const incept_value *in = incept_node_input(g, n, 0), *out = &g->values[n->output];
    struct phase_geometry p;
    if (!phase_geometry(&n->attrs, in->h, in->w, out->h, out->w, &p))
        return 0;
    return (size_t)(config->threads > 0 ? config->threads : 1) * PHASE_BUFFERS * p.rows * p.cols;
}

/* "3x3 max pool /2" (and avg pool, avgpool.c) as Figure 3 labels a box. */
void incept_pool_describe(const incept_graph *g, const incept_node *n, int drawing, char *buf, size_t size)
{
    (void)g;
    const incept_attrs *a = &n->attrs;
    const char *kind = n->op == &incept_op_maxpool ? "max" : "avg";
    if (drawing)
        snprintf(buf, size, "%dx%d %s pool%s", a->kernel_h, a->kernel_w, kind, a->stride_h > 1 ? " /2" : "");
    else
        snprintf(buf, size, "%s pool", kind);
}

/* MaxPool and AveragePool (avgpool.c): the window, ceil_mode, count_include_pad for the average,
 * dilations for a dilated max. */
incept_status incept_pool_to_onnx(const incept_onnx_export *e)
{
    const incept_attrs *a = &e->n->attrs;
    int max = e->n->op == &incept_op_maxpool;
    const char *ins[] = {e->in, NULL};
    struct Onnx__AttributeProto *attrs[8] = {NULL};
    int k = incept_onnx_put_window(e->w, a, max && (a->dilation_h != 1 || a->dilation_w != 1), attrs);
    attrs[k++] = incept_onnx_put_int(e->w, "ceil_mode", a->ceil_mode);
    if (!max)
        attrs[k++] = incept_onnx_put_int(e->w, "count_include_pad", a->count_include_pad);
    return incept_onnx_put_node(e->w, max ? "MaxPool" : "AveragePool", e->n->name, ins, e->out, attrs)
               ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* MaxPool and AveragePool (avgpool.c): 2-D, or 1-D over [N, C, L]; no Indices output. */
incept_status incept_pool_from_onnx(importer *im, const Onnx__NodeProto *n)
{
    const char *op = strcmp(n->op_type, "MaxPool") == 0 ? "maxpool" : "avgpool";
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    if (n->n_output > 1 && n->output[1][0])
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "the Indices output");
    if (incept_onnx_attr_int(n, "storage_order", 0) != 0)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "storage_order = 1");
    incept_attrs a = incept_attrs_default();
    int dims[3], spatial = 2; /* 1-D pooling of [N, C, L], stored as C, H = L, W = 1 */
    if (x->rank == 3 && incept_onnx_sample_dims(im, x, dims))
        spatial = 1;
    else if (x->rank != 4)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "pooling other than 1-D or 2-D");
    if ((st = incept_onnx_window_attrs(im, n, &im->graph->values[x->value], &a, 1, spatial)))
        return st;
    if ((a.dilation_h != 1 || a.dilation_w != 1) && strcmp(op, "maxpool") != 0)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "dilated average pooling");
    a.ceil_mode = incept_onnx_attr_int(n, "ceil_mode", 0) != 0;
    a.count_include_pad = incept_onnx_attr_int(n, "count_include_pad", 0) != 0; /* ONNX default: 0 */
    return incept_onnx_emit(im, n, op, &x->value, 1, &a, -1, -1, spatial + 2);
}

const incept_op incept_op_maxpool = {
    .name = "maxpool", .min_inputs = 1, .max_inputs = 1,
    .infer = incept_pool_infer, .forward = maxpool_forward,
    .backward = maxpool_backward,
    .backward_workspace_floats = maxpool_backward_workspace,
    .label = "max pool",
    .drawing_color = "#e3f4e1",
    .describe = incept_pool_describe,
    .to_onnx = incept_pool_to_onnx,
    .onnx_types = {"MaxPool"},
    .from_onnx = incept_pool_from_onnx,
};
