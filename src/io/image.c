/* image.c — photos in: JPEG through libjpeg-turbo, PNG through libpng (gray, RGB, RGBA, 16-bit
 * and palettes all arrive as 8-bit RGB), bilinear or area resizing, crops, and the preprocessing
 * of the two families of pretrained GoogLeNets (Caffe's BGR mean subtraction, torchvision's
 * normalized RGB). Decoder errors never exit: libjpeg's are caught with setjmp, libpng's simplified
 * API reports them, and every message names the file. */
#include <math.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h> /* needs stdio.h and stddef.h first */
#include <png.h>

#include "core/limits.h"
#include "core/status.h"
#include "incept.h"

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf escape;
    char message[JMSG_LENGTH_MAX];
} jpeg_errors;

static void jpeg_error_exit(j_common_ptr cinfo)
{
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    e->base.format_message(cinfo, e->message);
    longjmp(e->escape, 1);
}

/* Warnings (level -1) are counted, not printed: a truncated file is an error for us. */
static void jpeg_quiet(j_common_ptr cinfo, int level)
{
    if (level < 0)
        cinfo->err->num_warnings++;
}

/* A decoder's claimed size against the pixel limit, before anything of that size is allocated
 * (a few hundred bytes of header can claim gigapixels). */
static incept_status check_pixels(const char *path, unsigned long w, unsigned long h)
{
    size_t limit = incept_limit(INCEPT_LIMIT_IMAGE_PIXELS);
    if (w < 1 || h < 1 || w > (1ul << 24) || h > (1ul << 24) || (size_t)w * h > limit)
        return incept_fail(INCEPT_ERR_FORMAT, "%s: %lux%lu pixels: unusable size (at most %zu pixels: "
                           "INCEPT_LIMIT_IMAGE_PIXELS)", path, w, h, limit);
    return INCEPT_OK;
}

/* Decodes to interleaved 8-bit RGB. */
static incept_status load_jpeg(const char *path, FILE *f, unsigned char **pixels, int *h, int *w)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_errors err;
    unsigned char *volatile buf = NULL;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = jpeg_error_exit;
    err.base.emit_message = jpeg_quiet; /* warnings (e.g. a truncated file) become errors below */
    if (setjmp(err.escape)) {
        jpeg_destroy_decompress(&cinfo);
        free(buf);
        return incept_fail(INCEPT_ERR_FORMAT, "%s: corrupt JPEG: %s", path, err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    incept_status st = check_pixels(path, cinfo.image_width, cinfo.image_height);
    if (st) {
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    jpeg_start_decompress(&cinfo);
    size_t row = (size_t)cinfo.output_width * 3;
    buf = incept_malloc(row * cinfo.output_height);
    if (!buf) {
        jpeg_destroy_decompress(&cinfo);
        return incept_fail_prefix(INCEPT_ERR_NOMEM, "%s: ", path);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW line = buf + row * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &line, 1);
    }
    if (err.base.num_warnings > 0) { /* libjpeg pads a truncated file with grey: refuse it */
        jpeg_destroy_decompress(&cinfo);
        free(buf);
        return incept_fail(INCEPT_ERR_FORMAT, "%s: corrupt or truncated JPEG data", path);
    }
    jpeg_finish_decompress(&cinfo);
    *h = (int)cinfo.output_height, *w = (int)cinfo.output_width;
    jpeg_destroy_decompress(&cinfo);
    *pixels = buf;
    return INCEPT_OK;
}

static incept_status load_png(const char *path, unsigned char **pixels, int *h, int *w)
{
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, path))
        return incept_fail(INCEPT_ERR_FORMAT, "%s: corrupt PNG: %s", path, image.message);
    image.format = PNG_FORMAT_RGB; /* gray, palette, 16-bit and alpha (over black) become RGB8 */
    incept_status st = check_pixels(path, image.width, image.height);
    if (st) {
        png_image_free(&image);
        return st;
    }
    unsigned char *buf = incept_malloc(PNG_IMAGE_SIZE(image));
    if (!buf) {
        png_image_free(&image);
        return incept_fail_prefix(INCEPT_ERR_NOMEM, "%s: ", path);
    }
    if (!png_image_finish_read(&image, NULL, buf, 0, NULL)) {
        free(buf);
        return incept_fail(INCEPT_ERR_FORMAT, "%s: corrupt PNG: %s", path, image.message);
    }
    *h = (int)image.height, *w = (int)image.width;
    *pixels = buf;
    return INCEPT_OK;
}

