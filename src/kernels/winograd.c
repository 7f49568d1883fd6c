/* winograd.c — stride-1 convolution by Winograd's minimal filtering: F(4x4, 3x3) and F(4x4, 5x5)
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015).
 *
 * Each 4x4 output tile comes from a PxP input patch d (P = 4 + taps - 1) and the filter g as
 *     Y = A^T [ (G g G^T) .* (B^T d B) ] A
 * so the 16 * taps^2 multiplies of direct convolution become P^2: 36 for a 3x3 filter (4x
 * fewer), 64 for a 5x5 (6.25x fewer). They are done as independent GEMMs, one per position xi
 * of the transformed tile, over all channels and tiles:
 *     M[xi] (out_c x tiles) = U[xi] (out_c x in_c) * V[xi] (in_c x tiles).
 * Interpolation points 0, +-1, +-2 (and +-1/2 for 5x5) and infinity; the matrices come from
 * scripts/winograd_matrices.py, which derives and checks them. (F(2x2, 3x3), with four times
 * the tiles, was measured slower than im2col + GEMM at 14x14 and batch 1 and was dropped.)
 * The transforms work on LANES tiles (or channels) at once, so each formula is a loop the
 * compiler vectorizes and each write is a contiguous run. Tiles go in blocks (run_by_panels);
 * within a block each thread takes panels of output channels and keeps a panel's transformed
 * filters in its cache. */
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/bf16.h"
#include "kernels/gemm_kernels.h"
#include "kernels/kernels.h"

#define MAX_TAPS 5
#define MAX_PATCH 8
#define MAX_POSITIONS 64
#define PANEL_TILES 256 /* tiles per block: V for them stays in L2 */
/* At most this many tiles in a block (14x14 at batch 1: 16), each thread transforms all the
 * inputs itself: a small V costs less to build twice than to share between cores behind a
 * barrier (inception_4e's 3x3 at 2 threads: 0.55 against 0.67 ms; no gain at 28x28). */
#define PRIVATE_V_TILES 32
#define LANES 16

typedef float lanes[LANES];

/* The transforms and the driver are written over a variant (tile, patch and position counts and
 * the three transforms) and forced inline into a copy per variant (PER_VARIANT), so every tile
 * size, loop bound and transform call is a compile-time constant. */
#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

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
        const float sixth = 1.0f / 6.0f, odd = g1 * (1.0f / 12.0f);
        const float even = (g0 + 4.0f * g2) * (1.0f / 24.0f);
        r[0][l] = 0.25f * g0;
        r[os][l] = -(g0 + g1 + g2) * sixth;
        r[2 * os][l] = -(g0 - g1 + g2) * sixth;
        r[3 * os][l] = even + odd;
        r[4 * os][l] = even - odd;
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

/* F(4, 5), the same interpolation points and +-1/2: r = G g for five vectors g[0..4]. */
static inline void filter_transform_k5(const lanes *g, int is, lanes *r, int os)
{
    for (int l = 0; l < LANES; l++) {
        float g0 = g[0][l], g1 = g[is][l], g2 = g[2 * is][l], g3 = g[3 * is][l], g4 = g[4 * is][l];
        const float sum = g0 + g2 + g4, alternate = g1 + g3;
        const float even2 = (g0 + 4.0f * g2 + 16.0f * g4) * (1.0f / 90.0f);
        const float odd2 = (2.0f * g1 + 8.0f * g3) * (1.0f / 90.0f);
        const float even_half = (32.0f * g0 + 8.0f * g2 + 2.0f * g4) * (1.0f / 45.0f);
        const float odd_half = (16.0f * g1 + 4.0f * g3) * (1.0f / 45.0f);
        r[0][l] = -g0;
        r[os][l] = (sum + alternate) * (-2.0f / 9.0f);
        r[2 * os][l] = (sum - alternate) * (-2.0f / 9.0f);
        r[3 * os][l] = even2 + odd2;
        r[4 * os][l] = even2 - odd2;
        r[5 * os][l] = even_half + odd_half;
        r[6 * os][l] = even_half - odd_half;
        r[7 * os][l] = g4;
    }
}

