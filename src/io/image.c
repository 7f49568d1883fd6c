/* image.c — what is done with a decoded picture (image_decode.c decodes it): bilinear or area
 * resizing, crops, the preprocessing of the two families of pretrained GoogLeNets (Caffe's BGR
 * mean subtraction, torchvision's normalized RGB) and the paper's training augmentation. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "incept.h"

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
        *p = (incept_preprocess){1, {104.0f, 117.0f, 123.0f}, {1.0f, 1.0f, 1.0f}, 1.0f, 256, 0, 0};
        return INCEPT_OK;
    }
    if (name && !strcmp(name, "torchvision")) { /* RGB in [0, 1], ImageNet mean and std */
        *p = (incept_preprocess){0, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f},
                                 1.0f / 255.0f, 256, 0, 0};
        return INCEPT_OK;
    }
    if (name && !strcmp(name, "fashion")) { /* gray in [-1, 1], as `incept train` standardizes idx */
        *p = (incept_preprocess){0, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}, 1.0f / 255.0f, 0, 1, 1};
        return INCEPT_OK;
    }
    return incept_fail(INCEPT_ERR_ARG, "unknown preset '%s' (caffe, torchvision or fashion)",
                       name ? name : "(none)");
}

void incept_image_normalize(const incept_preprocess *p, int h, int w, float *x)
{
    size_t plane = (size_t)h * w;
    if (p->gray) { /* one channel: the luma (ITU-R 601), into the first plane */
        for (size_t i = 0; i < plane; i++)
            x[i] = ((0.299f * x[i] + 0.587f * x[plane + i] + 0.114f * x[2 * plane + i]) * p->scale -
                    p->mean[0]) / p->std[0];
        return;
    }
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

/* For a gray network: RGB planes worked on in a scratch buffer, the first one kept. */
typedef struct {
    float *rgb;
} gray_scratch;

static float *planes_for(const incept_preprocess *p, int h, int w, float *out, gray_scratch *g)
{
    g->rgb = p->gray ? malloc(sizeof(float) * 3 * (size_t)h * w) : NULL;
    return p->gray ? g->rgb : out;
}

static incept_status gray_done(gray_scratch *g, int h, int w, float *out, incept_status st)
{
    if (g->rgb && !st)
        memcpy(out, g->rgb, sizeof(float) * (size_t)h * w);
    free(g->rgb);
    return st;
}

static incept_status prepare_rgb(const incept_image *image, const incept_preprocess *p, int h, int w,
                                 int crop_top, int crop_left, int mirror, float *out);
static incept_status augment_rgb(const incept_image *image, const incept_preprocess *p, int h, int w,
                                 unsigned long long seed, float *out);

incept_status incept_image_prepare(const incept_image *image, const incept_preprocess *p, int h,
                                   int w, int crop_top, int crop_left, int mirror, float *out)
{
    gray_scratch g;
    float *planes = planes_for(p, h, w, out, &g);
    if (!planes)
        return incept_fail(INCEPT_ERR_NOMEM, "out of memory preparing an image");
    return gray_done(&g, h, w, out, prepare_rgb(image, p, h, w, crop_top, crop_left, mirror, planes));
}

incept_status incept_image_augment(const incept_image *image, const incept_preprocess *p, int h,
                                   int w, unsigned long long seed, float *out)
{
    gray_scratch g;
    float *planes = planes_for(p, h, w, out, &g);
    if (!planes)
        return incept_fail(INCEPT_ERR_NOMEM, "out of memory preparing an image");
    return gray_done(&g, h, w, out, augment_rgb(image, p, h, w, seed, planes));
}

static incept_status prepare_rgb(const incept_image *image, const incept_preprocess *p, int h, int w,
                                 int crop_top, int crop_left, int mirror, float *out)
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

static incept_status augment_rgb(const incept_image *image, const incept_preprocess *p, int h, int w,
                                 unsigned long long seed, float *out)
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
