/* winograd.c — 3x3 stride-1 convolution by Winograd's minimal filtering, F(4x4, 3x3)
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015).
 *
 * Each 4x4 output tile comes from a 6x6 input patch d and the 3x3 filter g as
 *     Y = A^T [ (G g G^T) .* (B^T d B) ] A
 * so the 144 multiplies of direct convolution become 36, done as 36 independent GEMMs (one per
 * position xi of the 6x6 transformed tile) over all channels and tiles:
 *     M[xi] (out_c x tiles) = U[xi] (out_c x in_c) * V[xi] (in_c x tiles).
 * The transforms work on LANES tiles (or input channels) at once, so each formula is a loop the
 * compiler vectorizes and each write is a contiguous run. Tiles are processed in blocks so the
 * scratch stays bounded at any batch size. Interpolation points: 0, +-1, +-2 and infinity. */
#include <string.h>

#include "kernels/kernels.h"

#define TILE 4      /* output tile */
#define PATCH 6     /* input patch = TILE + 3 - 1 */
#define POSITIONS 36
#define TILE_BLOCK 256
#define LANES 16

typedef float lanes[LANES];

/* r[i] = (B^T d)[i] for six vectors d[0..5] (stride is between them), r with stride os. */
static inline void input_transform(const lanes *d, int is, lanes *r, int os)
{
    for (int l = 0; l < LANES; l++) {
        float d0 = d[0][l], d1 = d[is][l], d2 = d[2 * is][l], d3 = d[3 * is][l];
        float d4 = d[4 * is][l], d5 = d[5 * is][l];
        r[0][l] = 4.0f * d0 - 5.0f * d2 + d4;
        r[os][l] = -4.0f * d1 - 4.0f * d2 + d3 + d4;
        r[2 * os][l] = 4.0f * d1 - 4.0f * d2 - d3 + d4;
        r[3 * os][l] = -2.0f * d1 - d2 + 2.0f * d3 + d4;
        r[4 * os][l] = 2.0f * d1 - d2 - 2.0f * d3 + d4;
        r[5 * os][l] = 4.0f * d1 - 5.0f * d3 + d5;
    }
}

/* r = G g for three vectors g[0..2]. */
static inline void filter_transform(const lanes *g, int is, lanes *r, int os)
{
    for (int l = 0; l < LANES; l++) {
        float g0 = g[0][l], g1 = g[is][l], g2 = g[2 * is][l];
        r[0][l] = 0.25f * g0;
        r[os][l] = -(g0 + g1 + g2) / 6.0f;
        r[2 * os][l] = -(g0 - g1 + g2) / 6.0f;
        r[3 * os][l] = g0 / 24.0f + g1 / 12.0f + g2 / 6.0f;
        r[4 * os][l] = g0 / 24.0f - g1 / 12.0f + g2 / 6.0f;
        r[5 * os][l] = g2;
    }
}

/* r = A^T m for six vectors m[0..5], four results. */
static inline void output_transform(const lanes *m, int is, lanes *r, int os)
{
    for (int l = 0; l < LANES; l++) {
        float m0 = m[0][l], m1 = m[is][l], m2 = m[2 * is][l], m3 = m[3 * is][l];
        float m4 = m[4 * is][l], m5 = m[5 * is][l];
        r[0][l] = m0 + m1 + m2 + m3 + m4;
        r[os][l] = m1 - m2 + 2.0f * (m3 - m4);
        r[2 * os][l] = m1 + m2 + 4.0f * (m3 + m4);
        r[3 * os][l] = m1 - m2 + 8.0f * (m3 - m4) + m5;
    }
}

static size_t tile_block(int tiles) { return tiles < TILE_BLOCK ? (size_t)tiles : TILE_BLOCK; }

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

size_t incept_winograd_workspace(int in_c, int out_c, int batch, int out_h, int out_w, int threads)
{
    (void)threads;
    int tiles = batch * ((out_h + TILE - 1) / TILE) * ((out_w + TILE - 1) / TILE), mr, nr;
    size_t block = tile_block(tiles);
    incept_gemm_tile(&mr, &nr);
    return (size_t)POSITIONS * round_up((size_t)out_c, (size_t)mr) * in_c  /* U, packed */
           + (size_t)POSITIONS * in_c * round_up(block, (size_t)nr)        /* V, packed */
           + (size_t)POSITIONS * out_c * block;                           /* M */
}