/* r = B^T d for eight vectors d[0..7]. */
static inline void input_transform_k5(const lanes *d, int is, lanes *r, int os)
{
    for (int l = 0; l < LANES; l++) {
        float d0 = d[0][l], d1 = d[is][l], d2 = d[2 * is][l], d3 = d[3 * is][l];
        float d4 = d[4 * is][l], d5 = d[5 * is][l], d6 = d[6 * is][l], d7 = d[7 * is][l];
        const float even1 = d2 + d6 - 4.25f * d4, odd1 = d1 + d5 - 4.25f * d3;
        const float even2 = 0.25f * d2 - 1.25f * d4 + d6, odd2 = 0.5f * d1 - 2.5f * d3 + 2.0f * d5;
        const float even_half = 4.0f * d2 - 5.0f * d4 + d6;
        const float odd_half = 2.0f * d1 - 2.5f * d3 + 0.5f * d5;
        r[0][l] = d6 - d0 + 5.25f * (d2 - d4);
        r[os][l] = even1 + odd1;
        r[2 * os][l] = even1 - odd1;
        r[3 * os][l] = even2 + odd2;
        r[4 * os][l] = even2 - odd2;
        r[5 * os][l] = even_half + odd_half;
        r[6 * os][l] = even_half - odd_half;
        r[7 * os][l] = d7 - d1 + 5.25f * (d3 - d5);
    }
}

/* r = A^T m for eight vectors m[0..7], four results. */
static inline void output_transform_k5(const lanes *m, int is, lanes *r, int os)
{
    for (int l = 0; l < LANES; l++) {
        float m1 = m[is][l], m2 = m[2 * is][l], m3 = m[3 * is][l], m4 = m[4 * is][l];
        float m5 = m[5 * is][l], m6 = m[6 * is][l];
        const float sum1 = m1 + m2, diff1 = m1 - m2, sum2 = m3 + m4, diff2 = m3 - m4;
        const float sum_half = m5 + m6, diff_half = m5 - m6;
        r[0][l] = m[0][l] + sum1 + sum2 + sum_half;
        r[os][l] = diff1 + 2.0f * diff2 + 0.5f * diff_half;
        r[2 * os][l] = sum1 + 4.0f * sum2 + 0.25f * sum_half;
        r[3 * os][l] = diff1 + 8.0f * diff2 + 0.125f * diff_half + m[7 * is][l];
    }
}

/* The 2-D transforms, N x N values to M x M by a 1-D transform of N values to M: down the
 * columns, then along the rows. */
#define TRANSFORM_2D(NAME, N, M, ONE_D)                                                            \
    INLINE void NAME(const lanes *in, lanes *out)                                                \
    {                                                                                            \
        lanes tmp[(M) * (N)];                                                                    \
        for (int j = 0; j < (N); j++)                                                            \
            ONE_D(in + j, N, tmp + j, N);                                                        \
        for (int i = 0; i < (M); i++)                                                            \
            ONE_D(tmp + i * (N), 1, out + i * (M), 1);                                           \
    }
TRANSFORM_2D(filter_2d_f4, 3, 6, filter_transform)
TRANSFORM_2D(input_2d_f4, 6, 6, input_transform)
TRANSFORM_2D(output_2d_f4, 6, 4, output_transform)
TRANSFORM_2D(filter_2d_f4_k5, 5, 8, filter_transform_k5)
TRANSFORM_2D(input_2d_f4_k5, 8, 8, input_transform_k5)
TRANSFORM_2D(output_2d_f4_k5, 8, 4, output_transform_k5)

typedef struct {
    int taps, tile, patch, positions;          /* taps: the filter is taps x taps */
    void (*filter)(const lanes *g, lanes *u);  /* taps*taps -> positions */
    void (*input)(const lanes *d, lanes *v);   /* patch*patch -> positions */
    void (*output)(const lanes *m, lanes *y);  /* positions -> tile*tile */
} variant;

static const variant f4_k3 = {3, 4, 6, 36, filter_2d_f4, input_2d_f4, output_2d_f4};
static const variant f4_k5 = {5, 4, 8, 64, filter_2d_f4_k5, input_2d_f4_k5, output_2d_f4_k5};

static const variant *variant_for(int kernel) { return kernel == 5 ? &f4_k5 : &f4_k3; }

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

