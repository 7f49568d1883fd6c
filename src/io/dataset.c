/* dataset.c — labelled image sets as the trainer and evaluation see them: samples in memory,
 * or an image folder's files decoded one by one (prepared or augmented as asked); their
 * statistics. What reads them from files is dataset_files.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "incept.h"
#include "io/dataset.h"

void incept_dataset_free(incept_dataset *d)
{
    if (!d)
        return;
    for (int i = 0; d->paths && i < d->n; i++)
        free(d->paths[i]);
    for (int i = 0; d->class_names && i < d->classes; i++)
        free(d->class_names[i]);
    free(d->paths);
    free(d->class_names);
    free(d->images);
    free(d->labels);
    free(d);
}

const char *incept_dataset_class_name(const incept_dataset *d, int k)
{
    return d->class_names && k >= 0 && k < d->classes ? d->class_names[k] : NULL;
}

incept_status incept_dataset_sample(const incept_dataset *d, int index, int augment,
                                    unsigned long long seed, float *out)
{
    size_t count = (size_t)d->c * d->h * d->w;
    if (index < 0 || index >= d->n)
        return incept_fail(INCEPT_ERR_ARG, "no sample %d", index);
    if (d->images) {
        memcpy(out, d->images + (size_t)index * count, count * sizeof(float));
        return INCEPT_OK;
    }
    incept_image image;
    incept_status st = incept_image_load(d->paths[index], &image);
    if (st)
        return st;
    st = augment ? incept_image_augment(&image, &d->preprocess, d->h, d->w, seed, out)
                 : incept_image_prepare(&image, &d->preprocess, d->h, d->w, -1, -1, 0, out);
    incept_image_free(&image);
    return st;
}

void incept_dataset_dims(const incept_dataset *d, int *n, int *c, int *h, int *w, int *classes)
{
    if (n) *n = d->n;
    if (c) *c = d->c;
    if (h) *h = d->h;
    if (w) *w = d->w;
    if (classes) *classes = d->classes;
}

incept_status incept_dataset_split(const incept_dataset *d, int first, int count, incept_dataset **out)
{
    if (!d || !out)
        return incept_fail(INCEPT_ERR_ARG, "dataset_split needs a dataset and somewhere to put it");
    *out = NULL;
    if (first < 0 || count < 1 || first > d->n || count > d->n - first)
        return incept_fail(INCEPT_ERR_ARG, "samples %d to %lld are not a range of the dataset's %d",
                           first, (long long)first + count - 1, d->n);
    incept_dataset *part = incept_calloc(1, sizeof *part);
    if (!part)
        return INCEPT_ERR_NOMEM;
    part->n = count, part->c = d->c, part->h = d->h, part->w = d->w, part->classes = d->classes;
    part->preprocess = d->preprocess;
    const size_t sample = (size_t)d->c * d->h * d->w; /* sizes the source was allocated with */
    part->labels = incept_malloc(sizeof(int) * (size_t)count);
    int ok = part->labels != NULL;
    if (ok)
        memcpy(part->labels, d->labels + first, sizeof(int) * (size_t)count);
    if (ok && d->images && (ok = (part->images = incept_alloc_floats(sample * (size_t)count)) != NULL))
        memcpy(part->images, d->images + sample * (size_t)first, sizeof(float) * sample * (size_t)count);
    if (ok && d->paths && (ok = (part->paths = incept_calloc((size_t)count, sizeof(char *))) != NULL))
        for (int i = 0; i < count && ok; i++)
            ok = (part->paths[i] = strdup(d->paths[first + i])) != NULL;
    if (ok && d->class_names &&
        (ok = (part->class_names = incept_calloc((size_t)d->classes, sizeof(char *))) != NULL))
        for (int k = 0; k < d->classes && ok; k++)
            ok = (part->class_names[k] = strdup(d->class_names[k])) != NULL;
    if (!ok) {
        incept_dataset_free(part);
        return INCEPT_ERR_NOMEM;
    }
    *out = part;
    return INCEPT_OK;
}

const float *incept_dataset_images(const incept_dataset *d) { return d->images; }
const int *incept_dataset_labels(const incept_dataset *d) { return d->labels; }

void incept_dataset_standardize(incept_dataset *d, float mean, float std)
{
    if (!d->images)
        return; /* image folders are normalized as they are decoded */
    size_t count = (size_t)d->n * d->c * d->h * d->w;
    for (size_t i = 0; i < count; i++)
        d->images[i] = (d->images[i] - mean) / std;
}

void incept_dataset_moments(const incept_dataset *d, float *mean, float *std)
{
    if (!d->images) {
        *mean = 0.0f, *std = 1.0f;
        return;
    }
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