incept_status incept_image_load(const char *path, incept_image *out)
{
    if (!path || !out)
        return incept_fail(INCEPT_ERR_ARG, "image_load needs a path and an image");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return incept_fail(INCEPT_ERR_IO, "%s: cannot open", path);
    unsigned char magic[8] = {0}, *rgb = NULL;
    size_t got = fread(magic, 1, sizeof magic, f);
    int h = 0, w = 0;
    incept_status st;
    rewind(f);
    if (got >= 3 && magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff)
        st = load_jpeg(path, f, &rgb, &h, &w);
    else if (got == 8 && !png_sig_cmp(magic, 0, 8))
        st = load_png(path, &rgb, &h, &w);
    else
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: neither JPEG nor PNG", path);
    fclose(f);
    if (st)
        return st;
    if (h < 1 || w < 1 || (size_t)h * w > incept_limit(INCEPT_LIMIT_IMAGE_PIXELS)) {
        free(rgb);
        return incept_fail(INCEPT_ERR_FORMAT, "%s: unusable size %dx%d", path, w, h);
    }
    out->data = incept_malloc(sizeof(float) * 3 * (size_t)h * w);
    if (!out->data) {
        free(rgb);
        return incept_fail_prefix(INCEPT_ERR_NOMEM, "%s: ", path);
    }
    out->c = 3, out->h = h, out->w = w;
    size_t plane = (size_t)h * w;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++)
            out->data[c * plane + i] = rgb[i * 3 + c];
    free(rgb);
    return INCEPT_OK;
}

void incept_image_free(incept_image *image)
{
    if (image) {
        free(image->data);
        image->data = NULL;
    }
}

/* Bilinear with half-pixel centres (as OpenCV and PIL), or area averaging for shrinking. */
static float sample_bilinear(const float *plane, int h, int w, float y, float x)
{
    y = y < 0 ? 0 : y > h - 1 ? (float)(h - 1) : y;
    x = x < 0 ? 0 : x > w - 1 ? (float)(w - 1) : x;
    int y0 = (int)y, x0 = (int)x, y1 = y0 + 1 < h ? y0 + 1 : y0, x1 = x0 + 1 < w ? x0 + 1 : x0;
    float fy = y - y0, fx = x - x0;
    float top = plane[y0 * w + x0] * (1 - fx) + plane[y0 * w + x1] * fx;
    float bottom = plane[y1 * w + x0] * (1 - fx) + plane[y1 * w + x1] * fx;
    return top * (1 - fy) + bottom * fy;
}

static float sample_area(const float *plane, int h, int w, float y0, float x0, float y1, float x1)
{
    double sum = 0.0, weight = 0.0;
    for (int y = (int)floorf(y0); y < (int)ceilf(y1) && y < h; y++) {
        double wy = fmin(y + 1, y1) - fmax(y, y0);
        for (int x = (int)floorf(x0); x < (int)ceilf(x1) && x < w; x++) {
            double wx = fmin(x + 1, x1) - fmax(x, x0);
            if (wy > 0 && wx > 0 && y >= 0 && x >= 0) {
                sum += plane[y * w + x] * wy * wx;
                weight += wy * wx;
            }
        }
    }
    return weight > 0 ? (float)(sum / weight) : 0.0f;
}

