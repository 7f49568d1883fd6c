/* dataset.c — labelled image sets in memory: idx files (MNIST / Fashion-MNIST, gzip or plain,
 * read through zlib) and raw float32 tensors with float32 class indices (the format of
 * ../shared/reference). Every read is checked; errors name the file and what was wrong. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/status.h"
#include "incept.h"
#include "io/io.h"

struct incept_dataset {
    int n, c, h, w, classes;
    float *images; /* n x c x h x w */
    int *labels;   /* n */
};

void incept_dataset_free(incept_dataset *d)
{
    if (!d)
        return;
    free(d->images);
    free(d->labels);
    free(d);
}

void incept_dataset_dims(const incept_dataset *d, int *n, int *c, int *h, int *w, int *classes)
{
    if (n) *n = d->n;
    if (c) *c = d->c;
    if (h) *h = d->h;
    if (w) *w = d->w;
    if (classes) *classes = d->classes;
}

const float *incept_dataset_images(const incept_dataset *d) { return d->images; }
const int *incept_dataset_labels(const incept_dataset *d) { return d->labels; }

/* The whole of a gzip or plain file (zlib reads both) into memory. */
static incept_status read_gz(const char *path, unsigned char **data, size_t *size)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return incept_fail(INCEPT_ERR_IO, "%s: cannot open", path);
    size_t capacity = 1 << 20, used = 0;
    unsigned char *buf = incept_malloc(capacity);
    incept_status st = INCEPT_OK;
    while (buf) {
        if (used == capacity) {
            unsigned char *p = incept_realloc(buf, capacity * 2);
            if (!p)
                break;
            buf = p;
            capacity *= 2;
        }
        int got = gzread(f, buf + used, (unsigned)(capacity - used > (1u << 30) ? 1u << 30 : capacity - used));
        if (got < 0) {
            int code;
            st = incept_fail(INCEPT_ERR_FORMAT, "%s: corrupt compressed data (%s)", path, gzerror(f, &code));
            break;
        }
        if (got == 0)
            break;
        used += (size_t)got;
    }
    gzclose(f);
    if (!buf)
        return incept_fail_prefix(INCEPT_ERR_NOMEM, "%s: ", path);
    if (st) {
        free(buf);
        return st;
    }
    *data = buf;
    *size = used;
    return INCEPT_OK;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An idx file of unsigned bytes: magic 0x0000 08 NDIM, NDIM big-endian sizes, the data. */
static incept_status read_idx(const char *path, int want_dims, uint32_t dims[3], unsigned char **file,
                              const unsigned char **data)
{
    size_t size = 0;
    incept_status st = read_gz(path, file, &size);
    if (st)
        return st;
    const unsigned char *p = *file;
    if (size < 4 || p[0] || p[1] || p[2] != 0x08 || p[3] != want_dims) {
        free(*file);
        return incept_fail(INCEPT_ERR_FORMAT, "%s: not an idx file of %d-D unsigned bytes", path,
                           want_dims);
    }
    size_t expect = 4 + 4 * (size_t)want_dims, count = 1;
    if (size < expect) {
        free(*file);
        return incept_fail(INCEPT_ERR_FORMAT, "%s: truncated header", path);
    }
    for (int i = 0; i < want_dims; i++) {
        dims[i] = be32(p + 4 + 4 * i);
        count *= dims[i];
    }
    if (dims[0] == 0 || size != expect + count) {
        free(*file);
        return incept_fail(INCEPT_ERR_FORMAT, "%s: %zu bytes of data where the header promises %zu",
                           path, size - expect, count);
    }
    *data = p + expect;
    return INCEPT_OK;
}

