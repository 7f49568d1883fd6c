/* im2col.c — unfolding a convolution's input into GEMM panels on the fly ("implicit GEMM").
 *
 * Row k of the im2col matrix is one (channel, ky, kx) tap; column n one output position. The
 * GEMM asks for a block of rows and a range of columns at a time and gets it packed as its
 * micro-kernel reads it, so no K x N column buffer is ever written (for conv1 of GoogLeNet that
 * buffer would be 7 MB) and the input is read while it is in cache. */
#include <string.h>

#include "core/cpu.h"
#include "kernels/bf16.h"
#include "kernels/kernels.h"

static int images_of(const incept_im2col *g) { return g->images > 1 ? g->images : 1; }

/* Values of row (c, ky, kx) for columns [j, j + count), into out. */
static inline void unfold_row(const incept_im2col *g, int c, int ky, int kx, int j, int count, float *out)
{
    const int per_image = g->out_h * g->out_w;
    const float *plane = g->input + (size_t)c * g->in_h * g->in_w +
                         (size_t)(j / per_image) * g->image_stride;
    j %= per_image;
    int oy = j / g->out_w, ox = j % g->out_w;
    while (count > 0) {
        if (oy == g->out_h) { /* on to the next image */
            oy = 0;
            plane += g->image_stride;
        }
        int run = g->out_w - ox < count ? g->out_w - ox : count;
        int iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
        if (iy < 0 || iy >= g->in_h) {
            for (int t = 0; t < run; t++)
                out[t] = 0.0f;
        } else {
            const float *src = plane + (size_t)iy * g->in_w;
            int ix = ox * g->stride_w - g->pad_left + kx * g->dilation_w;
            if (g->stride_w == 1) {
                /* a contiguous stretch of the input row, zeros where it leaves the row */
                int lo = ix < 0 ? -ix : 0, hi = g->in_w - ix;
                if (lo > run)
                    lo = run;
                if (hi > run)
                    hi = run;
                if (hi < lo)
                    hi = lo;
                /* loops, not memcpy: runs are one output row, often 7 or 14 floats */
                for (int t = 0; t < lo; t++)
                    out[t] = 0.0f;
                for (int t = lo; t < hi; t++)
                    out[t] = src[ix + t];
                for (int t = hi; t < run; t++)
                    out[t] = 0.0f;
            } else {
                /* strided: the same split into a zero head, a branch-free middle, a zero tail */
                int sw = g->stride_w, lo = 0, hi = run;
                while (lo < run && ix + lo * sw < 0)
                    lo++;
                while (hi > lo && ix + (hi - 1) * sw >= g->in_w)
                    hi--;
                memset(out, 0, sizeof(float) * lo);
                const float *from = src + ix + lo * sw;
                if (sw == 2) /* a constant stride the compiler vectorizes (conv1 of GoogLeNet) */
                    for (int t = lo; t < hi; t++)
                        out[t] = from[(t - lo) * 2];
                else
                    for (int t = lo; t < hi; t++)
                        out[t] = from[(t - lo) * sw];
                memset(out + hi, 0, sizeof(float) * (run - hi));
            }
        }
        out += run;
        count -= run;
        ox = 0;
        oy++;
    }
}

#define CHUNK 512 /* columns unfolded per call: the GEMM's NC, so one call per row of a block */