incept_status incept_image_resize(const incept_image *in, int h, int w, int area, incept_image *out)
{
    if (!in || !in->data || !out || h < 1 || w < 1)
        return incept_fail(INCEPT_ERR_ARG, "resize needs an image and a positive size");
    out->data = incept_malloc(sizeof(float) * in->c * (size_t)h * w);
    if (!out->data)
        return INCEPT_ERR_NOMEM;
    out->c = in->c, out->h = h, out->w = w;
    float sy = (float)in->h / h, sx = (float)in->w / w;
    for (int c = 0; c < in->c; c++) {
        const float *src = in->data + (size_t)c * in->h * in->w;
        float *dst = out->data + (size_t)c * h * w;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                dst[y * w + x] = area && (sy > 1 || sx > 1)
                                     ? sample_area(src, in->h, in->w, y * sy, x * sx, (y + 1) * sy,
                                                   (x + 1) * sx)
                                     : sample_bilinear(src, in->h, in->w, (y + 0.5f) * sy - 0.5f,
                                                       (x + 0.5f) * sx - 0.5f);
    }
    return INCEPT_OK;
}

void incept_image_crop(const incept_image *in, int top, int left, int h, int w, int mirror, float *out)
{
    for (int c = 0; c < in->c; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int sy = top + y, sx = left + (mirror ? w - 1 - x : x);
                int inside = sy >= 0 && sy < in->h && sx >= 0 && sx < in->w;
                out[((size_t)c * h + y) * w + x] =
                    inside ? in->data[((size_t)c * in->h + sy) * in->w + sx] : 0.0f;
            }
}

incept_status incept_preprocess_preset(const char *name, incept_preprocess *p)
{
    memset(p, 0, sizeof *p);
    if (name && !strcmp(name, "caffe")) { /* bvlc_googlenet: BGR, 0..255 minus the mean */
        *p = (incept_preprocess){1, {104.0f, 117.0f, 123.0f}, {1.0f, 1.0f, 1.0f}, 1.0f, 256, 0};
        return INCEPT_OK;
    }
    if (name && !strcmp(name, "torchvision")) { /* RGB in [0, 1], ImageNet mean and std */
        *p = (incept_preprocess){0, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f},
                                 1.0f / 255.0f, 256, 0};
        return INCEPT_OK;
    }
    return incept_fail(INCEPT_ERR_ARG, "unknown preset '%s' (caffe or torchvision)",
                       name ? name : "(none)");
}

void incept_image_normalize(const incept_preprocess *p, int h, int w, float *x)
{
    size_t plane = (size_t)h * w;
    if (p->bgr) /* Caffe's channel order: swap the R and B planes */
        for (size_t i = 0; i < plane; i++) {
            float t = x[i];
            x[i] = x[2 * plane + i];
            x[2 * plane + i] = t;
        }
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++)
            x[c * plane + i] = (x[c * plane + i] * p->scale - p->mean[c]) / p->std[c];
}

incept_status incept_image_prepare(const incept_image *image, const incept_preprocess *p, int h,
                                   int w, int crop_top, int crop_left, int mirror, float *out)
{
    incept_image scaled = {0, 0, 0, NULL};
    /* the shorter side to resize_shorter (in the model's scale: 256 for a 224 input) */
    int target = p->resize_shorter > 0 ? (int)lroundf((float)p->resize_shorter * h / 224.0f) : h;
    int sh = image->h <= image->w ? target : (int)lroundf((float)image->h * target / image->w);
    int sw = image->w < image->h ? target : (int)lroundf((float)image->w * target / image->h);
    if (sh < h)
        sh = h;
    if (sw < w)
        sw = w;
    incept_status st = incept_image_resize(image, sh, sw, p->area, &scaled);
    if (st)
        return st;
    int top = crop_top >= 0 ? crop_top : (sh - h) / 2, left = crop_left >= 0 ? crop_left : (sw - w) / 2;
    if (crop_top == -2)
        top = sh - h;
    if (crop_left == -2)
        left = sw - w;
    incept_image_crop(&scaled, top, left, h, w, mirror, out);
    incept_image_normalize(p, h, w, out);
    incept_image_free(&scaled);
    return INCEPT_OK;
}

/* A small generator for augmentation: splitmix64 over the caller's seed. */
static double next_uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

