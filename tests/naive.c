/* naive.c — reference loops for the op tests; see naive.h. Accumulates in double. */
#include "naive.h"

#include <float.h>
#include <stddef.h>
#include <math.h>

int naive_out_size(int in, int k, int s, int pb, int pe, int d, int ceil_mode)
{
    /* window i starts at i*s - pb; floor mode keeps windows inside the padded input, ceil mode
     * also a last one that overhangs the end by less than a stride but starts inside the input */
    int span = d * (k - 1) + 1, count = 0;
    for (int start = -pb; start <= in + pe; start += s) {
        int fits = start + span <= in + pe;
        int partial = ceil_mode && start + span - s < in + pe && start < in;
        if (fits || partial)
            count++;
    }
    return count;
}

void naive_conv(const float *x, int n, int c, int h, int w, const float *weight, const float *bias,
                int m, const naive_window *win, int relu, float *y, int oh, int ow)
{
    int cg = c / win->groups, mg = m / win->groups;
    for (int s = 0; s < n; s++)
        for (int o = 0; o < m; o++) {
            int g = o / mg;
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double acc = bias ? bias[o] : 0.0;
                    for (int ci = 0; ci < cg; ci++)
                        for (int ky = 0; ky < win->kh; ky++)
                            for (int kx = 0; kx < win->kw; kx++) {
                                int iy = oy * win->sh - win->pt + ky * win->dh;
                                int ix = ox * win->sw - win->pl + kx * win->dw;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                    continue;
                                acc += (double)x[((s * c + g * cg + ci) * h + iy) * w + ix] *
                                       weight[((o * cg + ci) * win->kh + ky) * win->kw + kx];
                            }
                    if (relu && acc < 0)
                        acc = 0;
                    y[((s * m + o) * oh + oy) * ow + ox] = (float)acc;
                }
        }
}

void naive_conv_backward(const float *x, int n, int c, int h, int w, const float *weight, int m,
                         const naive_window *win, const float *dy, int oh, int ow, float *dx,
                         float *dweight, float *dbias)
{
    int cg = c / win->groups, mg = m / win->groups;
    for (int s = 0; s < n; s++)
        for (int o = 0; o < m; o++) {
            int g = o / mg;
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    float d = dy[((s * m + o) * oh + oy) * ow + ox];
                    if (dbias)
                        dbias[o] += d;
                    for (int ci = 0; ci < cg; ci++)
                        for (int ky = 0; ky < win->kh; ky++)
                            for (int kx = 0; kx < win->kw; kx++) {
                                int iy = oy * win->sh - win->pt + ky * win->dh;
                                int ix = ox * win->sw - win->pl + kx * win->dw;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                    continue;
                                size_t xi = ((size_t)(s * c + g * cg + ci) * h + iy) * w + ix;
                                size_t wi = ((size_t)(o * cg + ci) * win->kh + ky) * win->kw + kx;
                                dweight[wi] += d * x[xi];
                                if (dx)
                                    dx[xi] += d * weight[wi];
                            }
                }
        }
}

void naive_maxpool(const float *x, int n, int c, int h, int w, const naive_window *win, float *y,
                   int oh, int ow)
{
    for (int p = 0; p < n * c; p++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float best = -FLT_MAX;
                for (int ky = 0; ky < win->kh; ky++)
                    for (int kx = 0; kx < win->kw; kx++) {
                        int iy = oy * win->sh - win->pt + ky * win->dh;
                        int ix = ox * win->sw - win->pl + kx * win->dw;
                        if (iy >= 0 && iy < h && ix >= 0 && ix < w && x[(p * h + iy) * w + ix] > best)
                            best = x[(p * h + iy) * w + ix];
                    }
                y[(p * oh + oy) * ow + ox] = best;
            }
}

void naive_maxpool_backward(const float *x, int n, int c, int h, int w, const naive_window *win,
                            const float *dy, int oh, int ow, float *dx)
{
    for (int p = 0; p < n * c; p++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                int best = -1; /* the first maximum in row-major window order */
                for (int ky = 0; ky < win->kh; ky++)
                    for (int kx = 0; kx < win->kw; kx++) {
                        int iy = oy * win->sh - win->pt + ky * win->dh;
                        int ix = ox * win->sw - win->pl + kx * win->dw;
                        if (iy >= 0 && iy < h && ix >= 0 && ix < w &&
                            (best < 0 || x[(p * h + iy) * w + ix] > x[best]))
                            best = (p * h + iy) * w + ix;
                    }
                if (best >= 0)
                    dx[best] += dy[(p * oh + oy) * ow + ox];
            }
}

void naive_avgpool(const float *x, int n, int c, int h, int w, const naive_window *win,
                   int count_include_pad, float *y, int oh, int ow)
{
    for (int p = 0; p < n * c; p++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                double sum = 0;
                int real = 0, padded = 0;
                for (int ky = 0; ky < win->kh; ky++)
                    for (int kx = 0; kx < win->kw; kx++) {
                        int iy = oy * win->sh - win->pt + ky, ix = ox * win->sw - win->pl + kx;
                        /* positions inside the padded input count with count_include_pad */
                        if (iy < h + win->pb && ix < w + win->pr)
                            padded++;
                        if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
                            sum += x[(p * h + iy) * w + ix];
                            real++;
                        }
                    }
                y[(p * oh + oy) * ow + ox] = (float)(sum / (count_include_pad ? padded : real));
            }
}

void naive_lrn(const float *x, int n, int c, int h, int w, int size, float alpha, float beta,
               float bias, float *y)
{
    for (int s = 0; s < n; s++)
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < h * w; i++) {
                double sq = 0;
                for (int k = ch - (size - 1) / 2; k <= ch + size / 2; k++)
                    if (k >= 0 && k < c) {
                        double v = x[(s * c + k) * h * w + i];
                        sq += v * v;
                    }
                y[(s * c + ch) * h * w + i] =
                    (float)(x[(s * c + ch) * h * w + i] / pow(bias + alpha / size * sq, beta));
            }
}

void naive_fc(const float *x, int n, int k, const float *weight, const float *bias, int m, int relu,
              float *y)
{
    for (int s = 0; s < n; s++)
        for (int o = 0; o < m; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (int i = 0; i < k; i++)
                acc += (double)x[s * k + i] * weight[o * k + i];
            y[s * m + o] = (float)(relu && acc < 0 ? 0 : acc);
        }
}

void naive_softmax(const float *x, int n, int groups, int len, int stride, float *y)
{
    /* n samples, each `groups` softmaxes of `len` values `stride` apart */
    for (int s = 0; s < n; s++)
        for (int g = 0; g < groups; g++) {
            const float *xs = x + (size_t)s * groups * len + g;
            float *ys = y + (size_t)s * groups * len + g;
            double mx = -INFINITY, sum = 0;
            for (int i = 0; i < len; i++)
                mx = xs[i * stride] > mx ? xs[i * stride] : mx;
            for (int i = 0; i < len; i++)
                sum += exp(xs[i * stride] - mx);
            for (int i = 0; i < len; i++)
                ys[i * stride] = (float)(exp(xs[i * stride] - mx) / sum);
        }
}
