/* dataset_files.c — datasets from files: idx pairs (MNIST / Fashion-MNIST, gzip or plain, read
 * through zlib within the inflation limit), raw float32 tensors with float32 class indices (the
 * format of ../shared/reference), and image folders (one subfolder of JPEG/PNG files per class,
 * the ImageNet layout). Every size is checked before it is multiplied or allocated; errors name
 * the file. Left out of a build with INCEPT_WITH_DATASETS=OFF (dataset_none.c stands in). */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/checked.h"
#include "core/limits.h"
#include "core/status.h"
#include "incept.h"
#include "io/dataset.h"
#include "io/io.h"

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return 0;
    char ext[8] = "";
    for (int i = 0; i < 7 && dot[i + 1]; i++)
        ext[i] = (char)(dot[i + 1] | 0x20);
    return !strcmp(ext, "jpg") || !strcmp(ext, "jpeg") || !strcmp(ext, "png");
}

/* The sorted names in dir that are folders (want_dirs) or image files. */
static incept_status list_dir(const char *dir, int want_dirs, char ***names, int *count)
{
    DIR *d = opendir(dir);
    if (!d)
        return incept_fail(INCEPT_ERR_IO, "%s: cannot open the folder", dir);
    char **list = NULL;
    int n = 0, cap = 0;
    incept_status st = INCEPT_OK;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        struct stat info;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &info) != 0)
            continue;
        if (want_dirs ? !S_ISDIR(info.st_mode) : !(S_ISREG(info.st_mode) && is_image_name(e->d_name)))
            continue;
        char *copy = incept_strdup(e->d_name);
        if (!copy || incept_grow((void **)&list, &cap, n, sizeof *list)) {
            free(copy);
            st = INCEPT_ERR_NOMEM;
            break;
        }
        list[n++] = copy;
    }
    closedir(d);
    if (st) {
        for (int i = 0; i < n; i++)
            free(list[i]);
        free(list);
        return st;
    }
    if (n)
        qsort(list, (size_t)n, sizeof *list, compare_names);
    *names = list;
    *count = n;
    return INCEPT_OK;
}

incept_status incept_dataset_load_folder(const char *dir, int h, int w,
                                         const incept_preprocess *preprocess, incept_dataset **out)
{
    if (!dir || !preprocess || !out || h < 1 || w < 1)
        return incept_fail(INCEPT_ERR_ARG, "load_folder needs a folder, a size and a preprocessing");
    *out = NULL;
    incept_dataset *d = incept_calloc(1, sizeof *d);
    if (!d)
        return INCEPT_ERR_NOMEM;
    d->c = 3, d->h = h, d->w = w, d->preprocess = *preprocess;
    incept_status st = list_dir(dir, 1, &d->class_names, &d->classes);
    int cap = 0;
    for (int k = 0; k < d->classes && !st; k++) {
        char sub[4096], **files = NULL;
        int count = 0;
        snprintf(sub, sizeof sub, "%s/%s", dir, d->class_names[k]);
        if ((st = list_dir(sub, 0, &files, &count)))
            break;
        for (int i = 0; i < count; i++) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", sub, files[i]);
            free(files[i]);
            if (st)
                continue;
            int cap_labels = cap;
            char *copy = incept_strdup(path);
            if (!copy || incept_grow((void **)&d->paths, &cap, d->n, sizeof *d->paths) ||
                incept_grow((void **)&d->labels, &cap_labels, d->n, sizeof *d->labels)) {
                free(copy);
                st = INCEPT_ERR_NOMEM;
                continue;
            }
            d->paths[d->n] = copy;
            d->labels[d->n++] = k;
        }
        free(files);
    }
    if (!st && (d->classes == 0 || d->n == 0))
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: no class folders with JPEG or PNG images", dir);
    if (st) {
        incept_dataset_free(d);
        return st;
    }
    *out = d;
    return INCEPT_OK;
}

/* The whole of a gzip or plain file (zlib reads both) into memory, inflating to at most
 * INCEPT_LIMIT_INFLATION times the file's size (checked as it inflates: a few megabytes of
 * compressed zeros cannot claim gigabytes). */
static incept_status read_gz(const char *path, unsigned char **data, size_t *size)
{
    struct stat info;
    if (stat(path, &info) != 0)
        return incept_fail(INCEPT_ERR_IO, "%s: cannot open", path);
    size_t ratio = incept_limit(INCEPT_LIMIT_INFLATION), most;
    if (!incept_mul_size((size_t)info.st_size, ratio, &most))
        most = SIZE_MAX;
    if (most < (1u << 16))
        most = 1u << 16; /* a small file may hold a gzip header's worth more */
    gzFile f = gzopen(path, "rb");
    if (!f)
        return incept_fail(INCEPT_ERR_IO, "%s: cannot open", path);
    size_t capacity = 1 << 20, used = 0;
    unsigned char *buf = incept_malloc(capacity);
    incept_status st = INCEPT_OK;
    while (buf) {
        if (used == capacity) { /* grown to one byte past the most it may hold, no further */
            size_t grown = capacity > (most + 1) / 2 ? most + 1 : capacity * 2;
            unsigned char *p = incept_realloc(buf, grown);
            if (!p)
                break;
            buf = p;
            capacity = grown;
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
        if (used > most) {
            st = incept_fail(INCEPT_ERR_FORMAT, "%s: inflates past %zu times its %lld bytes (the limit, "
                             "INCEPT_LIMIT_INFLATION)", path, ratio, (long long)info.st_size);
            break;
        }
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
    int fits = 1; /* sizes from the header: their product may not wrap */
    for (int i = 0; i < want_dims; i++) {
        dims[i] = be32(p + 4 + 4 * i);
        fits = fits && incept_mul_size(count, dims[i], &count);
    }
    if (!fits || dims[0] == 0 || size - expect != count) {
        if (!fits) {
            free(*file);
            return incept_fail(INCEPT_ERR_FORMAT, "%s: the header's sizes multiply past any file", path);
        }
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
    if (idims[0] > INT32_MAX || idims[1] > INT32_MAX || idims[2] > INT32_MAX) {
        free(ifile), free(lfile);
        return incept_fail(INCEPT_ERR_FORMAT, "%s: a size in the header above 2^31", images_path);
    }
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
    size_t sample = sizeof(float), n = ysize / sizeof(float), total = 0;
    int fits = incept_mul_size(sample, (size_t)c, &sample) && incept_mul_size(sample, (size_t)h, &sample) &&
               incept_mul_size(sample, (size_t)w, &sample) && incept_mul_size(n, sample, &total) &&
               n <= INT32_MAX;
    if (ysize % sizeof(float) || n == 0 || !fits || xsize != total) {
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