static double next_normal(uint64_t *state)
{
    double u1 = next_uniform(state) + 1e-12, u2 = next_uniform(state);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

incept_status incept_image_augment(const incept_image *image, const incept_preprocess *p, int h,
                                   int w, unsigned long long seed, float *out)
{
    uint64_t rng = seed;
    const double area = (double)image->h * image->w;
    int ch = image->h < image->w ? image->h : image->w, cw = ch; /* fallback: the centre square */
    int top = (image->h - ch) / 2, left = (image->w - cw) / 2;
    for (int attempt = 0; attempt < 10; attempt++) { /* 8%-100% of the area, aspect 3/4 to 4/3 */
        double s = 0.08 + 0.92 * next_uniform(&rng);
        double r = exp(log(3.0 / 4.0) + (log(4.0 / 3.0) - log(3.0 / 4.0)) * next_uniform(&rng));
        int tw = (int)lround(sqrt(s * area * r)), th = (int)lround(sqrt(s * area / r));
        if (tw >= 1 && th >= 1 && tw <= image->w && th <= image->h) {
            cw = tw, ch = th;
            top = (int)(next_uniform(&rng) * (image->h - th + 1));
            left = (int)(next_uniform(&rng) * (image->w - tw + 1));
            break;
        }
    }
    incept_image piece = {3, ch, cw, malloc(sizeof(float) * 3 * (size_t)ch * cw)}, sized;
    if (!piece.data)
        return incept_fail(INCEPT_ERR_NOMEM, "out of memory cropping an image");
    int mirror = next_uniform(&rng) < 0.5, area_filter = next_uniform(&rng) < 0.5;
    incept_image_crop(image, top, left, ch, cw, mirror, piece.data);
    incept_status st = incept_image_resize(&piece, h, w, area_filter, &sized);
    free(piece.data);
    if (st)
        return st;
    const size_t plane = (size_t)h * w;
    memcpy(out, sized.data, sizeof(float) * 3 * plane);
    incept_image_free(&sized);
    /* photometric distortions in random order of effect: brightness, contrast, saturation */
    double brightness = 0.6 + 0.8 * next_uniform(&rng), contrast = 0.6 + 0.8 * next_uniform(&rng);
    double saturation = 0.6 + 0.8 * next_uniform(&rng), mean = 0.0;
    for (size_t i = 0; i < 3 * plane; i++)
        out[i] = (float)(out[i] * brightness);
    for (size_t i = 0; i < plane; i++)
        mean += 0.299 * out[i] + 0.587 * out[plane + i] + 0.114 * out[2 * plane + i];
    mean /= (double)plane;
    for (size_t i = 0; i < 3 * plane; i++)
        out[i] = (float)(mean + contrast * (out[i] - mean));
    for (size_t i = 0; i < plane; i++) {
        double gray = 0.299 * out[i] + 0.587 * out[plane + i] + 0.114 * out[2 * plane + i];
        for (int c = 0; c < 3; c++)
            out[c * plane + i] = (float)(gray + saturation * (out[c * plane + i] - gray));
    }
    /* lighting noise along ImageNet's RGB principal components (AlexNet's PCA noise, sigma 0.1) */
    static const double eigval[3] = {0.2175, 0.0188, 0.0045};
    static const double eigvec[3][3] = {{-0.5675, 0.7192, 0.4009},
                                        {-0.5808, -0.0045, -0.8140},
                                        {-0.5836, -0.6948, 0.4203}};
    double alpha[3] = {0.1 * next_normal(&rng), 0.1 * next_normal(&rng), 0.1 * next_normal(&rng)};
    for (int c = 0; c < 3; c++) {
        double shift = 0.0;
        for (int k = 0; k < 3; k++)
            shift += eigvec[c][k] * alpha[k] * eigval[k] * 255.0;
        for (size_t i = 0; i < plane; i++) {
            double v = out[c * plane + i] + shift;
            out[c * plane + i] = (float)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    incept_image_normalize(p, h, w, out);
    return INCEPT_OK;
}
