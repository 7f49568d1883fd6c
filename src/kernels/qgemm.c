/* qgemm.c — the int8 convolution GEMM (qgemm.h): quantizing and packing the weights once,
 * quantizing the im2col matrix into u8 panels as it is packed (implicit GEMM, no K x N buffer),
 * the split over threads, and the choice of micro-kernel (qgemm_avx512vnni.c, qgemm_avx2.c,
 * qgemm_generic.c) from CPUID. Layouts: qgemm_kernels.h.
 *
 * Unlike the float GEMM (gemm.c) the depth is not blocked: a micro-kernel sums the whole depth
 * in registers, so the int32 sums never leave them and the float epilogue sees each total once.
 * One packed panel of columns (depth x nr bytes: 23 KB for 480 channels at nr 48) is reused by
 * every row panel of weights while it sits in L1; the weights (m x k bytes, 92 KB for 480 ->
 * 192) stream from L2. At 8 x 48 the VNNI kernel runs at ~85% of vpdpbusd's peak, so packing
 * is what a small convolution spends the rest on, and it takes one of three ways:
 *   1x1 (stride 1, no padding): the im2col matrix is the input itself, quantized four channels
 *     at a time straight into the panel;
 *   other windows: every channel's input rows that a block of output rows reads ("strips") is
 *     quantized once, padded with the code of 0, then each panel's rows are gathered from it
 *     as runs of bytes (a 3x3 convolution reads each value 9 times: quantizing the unfolded
 *     matrix instead took half the time of a 96 -> 128 3x3 conv at 28x28);
 *   windows whose strips would not fit: unfolded to floats by incept_im2col_pack, quantized.
 * All three apply the same rule to the same values, so they give the same bytes.
 * Threads split the columns, or the row panels where that leaves the busiest thread a quarter
 * less work (few columns, as at 7x7); then each packs the same panels itself, which costs
 * little when columns are few. The integer sums do not depend on the order they are taken in,
 * so results are the same for any thread count and kernel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/qgemm.h"
#include "kernels/isa.h"
#include "kernels/qgemm_kernels.h"

#define PANEL_ROWS INCEPT_QGEMM_PANEL_ROWS
#define UNFOLD_ROWS 64 /* im2col rows unfolded to floats at a time (12 KB at nr 48) */

/* ---- instruction set ---- */

static const incept_isa_variant variants[] = {
    {"generic", incept_cpu_any, &incept_qgemm_generic},
#ifdef INCEPT_HAVE_X86_QKERNELS
    {"avx2", incept_cpu_avx2, &incept_qgemm_avx2},
    {"avx512vnni", incept_cpu_avx512_vnni, &incept_qgemm_avx512vnni},
#endif
};
static incept_isa_family family = {variants, (int)(sizeof variants / sizeof variants[0]), "INCEPT_QISA", NULL, NULL};

const incept_qgemm_kernels *incept_qgemm_current(void) { return incept_isa_kernels(&family); }

const char *incept_qgemm_isa(void) { return incept_isa_name(&family); }

int incept_qgemm_force_isa(const char *name) { return incept_isa_force(&family, name); }

/* ---- quantization and weights ---- */

incept_quant incept_quant_range(float lo, float hi)
{
    if (!(lo < 0.0f)) /* also NaN: the range always holds 0 */
        lo = 0.0f;
    if (!(hi > 0.0f))
        hi = 0.0f;
    float scale = (hi - lo) / 255.0f;
    if (!(scale > 0.0f) || !isfinite(scale))
        scale = 1.0f;
    float zero = roundf(-lo / scale);
    incept_quant q = {scale, zero < 0.0f ? 0 : zero > 255.0f ? 255 : (int)zero};
    return q;
}

static int quads_of(int k) { return (k + 3) / 4; }
static int panels_of(int m) { return (m + PANEL_ROWS - 1) / PANEL_ROWS; }