#ifndef INCEPT_WINOGRAD_ENTRY
/* Built once plainly (this file), and again by winograd_avx2.c and winograd_avx512.c with the
 * compiler flags of those instruction sets; incept_winograd_conv picks the copy that matches
 * the SGEMM kernel in use. Only the plain build defines the shared helpers. */
#define INCEPT_WINOGRAD_ENTRY incept_winograd_conv_generic
#define INCEPT_WINOGRAD_SHARED 1
#endif

#ifdef INCEPT_WINOGRAD_SHARED
static int tile_count(const variant *v, int batch, int out_h, int out_w)
{
    return batch * ((out_h + v->tile - 1) / v->tile) * ((out_w + v->tile - 1) / v->tile);
}

int incept_winograd_tiles(int kernel, int batch, int out_h, int out_w)
{
    return tile_count(variant_for(kernel), batch, out_h, out_w);
}

size_t incept_winograd_workspace(int kernel, int in_c, int out_c, int batch, int out_h, int out_w,
                                 int threads)
{
    (void)out_c; /* output channels go a panel at a time */
    const variant *v = variant_for(kernel);
    int tiles = tile_count(v, batch, out_h, out_w);
    int block = tiles < PANEL_TILES ? tiles : PANEL_TILES;
    int mr, nr, mr16, nr16; /* a bf16 call's tile, if larger, needs the room */
    incept_gemm_tile(&mr, &nr);
    incept_gemm_bf16_tile(&mr16, &nr16);
    mr = mr16 > mr ? mr16 : mr, nr = nr16 > nr ? nr16 : nr;
    const size_t v_floats = (size_t)v->positions * in_c * round_up((size_t)block, (size_t)nr);
    const size_t per_thread = (size_t)v->positions * mr * ((size_t)in_c + block); /* U and M */
    if (block <= PRIVATE_V_TILES) /* each thread its own V */
        return (size_t)threads * (per_thread + v_floats);
    return v_floats + (size_t)threads * per_thread; /* one V for all */
}
#endif

#if defined(__AVX512F__)
#include <immintrin.h>

/* dst[l * dst_stride + k] = src[k * src_stride + l] for 16 x 16 floats: four rounds of shuffles
 * across 16 vectors (pairs of floats, pairs of pairs, 128-bit quarters twice). The transforms
 * work across tiles (a lane each) but the image holds each tile's values together: turning a
 * block around lets each tile's rows be read and written whole, not a float at a time. */