/* U[xi] for output channel o and LANES input channels from c0, written straight into the GEMM's
 * packed-A layout (panels of mr output channels, each input channel a step of mr values).
 * Output channels past out_c are the panel's zero padding. */
static void transform_filters(const float *weight, int in_c, int out_c, int o, int c0, int mr,
                              float *u, size_t u_stride)
{
    lanes g[9], tmp[PATCH * 3], t[POSITIONS];
    int count = in_c - c0 < LANES ? in_c - c0 : LANES;
    for (int k = 0; k < 9; k++)
        for (int l = 0; l < LANES; l++)
            g[k][l] = l < count && o < out_c ? weight[((size_t)o * in_c + c0 + l) * 9 + k] : 0.0f;
    for (int j = 0; j < 3; j++)
        filter_transform(g + j, 3, tmp + j, 3);
    for (int i = 0; i < PATCH; i++)
        filter_transform(tmp + i * 3, 1, t + i * PATCH, 1);
    float *dst = u + (size_t)(o / mr) * mr * in_c + (size_t)c0 * mr + o % mr;
    for (int xi = 0; xi < POSITIONS; xi++)
        for (int l = 0; l < count; l++)
            dst[xi * u_stride + (size_t)l * mr] = t[xi][l];
}

typedef struct {
    const float *input;
    size_t in_batch_stride;
    int in_c, in_h, in_w, pad_top, pad_left;
    int tiles_w, per_sample;
} input_geometry;

/* V[xi] for channel c and LANES tiles from t0 (of `count` in the block), written straight into
 * the GEMM's packed-B layout (panels of nr tiles, each channel a step of nr values); lanes past
 * `count` are zeros that pad the last panel. */
static void transform_inputs(const input_geometry *ig, int c, int first, int t0, int count, int nr,
                             float *v, size_t v_stride)
{
    lanes d[POSITIONS], tmp[POSITIONS], tr[POSITIONS];
    int n = count - t0 < LANES ? count - t0 : LANES;
    for (int l = 0; l < LANES; l++) {
        if (l >= n) {
            for (int k = 0; k < POSITIONS; k++)
                d[k][l] = 0.0f;
            continue;
        }
        int tile = first + t0 + l, s = tile / ig->per_sample, r = tile % ig->per_sample;
        int y0 = (r / ig->tiles_w) * TILE - ig->pad_top, x0 = (r % ig->tiles_w) * TILE - ig->pad_left;
        const float *plane = ig->input + s * ig->in_batch_stride + (size_t)c * ig->in_h * ig->in_w;
        int inside = y0 >= 0 && x0 >= 0 && y0 + PATCH <= ig->in_h && x0 + PATCH <= ig->in_w;
        for (int i = 0; i < PATCH; i++) {
            int y = y0 + i;
            for (int j = 0; j < PATCH; j++) {
                int x = x0 + j;
                d[i * PATCH + j][l] = (inside || (y >= 0 && y < ig->in_h && x >= 0 && x < ig->in_w))
                                          ? plane[(size_t)y * ig->in_w + x] : 0.0f;
            }
        }
    }
    for (int j = 0; j < PATCH; j++)
        input_transform(d + j, PATCH, tmp + j, PATCH);
    for (int i = 0; i < PATCH; i++)
        input_transform(tmp + i * PATCH, 1, tr + i * PATCH, 1);
    float *dst = v + (size_t)(t0 / nr) * nr * ig->in_c + (size_t)c * nr + t0 % nr;
    for (int xi = 0; xi < POSITIONS; xi++)
        memcpy(dst + xi * v_stride, tr[xi], sizeof(tr[xi]));
}

typedef struct {
    float *output;
    size_t out_batch_stride;
    int out_h, out_w, tiles_w, per_sample, relu;
    const float *bias;
} output_geometry;

