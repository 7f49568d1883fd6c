/* winograd.c — 3x3 stride-1 convolution by Winograd's minimal filtering, F(4x4, 3x3)
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015).
 *
 * Each 4x4 output tile comes from a 6x6 input patch d and the 3x3 filter g as
 *     Y = A^T [ (G g G^T) .* (B^T d B) ] A
 * so the 144 multiplies of direct convolution become 36, done as 36 independent GEMMs (one per
 * position xi of the 6x6 transformed tile) over all channels and tiles:
 *     M[xi] (out_c x tiles) = U[xi] (out_c x in_c) * V[xi] (in_c x tiles).
 * Tiles are processed in blocks so the scratch stays bounded at any batch size. The transforms
 * use the interpolation points 0, +-1, +-2 and infinity. */
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/kernels.h"

#define TILE 4      /* output tile */
#define PATCH 6     /* input patch = TILE + 3 - 1 */
#define POSITIONS 36
#define TILE_BLOCK 128

/* B^T applied to a 6-vector read with stride `is`, written with stride `os`. */
static inline void input_transform_1d(const float *d, int is, float *r, int os)
{
    float d0 = d[0], d1 = d[is], d2 = d[2 * is], d3 = d[3 * is], d4 = d[4 * is], d5 = d[5 * is];
    r[0] = 4.0f * d0 - 5.0f * d2 + d4;
    r[os] = -4.0f * d1 - 4.0f * d2 + d3 + d4;
    r[2 * os] = 4.0f * d1 - 4.0f * d2 - d3 + d4;
    r[3 * os] = -2.0f * d1 - d2 + 2.0f * d3 + d4;
    r[4 * os] = 2.0f * d1 - d2 - 2.0f * d3 + d4;
    r[5 * os] = 4.0f * d1 - 5.0f * d3 + d5;
}

/* G applied to a 3-vector. */
static inline void filter_transform_1d(const float *g, int is, float *r, int os)
{
    float g0 = g[0], g1 = g[is], g2 = g[2 * is];
    r[0] = 0.25f * g0;
    r[os] = -(g0 + g1 + g2) / 6.0f;
    r[2 * os] = -(g0 - g1 + g2) / 6.0f;
    r[3 * os] = g0 / 24.0f + g1 / 12.0f + g2 / 6.0f;
    r[4 * os] = g0 / 24.0f - g1 / 12.0f + g2 / 6.0f;
    r[5 * os] = g2;
}

/* A^T applied to a 6-vector. */
static inline void output_transform_1d(const float *m, int is, float *r, int os)
{
    float m0 = m[0], m1 = m[is], m2 = m[2 * is], m3 = m[3 * is], m4 = m[4 * is], m5 = m[5 * is];
    r[0] = m0 + m1 + m2 + m3 + m4;
    r[os] = m1 - m2 + 2.0f * (m3 - m4);
    r[2 * os] = m1 + m2 + 4.0f * (m3 + m4);
    r[3 * os] = m1 - m2 + 8.0f * (m3 - m4) + m5;
}

static size_t tile_block(int tiles) { return tiles < TILE_BLOCK ? (size_t)tiles : TILE_BLOCK; }

size_t incept_winograd_workspace(int in_c, int out_c, int batch, int out_h, int out_w, int threads)
{
    (void)threads;
    int tiles = batch * ((out_h + TILE - 1) / TILE) * ((out_w + TILE - 1) / TILE);
    size_t block = tile_block(tiles);
    return (size_t)POSITIONS * out_c * in_c          /* U */
           + (size_t)POSITIONS * in_c * block        /* V */
           + (size_t)POSITIONS * out_c * block       /* M */
           + (size_t)threads * incept_gemm_workspace(out_c, (int)block, in_c, 1);
}