size_t incept_qgemm_weights_bytes(int m, int k)
{
    return (size_t)panels_of(m) * PANEL_ROWS * quads_of(k) * 4;
}

float incept_quant_weight_scale(const float *row, int k)
{
    float largest = 0.0f;
    for (int kk = 0; kk < k; kk++)
        largest = fabsf(row[kk]) > largest ? fabsf(row[kk]) : largest;
    return largest > 0.0f ? largest / 127.0f : 1.0f;
}

int incept_quant_weight(float w, float scale)
{
    float v = nearbyintf(w / scale);
    return v > 127.0f ? 127 : v < -127.0f ? -127 : v == v ? (int)v : 0;
}

void incept_qgemm_prepare(int m, int k, const float *w, int ldw, const float *bias, incept_quant input,
                          incept_qgemm_weights *out)
{
    const int quads = quads_of(k);
    out->m = m;
    out->k = k;
    out->weight_max = 0.0f;
    memset(out->data, 0, incept_qgemm_weights_bytes(m, k));
    for (int r = 0; r < m; r++) {
        const float *row = w + (size_t)r * ldw;
        const float weight_scale = incept_quant_weight_scale(row, k);
        for (int kk = 0; kk < k; kk++)
            out->weight_max = fabsf(row[kk]) > out->weight_max ? fabsf(row[kk]) : out->weight_max;
        /* row r's 4 bytes of quad q: panel r / PANEL_ROWS, then quad, then row within it */
        signed char *dst = out->data + (size_t)(r / PANEL_ROWS) * PANEL_ROWS * quads * 4 +
                           (size_t)(r % PANEL_ROWS) * 4;
        long sum = 0;
        for (int kk = 0; kk < k; kk++) {
            int q = incept_quant_weight(row[kk], weight_scale);
            dst[(size_t)(kk / 4) * PANEL_ROWS * 4 + kk % 4] = (signed char)q;
            sum += q;
        }
        out->scale[r] = input.scale * weight_scale;
        /* the zero point's share of every sum, taken out once here (in double, from the
         * float scale the kernels multiply by, so the two cancel as closely as floats can) */
        out->bias[r] = (float)((bias ? (double)bias[r] : 0.0) -
                               (double)input.zero_point * (double)out->scale[r] * (double)sum);
    }
}

/* ---- packing the im2col matrix ---- */