static inline void transpose_16x16(const float *src, size_t src_stride, float *dst, size_t dst_stride)
{
    __m512 r[16], u[16];
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_loadu_ps(src + i * src_stride);
    for (int i = 0; i < 16; i += 2) {
        u[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        u[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(u[i]), _mm512_castps_pd(u[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(u[i]), _mm512_castps_pd(u[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(u[i + 1]), _mm512_castps_pd(u[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(u[i + 1]), _mm512_castps_pd(u[i + 3])));
    }
    for (int i = 0; i < 16; i += 8)
        for (int j = 0; j < 4; j++) {
            u[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
            u[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(u[j], u[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(u[j], u[j + 8], 0xdd);
    }
    for (int i = 0; i < 16; i++)
        _mm512_storeu_ps(dst + i * dst_stride, r[i]);
}
#endif

/* U[xi] for output channels [0, rows) of `weight` as row-major matrices (row r at r * in_c, one
 * matrix every u_stride floats), the layout the micro-kernel reads A in place: lanes are input
 * channels, so each write is a contiguous run. For a bf16 call (u16), as bf16 pairs of input
 * channels instead: row r at r * ceil(in_c / 2) words, a matrix every u_stride words. */
INLINE void transform_filter_rows(const variant *v, const float *weight, int in_c, int rows,
                                  float *u, uint32_t *u16, size_t u_stride)
{
    const int words = (in_c + 1) / 2;
    const int taps = v->taps * v->taps;
    lanes g[32], t[MAX_POSITIONS]; /* g: the taps rounded up to whole 16 x 16 blocks */
    for (int r = 0; r < rows; r++)
        for (int c0 = 0; c0 < in_c; c0 += LANES) {
            const int n = in_c - c0 < LANES ? in_c - c0 : LANES;
            const float *src = weight + ((size_t)r * in_c + c0) * taps;
#if defined(__AVX512F__)
            if (n == LANES) { /* each channel's taps copied whole, then turned into lanes */
                float by_lane[LANES][32];
                for (int l = 0; l < LANES; l++) { /* zeros past taps: turned, never read */
                    memcpy(by_lane[l], src + l * taps, sizeof(float) * taps);
                    memset(by_lane[l] + taps, 0, sizeof(float) * (32 - taps));
                }
                for (int k = 0; k < taps; k += 16)
                    transpose_16x16(by_lane[0] + k, 32, g[k], LANES);
            } else
#endif
            if (n == LANES) {
                for (int k = 0; k < taps; k++)
                    for (int l = 0; l < LANES; l++)
                        g[k][l] = src[l * taps + k];
            } else {
                for (int l = 0; l < LANES; l++)
                    for (int k = 0; k < taps; k++)
                        g[k][l] = l < n ? src[l * taps + k] : 0.0f;
            }
            v->filter(g, t);
            if (u16) { /* c0 is even: pairs of lanes are pairs of channels */
                uint32_t *dst = u16 + (size_t)r * words + c0 / 2;
                for (int xi = 0; xi < v->positions; xi++)
                    for (int l = 0; l < LANES; l += 2)
                        if (l < n)
                            dst[xi * u_stride + l / 2] = incept_bf16_pair(t[xi][l], l + 1 < n ? t[xi][l + 1] : 0.0f);
                continue;
            }
            float *dst = u + (size_t)r * in_c + c0;
            for (int xi = 0; xi < v->positions; xi++) {
                if (n == LANES) /* a fixed size: one vector store */
                    memcpy(dst + xi * u_stride, t[xi], sizeof(lanes));
                else
                    for (int l = 0; l < n; l++)
                        dst[xi * u_stride + l] = t[xi][l];
            }
        }
}

/* Where a tile lies: its sample and its output rows and columns from (y, x). Tabled once per
 * block of tiles, so the transforms need no divisions per tile and channel. */
typedef struct {
    int sample, y, x;
} tile_origin;

static void tile_origins(int first, int count, int tile, int tiles_w, int per_sample,
                         tile_origin *origins)
{
    for (int t = 0; t < count; t++) {
        int r = (first + t) % per_sample;
        origins[t] =
            (tile_origin){(first + t) / per_sample, (r / tiles_w) * tile, (r % tiles_w) * tile};
    }
}

typedef struct {
    const float *input;
    size_t in_batch_stride;
    int in_c, in_h, in_w, pad_top, pad_left;
} input_geometry;

/* B^T d B at every position for channel c and LANES tiles from t0 (of `count` in the block);
 * lanes past `count` are zeros. */
INLINE void transform_channel(const variant *vr, const input_geometry *ig,
                              const tile_origin *origins, int c, int t0, int count, lanes *tr)
{
    const int patch = vr->patch, in_h = ig->in_h, in_w = ig->in_w;
    lanes d[MAX_PATCH * MAX_PATCH];
    int n = count - t0 < LANES ? count - t0 : LANES;
#if defined(__AVX512F__)
    if (n == LANES) { /* each tile's patch rows copied whole, then turned into lanes */
        float by_lane[LANES][MAX_PATCH * MAX_PATCH];
        const int blocks = (patch * patch + 15) / 16 * 16; /* what the transposes read */
        for (int l = 0; l < LANES; l++) { /* zeros past patch^2: turned, never read */
            memset(by_lane[l] + patch * patch, 0, sizeof(float) * (blocks - patch * patch));
            const tile_origin *o = &origins[t0 + l];
            const int y0 = o->y - ig->pad_top, x0 = o->x - ig->pad_left;
            const float *plane = ig->input + o->sample * ig->in_batch_stride + (size_t)c * in_h * in_w;
            if (y0 >= 0 && x0 >= 0 && y0 + patch <= in_h && x0 + patch <= in_w) {
                for (int i = 0; i < patch; i++)
                    memcpy(by_lane[l] + i * patch, plane + (size_t)(y0 + i) * in_w + x0, sizeof(float) * patch);
                continue;
            }
            for (int i = 0; i < patch; i++)
                for (int j = 0; j < patch; j++) {
                    const int y = y0 + i, x = x0 + j;
                    by_lane[l][i * patch + j] = y >= 0 && y < in_h && x >= 0 && x < in_w
                                                    ? plane[(size_t)y * in_w + x] : 0.0f;
                }
        }
        for (int k = 0; k < patch * patch; k += 16)
            transpose_16x16(by_lane[0] + k, MAX_PATCH * MAX_PATCH, d[k], LANES);
        vr->input(d, tr);
        return;
    }
#endif
    for (int l = 0; l < LANES; l++) {
        if (l >= n) {
            for (int k = 0; k < patch * patch; k++)
                d[k][l] = 0.0f;
            continue;
        }
        const tile_origin *o = &origins[t0 + l];
        const int y0 = o->y - ig->pad_top, x0 = o->x - ig->pad_left;
        const float *plane = ig->input + o->sample * ig->in_batch_stride + (size_t)c * in_h * in_w;
        if (y0 >= 0 && x0 >= 0 && y0 + patch <= in_h && x0 + patch <= in_w) {
            const float *corner = plane + (size_t)y0 * in_w + x0;
            for (int i = 0; i < patch; i++)
                for (int j = 0; j < patch; j++)
                    d[i * patch + j][l] = corner[(size_t)i * in_w + j];
            continue;
        }
        for (int i = 0; i < patch; i++) {
            int y = y0 + i;
            for (int j = 0; j < patch; j++) {
                int x = x0 + j;
                d[i * patch + j][l] = y >= 0 && y < in_h && x >= 0 && x < in_w
                                          ? plane[(size_t)y * in_w + x] : 0.0f;
            }
        }
    }
    vr->input(d, tr);
}

/* V[xi] for channel c and LANES tiles from t0, written straight into the GEMM's packed-B layout
 * (panels of nr tiles, each channel a step of nr values); the zero lanes pad the last panel. */
INLINE void transform_inputs(const variant *vr, const input_geometry *ig,
                             const tile_origin *origins, int c, int t0, int count, int nr,
                             float *v, size_t v_stride)
{
    lanes tr[MAX_POSITIONS];
    transform_channel(vr, ig, origins, c, t0, count, tr);
    float *dst = v + (size_t)(t0 / nr) * nr * ig->in_c + (size_t)c * nr + t0 % nr;
    for (int xi = 0; xi < vr->positions; xi++)
        memcpy(dst + xi * v_stride, tr[xi], sizeof(lanes));
}

/* The same for a bf16 call: channels 2 * pair and 2 * pair + 1 (zeros past in_c) as one step of
 * nr words of the bf16 packed-B layout. */
INLINE void transform_input_pair(const variant *vr, const input_geometry *ig,
                                 const tile_origin *origins, int pair, int t0, int count, int nr,
                                 uint32_t *v, size_t v_stride)
{
    lanes even[MAX_POSITIONS], odd[MAX_POSITIONS];
    const int c = 2 * pair, pairs = (ig->in_c + 1) / 2;
    transform_channel(vr, ig, origins, c, t0, count, even);
    if (c + 1 < ig->in_c)
        transform_channel(vr, ig, origins, c + 1, t0, count, odd);
    else
        memset(odd, 0, sizeof(lanes) * vr->positions);
    uint32_t *dst = v + (size_t)(t0 / nr) * nr * pairs + (size_t)pair * nr + t0 % nr;
    for (int xi = 0; xi < vr->positions; xi++)
        for (int l = 0; l < LANES; l++)
            dst[xi * v_stride + l] = incept_bf16_pair(even[xi][l], odd[xi][l]);
}

typedef struct {
    float *output;
    size_t out_batch_stride;
    int out_h, out_w, relu;
    const float *bias;
    int accumulate;
} output_geometry;

/* Y = A^T m A (+ bias, ReLU) for LANES tiles of output channel o, written into the output. */
INLINE void transform_outputs(const variant *vr, const output_geometry *og,
                              const tile_origin *origins, int o, int t0, int count, const float *mm,
                              size_t m_stride, int block)
{
    const int tile = vr->tile;
    lanes m[MAX_POSITIONS], y[16];
    int n = count - t0 < LANES ? count - t0 : LANES;
    const float *src = mm + (size_t)o * block + t0;
    for (int xi = 0; xi < vr->positions; xi++) {
        if (n == LANES) { /* a fixed size: one vector (a loop here became five moves) */
            memcpy(m[xi], src + xi * m_stride, sizeof(lanes));
        } else {
            for (int l = 0; l < LANES; l++)
                m[xi][l] = l < n ? src[xi * m_stride + l] : 0.0f;
        }
    }
    vr->output(m, y);
    const float b = og->bias ? og->bias[o] : 0.0f;
    if (og->relu) {
        for (int k = 0; k < tile * tile; k++)
            for (int l = 0; l < LANES; l++) {
                float val = y[k][l] + b;
                y[k][l] = val > 0.0f ? val : 0.0f;
            }
    } else {
        for (int k = 0; k < tile * tile; k++)
            for (int l = 0; l < LANES; l++)
                y[k][l] += b;
    }
    float (*by_lane)[16] = NULL; /* y turned around: lane l's tile, row by row (4x4 tiles) */
#if defined(__AVX512F__)
    float turned[LANES][16];
    if (tile == 4) {
        transpose_16x16(y[0], LANES, turned[0], 16);
        by_lane = turned;
    }
#endif
    for (int l = 0; l < n; l++) {
        const tile_origin *at = &origins[t0 + l];
        float *corner = og->output + at->sample * og->out_batch_stride +
                        (size_t)o * og->out_h * og->out_w + (size_t)at->y * og->out_w + at->x;
        const int rows = og->out_h - at->y < tile ? og->out_h - at->y : tile;
        const int cols = og->out_w - at->x < tile ? og->out_w - at->x : tile;
        if (by_lane && !og->accumulate && rows == 4 && cols == 4) { /* four rows of four */
            for (int i = 0; i < 4; i++)
                memcpy(corner + (size_t)i * og->out_w, by_lane[l] + 4 * i, sizeof(float) * 4);
            continue;
        }
        if (og->accumulate) { /* a gradient: other readers' contributions are already there */
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                    corner[(size_t)i * og->out_w + j] += y[i * tile + j][l];
            continue;
        }
        if (rows == tile && cols == tile) {
            for (int i = 0; i < tile; i++)
                for (int j = 0; j < tile; j++)
                    corner[(size_t)i * og->out_w + j] = y[i * tile + j][l];
            continue;
        }
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                corner[(size_t)i * og->out_w + j] = y[i * tile + j][l];
    }
}

/* One copy of each transform per variant, so that inside the parallel region (which the
 * compiler outlines before it inlines) every transform still sees a constant variant. */
#define PER_VARIANT(V)                                                                           \
    static void filter_rows_##V(const float *weight, int in_c, int rows, float *u,               \
                                uint32_t *u16, size_t u_stride)                                   \
    {                                                                                             \
        transform_filter_rows(&V, weight, in_c, rows, u, u16, u_stride);                          \
    }                                                                                             \
    static void input_pairs_##V(const input_geometry *ig, const tile_origin *origins, int pair,  \
                                int t0, int count, int nr, uint32_t *v, size_t v_stride)          \
    {                                                                                             \
        transform_input_pair(&V, ig, origins, pair, t0, count, nr, v, v_stride);                  \
    }                                                                                             \
    static void inputs_##V(const input_geometry *ig, const tile_origin *origins, int c, int t0,   \
                           int count, int nr, float *v, size_t v_stride)                          \
    {                                                                                             \
        transform_inputs(&V, ig, origins, c, t0, count, nr, v, v_stride);                         \
    }                                                                                             \
    static void outputs_##V(const output_geometry *og, const tile_origin *origins, int o, int t0, \
                            int count, const float *mm, size_t m_stride, int block)               \
    {                                                                                             \
        transform_outputs(&V, og, origins, o, t0, count, mm, m_stride, block);                    \
    }
PER_VARIANT(f4_k3)
PER_VARIANT(f4_k5)

typedef struct {
    void (*filter_rows)(const float *weight, int in_c, int rows, float *u, uint32_t *u16,
                        size_t u_stride);
    void (*input_pairs)(const input_geometry *ig, const tile_origin *origins, int pair, int t0,
                        int count, int nr, uint32_t *v, size_t v_stride);
    void (*inputs)(const input_geometry *ig, const tile_origin *origins, int c, int t0, int count,
                   int nr, float *v, size_t v_stride);
    void (*outputs)(const output_geometry *og, const tile_origin *origins, int o, int t0, int count,
                    const float *mm, size_t m_stride, int block);
} variant_code;

static const variant_code code_f4_k3 = {filter_rows_f4_k3, input_pairs_f4_k3, inputs_f4_k3, outputs_f4_k3};
static const variant_code code_f4_k5 = {filter_rows_f4_k5, input_pairs_f4_k5, inputs_f4_k5, outputs_f4_k5};

/* Input job `job` of a block: channel (or, for bf16 with v16, channel pair) job / groups, its
 * lanes from (job % groups) * LANES. */
static void input_job(const variant_code *code, const input_geometry *ig, const tile_origin *origins,
                      int job, int groups, int count, int nr, float *v, uint32_t *v16, size_t v_stride)
{
    if (v16)
        code->input_pairs(ig, origins, job / groups, (job % groups) * LANES, count, nr, v16, v_stride);
    else
        code->inputs(ig, origins, job / groups, (job % groups) * LANES, count, nr, v, v_stride);
}

/* Tiles in blocks of at most PANEL_TILES (one block for a batch-1 layer at 56x56 and below).
 * For each block, the threads transform its inputs into V; then each thread takes panels of mr
 * output channels and, for each, transforms their filters, multiplies them by V at every
 * position and transforms the products back, so a panel's U and M never leave its core's
 * cache. U is four times the size of the weights: written out for a whole layer and read back,
 * it cost more than the GEMMs at 14x14 (GoogLeNet's inception_4e: 1.5 ms, against 0.9 ms for
 * im2col + GEMM) and half again at 56x56 (conv2: 1.75 -> 1.15 ms with panels). */
static void run_by_panels(const variant *vr, const variant_code *code,
                          const incept_winograd_args *a, float *workspace, int threads)
{
    const int tiles_w = (a->out_w + vr->tile - 1) / vr->tile;
    const int per_sample = ((a->out_h + vr->tile - 1) / vr->tile) * tiles_w;
    const int tiles = a->batch * per_sample;
    const int positions = vr->positions, block = tiles < PANEL_TILES ? tiles : PANEL_TILES;
    const int in_c = a->in_c, out_c = a->out_c, taps = vr->taps * vr->taps, bf16 = a->bf16;
    const int pairs = (in_c + 1) / 2, depth = bf16 ? pairs : in_c; /* steps of the GEMMs */
    const input_geometry ig = {a->input, a->in_batch_stride, in_c, a->in_h, a->in_w, a->pad_top,
                               a->pad_left};
    const output_geometry og = {a->output, a->out_batch_stride, a->out_h, a->out_w, a->relu,
                                a->bias, a->accumulate};
    int mr, nr;
    if (bf16)
        incept_gemm_bf16_tile(&mr, &nr);
    else
        incept_gemm_tile(&mr, &nr);
    /* strides in floats, or words for bf16 (whose U and V are at most as large) */
    const size_t v_stride = round_up((size_t)block, (size_t)nr) * depth;
    const size_t u_stride = (size_t)mr * depth, m_stride = (size_t)mr * block;
    const int panels = (out_c + mr - 1) / mr;
    const int private_v = block <= PRIVATE_V_TILES;
    float *shared_v = workspace;
    float *per_thread = private_v ? workspace : shared_v + positions * v_stride;
    const size_t thread_floats = positions * (u_stride + m_stride + (private_v ? v_stride : 0));
#pragma omp parallel num_threads(threads)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *u = per_thread + (size_t)tid * thread_floats;
        float *mm = u + positions * u_stride, *v = private_v ? mm + positions * m_stride : shared_v;
        uint32_t *u16 = bf16 ? (uint32_t *)(void *)u : NULL, *v16 = bf16 ? (uint32_t *)(void *)v : NULL;
        tile_origin origins[PANEL_TILES];
        for (int first = 0; first < tiles; first += block) {
            const int count = tiles - first < block ? tiles - first : block;
            /* Lanes past `count` in the last group are zeros. A last panel of nr columns with at
             * most LANES of them is multiplied only that wide, so its other lanes are never
             * written (at 14x14 that was half of V). bf16 transforms channels in pairs. */
            const int groups = (count + LANES - 1) / LANES, jobs = depth * groups;
            tile_origins(first, count, vr->tile, tiles_w, per_sample, origins);
            if (private_v) {
                for (int job = 0; job < jobs; job++)
                    input_job(code, &ig, origins, job, groups, count, nr, v, v16, v_stride);
            } else {
#pragma omp for schedule(static)
                for (int job = 0; job < jobs; job++)
                    input_job(code, &ig, origins, job, groups, count, nr, v, v16, v_stride);
            }
#pragma omp for schedule(dynamic, 1)
            for (int p = 0; p < panels; p++) {
                const int o0 = p * mr, rows = out_c - o0 < mr ? out_c - o0 : mr;
                /* a bf16 session's filters were transformed once, when it was set to bf16 */
                const uint32_t *u_pairs =
                    a->filters_bf16 ? a->filters_bf16 + (size_t)p * positions * u_stride : u16;
                if (!a->filters_bf16)
                    code->filter_rows(a->weight + (size_t)o0 * in_c * taps, in_c, rows, u, u16, u_stride);
                for (int xi = 0; xi < positions; xi++)
                    if (bf16)
                        incept_gemm_prepacked_bf16(rows, count, pairs, u_pairs + xi * u_stride, pairs,
                                                   v16 + xi * v_stride, mm + xi * m_stride, count);
                    else
                        incept_gemm_prepacked(rows, count, in_c, u + xi * u_stride, in_c,
                                              v + xi * v_stride, mm + xi * m_stride, count);
                output_geometry panel = og;
                panel.output += (size_t)o0 * og.out_h * og.out_w;
                panel.bias = og.bias ? og.bias + o0 : NULL;
                for (int job = 0; job < rows * groups; job++)
                    code->outputs(&panel, origins, job / groups, (job % groups) * LANES, count, mm,
                                  m_stride, count);
            }
        }
    }
}

void INCEPT_WINOGRAD_ENTRY(const incept_winograd_args *a, float *workspace, int threads)
{
    const variant *vr = variant_for(a->kernel);
    run_by_panels(vr, a->kernel == 5 ? &code_f4_k5 : &code_f4_k3, a, workspace, threads);
}

#ifdef INCEPT_WINOGRAD_SHARED
size_t incept_winograd_bf16_filter_words(int kernel, int in_c, int out_c)
{
    int mr, nr;
    incept_gemm_bf16_tile(&mr, &nr);
    const size_t panels = (size_t)(out_c + mr - 1) / mr;
    return panels * variant_for(kernel)->positions * mr * (size_t)((in_c + 1) / 2);
}

void incept_winograd_bf16_filters(int kernel, const float *weight, int in_c, int out_c, uint32_t *u)
{
    const variant *vr = variant_for(kernel);
    const variant_code *code = kernel == 5 ? &code_f4_k5 : &code_f4_k3;
    int mr, nr;
    incept_gemm_bf16_tile(&mr, &nr);
    const size_t u_stride = (size_t)mr * ((in_c + 1) / 2), taps = (size_t)vr->taps * vr->taps;
    memset(u, 0, sizeof(uint32_t) * incept_winograd_bf16_filter_words(kernel, in_c, out_c));
    for (int p = 0; p * mr < out_c; p++) {
        const int rows = out_c - p * mr < mr ? out_c - p * mr : mr;
        code->filter_rows(weight + (size_t)p * mr * in_c * taps, in_c, rows, NULL,
                          u + (size_t)p * vr->positions * u_stride, u_stride);
    }
}

void incept_winograd_conv_avx2(const incept_winograd_args *a, float *workspace, int threads);
void incept_winograd_conv_avx512(const incept_winograd_args *a, float *workspace, int threads);

void incept_winograd_conv(const incept_winograd_args *a, float *workspace, int threads)
{
    void (*run)(const incept_winograd_args *, float *, int) = incept_winograd_conv_generic;
#ifdef INCEPT_HAVE_X86_KERNELS
    const char *isa = incept_gemm_current()->name;
    if (strcmp(isa, "avx512") == 0)
        run = incept_winograd_conv_avx512;
    else if (strcmp(isa, "avx2") == 0)
        run = incept_winograd_conv_avx2;
#endif
    run(a, workspace, threads);
}
#endif