void incept_winograd_conv(const float *input, size_t in_batch_stride, int batch, int in_c, int in_h,
                          int in_w, const float *weight, const float *bias, int out_c, int pad_top,
                          int pad_left, int relu, float *output, size_t out_batch_stride, int out_h,
                          int out_w, float *workspace, int threads)
{
    const int tiles_h = (out_h + TILE - 1) / TILE, tiles_w = (out_w + TILE - 1) / TILE;
    const int per_sample = tiles_h * tiles_w, tiles = batch * per_sample;
    const int block = (int)tile_block(tiles);
    float *u = workspace;
    float *v = u + (size_t)POSITIONS * out_c * in_c;
    float *mm = v + (size_t)POSITIONS * in_c * block;
    float *packing = mm + (size_t)POSITIONS * out_c * block;
    const size_t packing_floats = incept_gemm_workspace(out_c, block, in_c, 1);
    const size_t u_stride = (size_t)out_c * in_c, v_stride = (size_t)in_c * block;
    const size_t m_stride = (size_t)out_c * block;

#pragma omp parallel num_threads(threads)
    {
        /* U[xi][o][c] = (G g G^T)[xi] */
#pragma omp for schedule(static)
        for (int o = 0; o < out_c; o++)
            for (int c = 0; c < in_c; c++) {
                const float *g = weight + ((size_t)o * in_c + c) * 9;
                float tmp[PATCH * 3], t[POSITIONS];
                for (int j = 0; j < 3; j++)
                    filter_transform_1d(g + j, 3, tmp + j, 3);
                for (int i = 0; i < PATCH; i++)
                    filter_transform_1d(tmp + i * 3, 1, t + i * PATCH, 1);
                for (int xi = 0; xi < POSITIONS; xi++)
                    u[xi * u_stride + (size_t)o * in_c + c] = t[xi];
            }

        for (int first = 0; first < tiles; first += block) {
            const int count = tiles - first < block ? tiles - first : block;
            /* V[xi][c][t] = (B^T d B)[xi] for each channel and tile of the block */
#pragma omp for schedule(static)
            for (int c = 0; c < in_c; c++)
                for (int t = 0; t < count; t++) {
                    int tile = first + t, s = tile / per_sample, r = tile % per_sample;
                    int y0 = (r / tiles_w) * TILE - pad_top, x0 = (r % tiles_w) * TILE - pad_left;
                    const float *plane = input + s * in_batch_stride + (size_t)c * in_h * in_w;
                    float d[POSITIONS], tmp[POSITIONS], tr[POSITIONS];
                    for (int i = 0; i < PATCH; i++) {
                        int y = y0 + i;
                        for (int j = 0; j < PATCH; j++) {
                            int x = x0 + j;
                            d[i * PATCH + j] = (y >= 0 && y < in_h && x >= 0 && x < in_w)
                                                   ? plane[(size_t)y * in_w + x] : 0.0f;
                        }
                    }
                    for (int j = 0; j < PATCH; j++)
                        input_transform_1d(d + j, PATCH, tmp + j, PATCH);
                    for (int i = 0; i < PATCH; i++)
                        input_transform_1d(tmp + i * PATCH, 1, tr + i * PATCH, 1);
                    float *dst = v + (size_t)c * block + t;
                    for (int xi = 0; xi < POSITIONS; xi++)
                        dst[xi * v_stride] = tr[xi];
                }
            /* the 36 products, one per thread at a time */
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
#pragma omp for schedule(dynamic, 1)
            for (int xi = 0; xi < POSITIONS; xi++)
                incept_gemm(1, out_c, count, in_c, u + xi * u_stride, in_c, v + xi * v_stride, block,
                            mm + xi * m_stride, block, NULL, 0, packing + packing_floats * tid);
            /* Y = A^T m A, plus bias and ReLU, into the output tile (clipped at the edges) */
#pragma omp for schedule(static)
            for (int o = 0; o < out_c; o++)
                for (int t = 0; t < count; t++) {
                    int tile = first + t, s = tile / per_sample, r = tile % per_sample;
                    int y0 = (r / tiles_w) * TILE, x0 = (r % tiles_w) * TILE;
                    float m[POSITIONS], tmp[PATCH * TILE], y[TILE * TILE];
                    const float *src = mm + (size_t)o * block + t;
                    for (int xi = 0; xi < POSITIONS; xi++)
                        m[xi] = src[xi * m_stride];
                    for (int j = 0; j < PATCH; j++)
                        output_transform_1d(m + j, PATCH, tmp + j, PATCH);
                    for (int i = 0; i < TILE; i++)
                        output_transform_1d(tmp + i * PATCH, 1, y + i * TILE, 1);
                    float b = bias ? bias[o] : 0.0f;
                    float *plane = output + s * out_batch_stride + (size_t)o * out_h * out_w;
                    for (int i = 0; i < TILE && y0 + i < out_h; i++)
                        for (int j = 0; j < TILE && x0 + j < out_w; j++) {
                            float val = y[i * TILE + j] + b;
                            plane[(size_t)(y0 + i) * out_w + x0 + j] = relu && val < 0.0f ? 0.0f : val;
                        }
                }
        }
    }
}