incept_status incept_dataset_load_idx(const char *images_path, const char *labels_path,
                                      incept_dataset **out)
{
    if (!images_path || !labels_path || !out)
        return incept_fail(INCEPT_ERR_ARG, "load_idx needs two paths and an output handle");
    *out = NULL;
    uint32_t idims[3] = {0, 0, 0}, ldims[3] = {0, 0, 0};
    unsigned char *ifile = NULL, *lfile = NULL;
    const unsigned char *pixels = NULL, *classes = NULL;
    incept_status st = read_idx(images_path, 3, idims, &ifile, &pixels);
    if (st)
        return st;
    if ((st = read_idx(labels_path, 1, ldims, &lfile, &classes))) {
        free(ifile);
        return st;
    }
    incept_dataset *d = NULL;
    if (ldims[0] != idims[0]) {
        st = incept_fail(INCEPT_ERR_SHAPE, "%s has %u images but %s has %u labels", images_path,
                         idims[0], labels_path, ldims[0]);
        goto done;
    }
    d = incept_calloc(1, sizeof *d);
    size_t plane = (size_t)idims[1] * idims[2];
    if (!d || !(d->images = incept_malloc(sizeof(float) * plane * idims[0])) ||
        !(d->labels = incept_malloc(sizeof(int) * idims[0]))) {
        st = INCEPT_ERR_NOMEM;
        goto done;
    }
    d->n = (int)idims[0], d->c = 1, d->h = (int)idims[1], d->w = (int)idims[2];
    for (size_t i = 0; i < plane * idims[0]; i++)
        d->images[i] = (float)pixels[i] / 255.0f;
    for (int i = 0; i < d->n; i++) {
        d->labels[i] = classes[i];
        d->classes = classes[i] + 1 > d->classes ? classes[i] + 1 : d->classes;
    }
done:
    free(ifile);
    free(lfile);
    if (st) {
        incept_dataset_free(d);
        return st;
    }
    *out = d;
    return INCEPT_OK;
}

incept_status incept_dataset_load_raw(const char *inputs_path, const char *labels_path, int c, int h,
                                      int w, incept_dataset **out)
{
    if (!inputs_path || !labels_path || !out || c < 1 || h < 1 || w < 1)
        return incept_fail(INCEPT_ERR_ARG, "load_raw needs two paths, positive dims and a handle");
    *out = NULL;
    char *xs = NULL, *ys = NULL;
    size_t xsize, ysize;
    incept_status st = incept_read_file(inputs_path, &xs, &xsize);
    if (st)
        return st;
    if ((st = incept_read_file(labels_path, &ys, &ysize))) {
        free(xs);
        return st;
    }
    incept_dataset *d = NULL;
    size_t sample = (size_t)c * h * w * sizeof(float), n = ysize / sizeof(float);
    if (ysize % sizeof(float) || n == 0 || xsize != n * sample) {
        st = incept_fail(INCEPT_ERR_SHAPE, "%s: %zu bytes is not %zu samples of %dx%dx%d float32 "
                         "(the count %s gives)", inputs_path, xsize, n, c, h, w, labels_path);
        goto done;
    }
    d = incept_calloc(1, sizeof *d);
    if (!d || !(d->images = incept_malloc(xsize)) || !(d->labels = incept_malloc(sizeof(int) * n))) {
        st = INCEPT_ERR_NOMEM;
        goto done;
    }
    d->n = (int)n, d->c = c, d->h = h, d->w = w;
    memcpy(d->images, xs, xsize);
    for (size_t i = 0; i < n; i++) {
        float label;
        memcpy(&label, ys + i * sizeof(float), sizeof label);
        if (!(label >= 0.0f && label < 1e6f) || label != floorf(label)) {
            st = incept_fail(INCEPT_ERR_FORMAT, "%s: label %zu is %g, not a class index", labels_path,
                             i, (double)label);
            goto done;
        }
        d->labels[i] = (int)label;
        d->classes = d->labels[i] + 1 > d->classes ? d->labels[i] + 1 : d->classes;
    }
done:
    free(xs);
    free(ys);
    if (st) {
        incept_dataset_free(d);
        return st;
    }
    *out = d;
    return INCEPT_OK;
}

void incept_dataset_standardize(incept_dataset *d, float mean, float std)
{
    size_t count = (size_t)d->n * d->c * d->h * d->w;
    for (size_t i = 0; i < count; i++)
        d->images[i] = (d->images[i] - mean) / std;
}

void incept_dataset_moments(const incept_dataset *d, float *mean, float *std)
{
    size_t count = (size_t)d->n * d->c * d->h * d->w;
    double sum = 0.0, squares = 0.0;
    for (size_t i = 0; i < count; i++) {
        sum += d->images[i];
        squares += (double)d->images[i] * d->images[i];
    }
    double m = sum / (double)count, var = squares / (double)count - m * m;
    *mean = (float)m;
    *std = (float)sqrt(var > 1e-12 ? var : 1e-12);
}