INCEPT_VECTOR_CLONES
void incept_im2col_pack(const incept_im2col *g, int k0, int kc, int j0, int j1, int nr, float *dst)
{
    const int taps = g->kernel_h * g->kernel_w;
    float row[CHUNK + 64];
    for (int c0 = j0; c0 < j1; c0 += CHUNK) {
        int count = j1 - c0 < CHUNK ? j1 - c0 : CHUNK;
        int padded = (count + nr - 1) / nr * nr, first_panel = (c0 - j0) / nr;
        for (int kk = 0; kk < kc; kk++) {
            int k = k0 + kk, c = k / taps, tap = k % taps;
            unfold_row(g, c, tap / g->kernel_w, tap % g->kernel_w, c0, count, row);
            for (int t = count; t < padded; t++)
                row[t] = 0.0f;
            float *to = dst + (size_t)first_panel * kc * nr + (size_t)kk * nr;
            const size_t panel = (size_t)kc * nr;
            if (nr == 32) /* the AVX-512 kernel's width: fixed-size copies, inlined */
                for (int q = 0; q * 32 < padded; q++)
                    memcpy(to + q * panel, row + q * 32, sizeof(float) * 32);
            else if (nr == 16) /* AVX2 and portable */
                for (int q = 0; q * 16 < padded; q++)
                    memcpy(to + q * panel, row + q * 16, sizeof(float) * 16);
            else
                for (int q = 0; q * nr < padded; q++)
                    memcpy(to + q * panel, row + q * nr, sizeof(float) * nr);
        }
    }
}

INCEPT_VECTOR_CLONES
void incept_im2col_pack_bf16(const incept_im2col *g, int k0, int kc, int j0, int j1, int nr,
                             uint32_t *dst)
{
    const int taps = g->kernel_h * g->kernel_w, kp = (kc + 1) / 2;
    float even[CHUNK + 64], odd[CHUNK + 64];
    for (int c0 = j0; c0 < j1; c0 += CHUNK) {
        int count = j1 - c0 < CHUNK ? j1 - c0 : CHUNK;
        int padded = (count + nr - 1) / nr * nr, first_panel = (c0 - j0) / nr;
        for (int p = 0; p < kp; p++) {
            for (int half = 0; half < 2; half++) {
                float *row = half ? odd : even;
                int k = k0 + 2 * p + half, c = k / taps, tap = k % taps;
                if (2 * p + half < kc)
                    unfold_row(g, c, tap / g->kernel_w, tap % g->kernel_w, c0, count, row);
                else
                    memset(row, 0, sizeof(float) * count);
                for (int t = count; t < padded; t++)
                    row[t] = 0.0f;
            }
            uint32_t *to = dst + (size_t)first_panel * kp * nr + (size_t)p * nr;
            const size_t panel = (size_t)kp * nr;
            for (int q = 0; q * nr < padded; q++)
                for (int t = 0; t < nr; t++)
                    to[q * panel + t] = incept_bf16_pair(even[q * nr + t], odd[q * nr + t]);
        }
    }
}

void incept_im2col_dense(const incept_im2col *g, float *col)
{
    const int taps = g->kernel_h * g->kernel_w, n = g->out_h * g->out_w * images_of(g);
    for (int k = 0; k < g->channels * taps; k++) {
        int tap = k % taps;
        unfold_row(g, k / taps, tap / g->kernel_w, tap % g->kernel_w, 0, n, col + (size_t)k * n);
    }
}

/* One image's part of the columns (rows n apart) folded back into its planes. */
static void col2im_image(const incept_im2col *g, const float *col, int n, float *image)
{
    const int taps = g->kernel_h * g->kernel_w;
    for (int c = 0; c < g->channels; c++) {
        float *plane = image + (size_t)c * g->in_h * g->in_w;
        for (int tap = 0; tap < taps; tap++) {
            int ky = tap / g->kernel_w, kx = tap % g->kernel_w;
            const float *row = col + ((size_t)c * taps + tap) * n;
            for (int oy = 0; oy < g->out_h; oy++) {
                int iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
                if (iy < 0 || iy >= g->in_h)
                    continue;
                for (int ox = 0; ox < g->out_w; ox++) {
                    int ix = ox * g->stride_w - g->pad_left + kx * g->dilation_w;
                    if (ix >= 0 && ix < g->in_w)
                        plane[(size_t)iy * g->in_w + ix] += row[oy * g->out_w + ox];
                }
            }
        }
    }
}

void incept_col2im_add(const incept_im2col *g, const float *col, float *image)
{
    const int per_image = g->out_h * g->out_w, n = per_image * images_of(g);
    for (int i = 0; i < images_of(g); i++)
        col2im_image(g, col + (size_t)i * per_image, n, image + (size_t)i * g->image_stride);
}