/* Y = A^T m A (+ bias, ReLU) for LANES tiles of output channel o, written into the output. */
static void transform_outputs(const output_geometry *og, int o, int first, int t0, int count,
                              const float *mm, size_t m_stride, int block)
{
    lanes m[POSITIONS], tmp[PATCH * TILE], y[TILE * TILE];
    int n = count - t0 < LANES ? count - t0 : LANES;
    const float *src = mm + (size_t)o * block + t0;
    for (int xi = 0; xi < POSITIONS; xi++) {
        if (n == LANES) {
            memcpy(m[xi], src + xi * m_stride, sizeof m[xi]);
        } else {
            for (int l = 0; l < LANES; l++)
                m[xi][l] = l < n ? src[xi * m_stride + l] : 0.0f;
        }
    }
    for (int j = 0; j < PATCH; j++)
        output_transform(m + j, PATCH, tmp + j, PATCH);
    for (int i = 0; i < TILE; i++)
        output_transform(tmp + i * PATCH, 1, y + i * TILE, 1);
    const float b = og->bias ? og->bias[o] : 0.0f;
    if (og->relu) {
        for (int k = 0; k < TILE * TILE; k++)
            for (int l = 0; l < LANES; l++) {
                float v = y[k][l] + b;
                y[k][l] = v > 0.0f ? v : 0.0f;
            }
    } else {
        for (int k = 0; k < TILE * TILE; k++)
            for (int l = 0; l < LANES; l++)
                y[k][l] += b;
    }
    for (int l = 0; l < n; l++) {
        int tile = first + t0 + l, s = tile / og->per_sample, r = tile % og->per_sample;
        int y0 = (r / og->tiles_w) * TILE, x0 = (r % og->tiles_w) * TILE;
        float *plane = og->output + s * og->out_batch_stride + (size_t)o * og->out_h * og->out_w;
        for (int i = 0; i < TILE && y0 + i < og->out_h; i++)
            for (int j = 0; j < TILE && x0 + j < og->out_w; j++)
                plane[(size_t)(y0 + i) * og->out_w + x0 + j] = y[i * TILE + j][l];
    }
}

void incept_winograd_conv(const float *input, size_t in_batch_stride, int batch, int in_c, int in_h,
                          int in_w, const float *weight, const float *bias, int out_c, int pad_top,
                          int pad_left, int relu, float *output, size_t out_batch_stride, int out_h,
                          int out_w, float *workspace, int threads)
{
    const int tiles_h = (out_h + TILE - 1) / TILE, tiles_w = (out_w + TILE - 1) / TILE;
    const int per_sample = tiles_h * tiles_w, tiles = batch * per_sample;
    const int block = (int)tile_block(tiles);
    int mr, nr;
    incept_gemm_tile(&mr, &nr);
    const int out_c_padded = (int)round_up((size_t)out_c, (size_t)mr);
    const size_t u_stride = (size_t)out_c_padded * in_c;
    const size_t v_stride = round_up((size_t)block, (size_t)nr) * in_c;
    const size_t m_stride = (size_t)out_c * block;
    float *u = workspace;
    float *v = u + POSITIONS * u_stride;
    float *mm = v + POSITIONS * v_stride;
    const int channel_groups = (in_c + LANES - 1) / LANES;
    const input_geometry ig = {input, in_batch_stride, in_c, in_h, in_w, pad_top, pad_left,
                               tiles_w, per_sample};
    const output_geometry og = {output, out_batch_stride, out_h, out_w, tiles_w, per_sample, relu,
                                bias};

#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static)
        for (int job = 0; job < out_c_padded * channel_groups; job++)
            transform_filters(weight, in_c, out_c, job / channel_groups,
                              (job % channel_groups) * LANES, mr, u, u_stride);

        for (int first = 0; first < tiles; first += block) {
            const int count = tiles - first < block ? tiles - first : block;
            const int tile_groups = (int)round_up((size_t)count, (size_t)nr) / LANES; /* padded */
            const int output_groups = (count + LANES - 1) / LANES;
#pragma omp for schedule(static)
            for (int job = 0; job < in_c * tile_groups; job++)
                transform_inputs(&ig, job / tile_groups, first, (job % tile_groups) * LANES, count, nr,
                                 v, v_stride);
#pragma omp for schedule(dynamic, 1)
            for (int xi = 0; xi < POSITIONS; xi++)
                incept_gemm_prepacked(out_c, count, in_c, u + xi * u_stride, v + xi * v_stride,
                                      mm + xi * m_stride, block);
#pragma omp for schedule(static)
            for (int job = 0; job < out_c * output_groups; job++)
                transform_outputs(&og, job / output_groups, first, (job % output_groups) * LANES,
                                  count, mm, m_stride, block);
        }
    }
}