static size_t round_up64(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* Per thread: one packed column panel, the floats of UNFOLD_ROWS im2col rows, and the
 * quantized strips of the input (below). */
#define STRIP_BYTES (256 * 1024)
#define STRIP_SLACK 64 /* the 16-byte copies of the gathers may read this far past the end */
static size_t panel_bytes(int k) { return round_up64((size_t)quads_of(k) * INCEPT_QGEMM_MAX_NR * 4); }
static size_t unfold_bytes(void) { return round_up64(sizeof(float) * UNFOLD_ROWS * INCEPT_QGEMM_MAX_NR); }
static size_t thread_bytes(int k) { return panel_bytes(k) + unfold_bytes() + STRIP_BYTES + STRIP_SLACK; }

size_t incept_qgemm_workspace(int m, int n, int k, int threads)
{
    (void)m, (void)n;
    return (size_t)(threads > 1 ? threads : 1) * thread_bytes(k);
}

typedef struct {
    const incept_qgemm_kernels *isa;
    const incept_im2col *conv;
    int k, quads, nr;
    float inv_scale, zero_point;
    unsigned char padding; /* the code of 0.0 (the zero point, for any usable scale) */
} packer;

static int is_pointwise(const incept_im2col *g)
{
    return g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
           g->pad_top == 0 && g->pad_left == 0 && g->out_h == g->in_h && g->out_w == g->in_w;
}

/* A 1x1 convolution's im2col matrix is its input (row k = channel k): columns [j0, j0 + cols)
 * are stretches of the images' planes, quantized straight from them. */
static void pack_pointwise(const packer *p, int j0, int cols, uint32_t *panel)
{
    const incept_im2col *g = p->conv;
    const int plane = g->in_h * g->in_w;
    for (int j = j0; j < j0 + cols;) {
        int image = j / plane, at = j % plane;
        int run = plane - at < j0 + cols - j ? plane - at : j0 + cols - j;
        p->isa->pack(g->input + (size_t)image * g->image_stride + at, (size_t)plane, p->k, run, p->inv_scale,
                     p->zero_point, panel + (j - j0), p->nr);
        j += run;
    }
}

/* Any convolution, the slow way: im2col_pack unfolds UNFOLD_ROWS rows to floats (one panel of
 * nr columns), which are then quantized. For windows whose strips (below) do not fit. */
static void pack_unfolded(const packer *p, int j0, int cols, uint32_t *panel, float *unfolded)
{
    const int nr = p->nr;
    for (int k0 = 0; k0 < p->k; k0 += UNFOLD_ROWS) {
        int kc = p->k - k0 < UNFOLD_ROWS ? p->k - k0 : UNFOLD_ROWS;
        incept_im2col_pack(p->conv, k0, kc, j0, j0 + cols, nr, unfolded);
        p->isa->pack(unfolded, (size_t)nr, kc, cols, p->inv_scale, p->zero_point, panel + (size_t)k0 / 4 * nr,
                     nr);
    }
}

/* Strips: for a block of output rows of one image, every channel's input rows that its windows
 * read, quantized once and padded with the code of 0 on all sides, so that each tap of each
 * output row is a run of bytes (a 3x3 convolution reads each input value 9 times; quantizing
 * it 9 times was half the time of a 96 -> 128 3x3 conv at 28x28). With a horizontal stride s
 * each row is stored as s phases (columns x = phase mod s), so a strided tap is contiguous
 * too. Per channel: `rows` rows of `pitch` bytes; phase f of a row at f * phase_len. */
typedef struct {
    int image, first_out_row, rows, pitch, phase_len, width;
    size_t channel_bytes;
    unsigned char *data;
} strips;

/* The geometry of strips for output rows [oy0, oy1] (0 if they would exceed STRIP_BYTES). */
static size_t strips_layout(const incept_im2col *g, int oy0, int oy1, strips *s)
{
    s->first_out_row = oy0;
    s->rows = (oy1 - oy0) * g->stride_h + (g->kernel_h - 1) * g->dilation_h + 1;
    s->width = (g->out_w - 1) * g->stride_w + (g->kernel_w - 1) * g->dilation_w + 1;
    s->phase_len = (s->width + g->stride_w - 1) / g->stride_w;
    s->pitch = s->phase_len * g->stride_w;
    s->channel_bytes = (size_t)s->rows * s->pitch;
    size_t bytes = s->channel_bytes * g->channels;
    return bytes <= STRIP_BYTES ? bytes : 0;
}

/* Whether strips fit: those of the output rows one panel can touch, and (with a stride) an
 * input row in the scratch it is split into phases from. */
static int strips_usable(const packer *p)
{
    const incept_im2col *g = p->conv;
    const int span = (p->nr + g->out_w - 1) / g->out_w + 1;
    strips s;
    if (!strips_layout(g, 0, span - 1, &s))
        return 0;
    return g->stride_w == 1 || (size_t)s.width <= unfold_bytes();
}

/* Quantizes the strips of output rows [oy0, oy1] of `image` (strips_layout said they fit). */
static void fill_strips(const packer *p, int image, int oy0, int oy1, strips *s, unsigned char *row_scratch)
{
    const incept_im2col *g = p->conv;
    strips_layout(g, oy0, oy1, s);
    s->image = image;
    const int sw = g->stride_w, first_in_row = oy0 * g->stride_h - g->pad_top;
    /* padded column x is input column x - pad_left */
    int x0 = g->pad_left > 0 ? g->pad_left : 0, x1 = g->in_w + g->pad_left;
    x1 = x1 < s->width ? x1 : s->width;
    x0 = x0 < s->width ? x0 : s->width;
    x1 = x1 > x0 ? x1 : x0;
    for (int c = 0; c < g->channels; c++) {
        const float *plane = g->input + (size_t)image * g->image_stride + (size_t)c * g->in_h * g->in_w;
        for (int r = 0; r < s->rows; r++) {
            unsigned char *dst = s->data + c * s->channel_bytes + (size_t)r * s->pitch;
            int iy = first_in_row + r;
            if (iy < 0 || iy >= g->in_h) {
                memset(dst, p->padding, s->pitch);
                continue;
            }
            unsigned char *row = sw == 1 ? dst : row_scratch;
            memset(row, p->padding, x0);
            p->isa->quantize_row(plane + (size_t)iy * g->in_w + (x0 - g->pad_left), x1 - x0, p->inv_scale,
                                 p->zero_point, row + x0);
            memset(row + x1, p->padding, (sw == 1 ? s->pitch : s->width) - x1);
            if (sw > 1)
                for (int f = 0; f < sw; f++)
                    for (int i = 0; i < s->phase_len; i++)
                        dst[f * s->phase_len + i] = i * sw + f < s->width ? row[i * sw + f] : p->padding;
        }
    }
}

#define GATHER_ROWS 64 /* im2col rows gathered before they are interleaved */
#define GATHER_PITCH 80 /* 48 columns, and room for a 16-byte copy's overshoot */

/* Rows 4q .. 4q+3 of bytes (row t to byte t) into words, for `count` columns (a multiple of
 * 16): two rounds of unpacking, 16 columns at a time. */
static inline void interleave(const unsigned char *rows, int count, uint32_t *dst)
{
#ifdef __SSE2__
    for (int j = 0; j < count; j += 16) {
        const __m128i r0 = _mm_loadu_si128((const __m128i *)(rows + j));
        const __m128i r1 = _mm_loadu_si128((const __m128i *)(rows + GATHER_PITCH + j));
        const __m128i r2 = _mm_loadu_si128((const __m128i *)(rows + 2 * GATHER_PITCH + j));
        const __m128i r3 = _mm_loadu_si128((const __m128i *)(rows + 3 * GATHER_PITCH + j));
        const __m128i low01 = _mm_unpacklo_epi8(r0, r1), high01 = _mm_unpackhi_epi8(r0, r1);
        const __m128i low23 = _mm_unpacklo_epi8(r2, r3), high23 = _mm_unpackhi_epi8(r2, r3);
        _mm_storeu_si128((__m128i *)(dst + j), _mm_unpacklo_epi16(low01, low23));
        _mm_storeu_si128((__m128i *)(dst + j + 4), _mm_unpackhi_epi16(low01, low23));
        _mm_storeu_si128((__m128i *)(dst + j + 8), _mm_unpacklo_epi16(high01, high23));
        _mm_storeu_si128((__m128i *)(dst + j + 12), _mm_unpackhi_epi16(high01, high23));
    }
#else
    for (int j = 0; j < count; j++)
        dst[j] = (uint32_t)rows[j] | (uint32_t)rows[GATHER_PITCH + j] << 8 |
                 (uint32_t)rows[2 * GATHER_PITCH + j] << 16 | (uint32_t)rows[3 * GATHER_PITCH + j] << 24;
#endif
}

/* Columns [j0, j0 + cols) of image s->image, output rows within the strips, gathered from them:
 * for each im2col row, a run of bytes per output row the panel covers, copied 16 bytes at a
 * time (overlapping where a run is shorter) into GATHER_ROWS rows, then interleaved. The
 * copies are one list for the panel, applied to all rows copy by copy, and the rows' taps are
 * stepped without a division: the gather of a 96-channel 3x3 conv at 28x28 took 185 us with a
 * loop over runs per row and 105 us so. */
static void pack_from_strips(const packer *p, const strips *s, int j0, int cols, uint32_t *panel)
{
    const incept_im2col *g = p->conv;
    const int per_image = g->out_h * g->out_w, sw = g->stride_w;
    /* the 16-byte copies that make one row, the same for every row but for where `from` is */
    int copy_from[INCEPT_QGEMM_MAX_NR], copy_to[INCEPT_QGEMM_MAX_NR], copies = 0;
    for (int done = 0; done < cols;) {
        int at = j0 + done - s->image * per_image, oy = at / g->out_w, ox = at % g->out_w;
        int len = g->out_w - ox < cols - done ? g->out_w - ox : cols - done;
        for (int i = 0; i < len; i += 16, copies++) {
            copy_from[copies] = (oy - s->first_out_row) * g->stride_h * s->pitch + ox + i;
            copy_to[copies] = done + i;
        }
        done += len;
    }
    unsigned char rows[GATHER_ROWS * GATHER_PITCH];
    memset(rows, p->padding, sizeof rows); /* also the depth past k: any bytes, zero weights */
    const int padded = (cols + 15) / 16 * 16;
    /* row k's tap (c, ky, kx), stepped as k counts up: the channel's strips, the tap's row in
     * them, and its column kx * dilation as a phase and a position in the phase */
    const unsigned char *channel = s->data, *tap_row = channel;
    int kx = 0, ky = 0, phase = 0, position = 0;
    for (int k0 = 0; k0 < p->k; k0 += GATHER_ROWS) {
        const int kc = p->k - k0 < GATHER_ROWS ? p->k - k0 : GATHER_ROWS;
        const unsigned char *from[GATHER_ROWS];
        for (int t = 0; t < kc; t++) {
            from[t] = tap_row + phase * s->phase_len + position;
            if (++kx < g->kernel_w) {
                for (phase += g->dilation_w; phase >= sw; phase -= sw)
                    position++;
                continue;
            }
            kx = phase = position = 0;
            if (++ky < g->kernel_h) {
                tap_row += (size_t)g->dilation_h * s->pitch;
                continue;
            }
            ky = 0;
            channel += s->channel_bytes;
            tap_row = channel;
        }
        for (int i = 0; i < copies; i++)
            for (int t = 0; t < kc; t++)
                memcpy(rows + t * GATHER_PITCH + copy_to[i], from[t] + copy_from[i], 16);
        for (int t = 0; t < kc; t += 4)
            interleave(rows + t * GATHER_PITCH, padded, panel + (size_t)(k0 + t) / 4 * p->nr);
    }
}

/* Zeros for the words past the panel's columns, up to a multiple of 16 (the kernels compute
 * those lanes and drop them). */
static void pad_panel(const packer *p, int cols, uint32_t *panel)
{
    const int padded = (cols + 15) / 16 * 16;
    if (padded > cols)
        for (int q = 0; q < p->quads; q++)
            memset(panel + (size_t)q * p->nr + cols, 0, sizeof(uint32_t) * (padded - cols));
}

/* ---- the product ---- */

/* Row panels [p0, p1) of C times the packed columns [j, j + cols). */
static void multiply_panel(const incept_qgemm_kernels *isa, const incept_qgemm_weights *w, int p0, int p1,
                           const uint32_t *panel, int j, int cols, float *c, int ldc, int relu)
{
    const int quads = quads_of(w->k);
    for (int p = p0; p < p1; p++) {
        int row = p * PANEL_ROWS, rows = w->m - row < PANEL_ROWS ? w->m - row : PANEL_ROWS;
        isa->kernel(quads, w->data + (size_t)row * quads * 4, panel, c + (size_t)row * ldc + j, ldc,
                    rows, cols, w->scale + row, w->bias + row, relu);
    }
}

typedef struct {
    const packer *pack;
    const incept_qgemm_weights *w;
    float *c;
    int ldc, relu;
} product;

/* Packs columns [j, j + cols) the way their shape allows, then multiplies row panels [p0, p1). */
static void panel_product(const product *job, int j, int cols, int p0, int p1, const strips *s,
                          uint32_t *panel, float *unfolded)
{
    const packer *p = job->pack;
    if (is_pointwise(p->conv))
        pack_pointwise(p, j, cols, panel);
    else if (s)
        pack_from_strips(p, s, j, cols, panel);
    else
        pack_unfolded(p, j, cols, panel, unfolded);
    pad_panel(p, cols, panel);
    multiply_panel(p->isa, job->w, p0, p1, panel, j, cols, job->c, job->ldc, job->relu);
}

/* One thread's share: columns [n0, n1) times row panels [p0, p1), its workspace at `mine`. */
static void thread_product(const product *job, int n0, int n1, int p0, int p1, unsigned char *mine)
{
    const packer *p = job->pack;
    const incept_im2col *g = p->conv;
    const int nr = p->nr, per_image = g->out_h * g->out_w;
    uint32_t *panel = (uint32_t *)mine;
    float *unfolded = (float *)(mine + panel_bytes(p->k));
    strips s;
    s.data = mine + panel_bytes(p->k) + unfold_bytes();
    if (p0 >= p1)
        return;
    if (is_pointwise(g) || !strips_usable(p)) {
        for (int j = n0; j < n1; j += nr)
            panel_product(job, j, n1 - j < nr ? n1 - j : nr, p0, p1, NULL, panel, unfolded);
        return;
    }
    /* blocks of panels within one image whose strips fit, each quantized once */
    for (int j = n0; j < n1;) {
        const int image = j / per_image, first = image * per_image;
        const int image_end = first + per_image < n1 ? first + per_image : n1;
        const int oy0 = (j - first) / g->out_w;
        int end = j;
        while (end < image_end) {
            int next = end + nr < image_end ? end + nr : image_end;
            if (!strips_layout(g, oy0, (next - 1 - first) / g->out_w, &s))
                break;
            end = next;
        }
        if (end == j) { /* strips_usable says one panel always fits; were it not so, unfold it */
            int cols = image_end - j < nr ? image_end - j : nr;
            panel_product(job, j, cols, p0, p1, NULL, panel, unfolded);
            j += cols;
            continue;
        }
        fill_strips(p, image, oy0, (end - 1 - first) / g->out_w, &s, (unsigned char *)unfolded);
        for (int cols; j < end; j += cols) {
            cols = end - j < nr ? end - j : nr;
            panel_product(job, j, cols, p0, p1, &s, panel, unfolded);
        }
    }
}

void incept_qgemm_conv(int threads, const incept_qgemm_weights *w, int n, const incept_im2col *conv,
                       incept_quant input, float *c, int ldc, int relu, void *workspace)
{
    if (w->m <= 0 || n <= 0)
        return;
    const incept_qgemm_kernels *isa = incept_qgemm_current();
    const float inv_scale = 1.0f / input.scale, zero_point = (float)input.zero_point;
    const packer pack = {isa, conv, w->k, quads_of(w->k), isa->nr, inv_scale, zero_point,
                         (unsigned char)incept_qgemm_quantize(0.0f, inv_scale, zero_point)};
    const product job = {&pack, w, c, ldc, relu};
    const int panels = panels_of(w->m);
    /* columns in units of 16 (a kernel's narrowest full-speed width) or row panels, as gemm.c
     * decides: rows only when that leaves the busiest thread a quarter less work */
    const int split_columns = incept_gemm_split(panels, (n + 15) / 16, &threads);
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int tid = 0, nth = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        int n0 = 0, n1 = n, p0 = 0, p1 = panels;
        if (split_columns)
            incept_gemm_share(tid, nth, n, 16, &n0, &n1);
        else
            incept_gemm_share(tid, nth, panels, 1, &p0, &p1);
        thread_product(&job, n0, n1, p0, p1, (unsigned char *)workspace + (size_t)tid * thread_bytes(w->k));
    }
}
