/* loader.c — batches for training: a seeded shuffle per epoch, augmentation (a random crop from
 * the image padded with zeros, a random horizontal flip), and a background thread that prepares
 * the next batch while the current one trains, so compute never waits on data.
 *
 * Every random choice is a hash of (seed, epoch, position), never of timing: the same seed gives
 * the same batches whatever the thread interleaving, and a run resumed at a step sees the same
 * data as an uninterrupted one. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "incept.h"
#include "train/train.h"

struct incept_loader {
    const incept_dataset *data;
    incept_loader_options options;
    int n, c, h, w, batches;       /* batches per epoch */
    int *order;                    /* permutation of the current epoch */
    /* two buffers: the consumer reads one while the worker fills the other */
    float *images[2];
    int *labels[2];
    int count[2];
    long ready_step[2];            /* which global step each buffer holds, -1 none */
    long next_step;                /* the step the consumer asks for next */
    long worker_step;              /* the step the worker prepares next */
    int stop, thread_started;
    int is_folder;
    long errors;                   /* samples that could not be decoded (zeros instead) */
    char last_error[512];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
};

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The order of an epoch: Fisher-Yates driven by the hash of (seed, epoch, i). */
static void epoch_order(const incept_loader *l, long epoch, int *order)
{
    for (int i = 0; i < l->n; i++)
        order[i] = i;
    if (!l->options.shuffle)
        return;
    for (int i = l->n - 1; i > 0; i--) {
        uint64_t r = mix(l->options.seed ^ mix((uint64_t)epoch * 0x100000001b3ULL + (uint64_t)i));
        int j = (int)(r % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* Sample `index` into dst, cropped and flipped as the hash of (seed, epoch, slot) says. */
static void prepare_sample(incept_loader *l, int index, long epoch, long slot, float *dst)
{
    if (l->is_folder) { /* decoded here, with the paper's augmentation when asked */
        uint64_t seed = mix(l->options.seed ^ 0x2545f4914f6cdd1dULL ^ mix((uint64_t)epoch << 32 ^ (uint64_t)slot));
        if (incept_dataset_sample(l->data, index, l->options.augment, seed, dst) != INCEPT_OK) {
            memset(dst, 0, sizeof(float) * (size_t)l->c * l->h * l->w);
            pthread_mutex_lock(&l->lock);
            l->errors++;
            snprintf(l->last_error, sizeof l->last_error, "%s", incept_last_error());
            pthread_mutex_unlock(&l->lock);
        }
        return;
    }
    const float *src = incept_dataset_images(l->data) + (size_t)index * l->c * l->h * l->w;
    int dy = 0, dx = 0, flip = 0;
    if (l->options.augment) {
        uint64_t r = mix(l->options.seed ^ 0x5bd1e995ULL ^ mix((uint64_t)epoch << 32 ^ (uint64_t)slot));
        int span = 2 * l->options.pad + 1;
        dy = (int)(r % (uint64_t)span) - l->options.pad;
        dx = (int)((r >> 16) % (uint64_t)span) - l->options.pad;
        flip = l->options.flip && ((r >> 40) & 1);
    }
    for (int ch = 0; ch < l->c; ch++)
        for (int y = 0; y < l->h; y++)
            for (int x = 0; x < l->w; x++) {
                int sy = y + dy, sx = (flip ? l->w - 1 - x : x) + dx;
                dst[((size_t)ch * l->h + y) * l->w + x] =
                    sy >= 0 && sy < l->h && sx >= 0 && sx < l->w
                        ? src[((size_t)ch * l->h + sy) * l->w + sx] : 0.0f;
            }
}

/* Fills buffer b with global step `step` (epoch = step / batches). */
static void fill(incept_loader *l, int b, long step, int *order_scratch, long *order_epoch)
{
    long epoch = step / l->batches;
    int first = (int)(step % l->batches) * l->options.batch;
    if (*order_epoch != epoch) {
        epoch_order(l, epoch, order_scratch);
        *order_epoch = epoch;
    }
    int count = l->n - first < l->options.batch ? l->n - first : l->options.batch;
    int lo = 0, hi = count; /* this shard's part of the batch */
    if (l->options.shards > 1) {
        lo = (int)((long)count * l->options.shard / l->options.shards);
        hi = (int)((long)count * (l->options.shard + 1) / l->options.shards);
    }
    /* decoding images is the slow part: two threads of this loader share it */
#pragma omp parallel for num_threads(2) schedule(dynamic, 1) if (l->is_folder)
    for (int i = lo; i < hi; i++) {
        int index = order_scratch[first + i];
        prepare_sample(l, index, epoch, first + i, l->images[b] + (size_t)(i - lo) * l->c * l->h * l->w);
        l->labels[b][i - lo] = incept_dataset_labels(l->data)[index];
    }
    l->count[b] = hi - lo;
}

static void *worker(void *arg)
{
    incept_loader *l = arg;
    long order_epoch = -1;
    pthread_mutex_lock(&l->lock);
    while (!l->stop) {
        /* prepare the step the consumer asks for next, into the buffer it is not using: the
         * one it holds (step next_step - 1) has the other parity */
        long step = l->worker_step;
        int b = (int)(step & 1);
        if (step > l->next_step || l->ready_step[b] == step) {
            pthread_cond_wait(&l->changed, &l->lock);
            continue;
        }
        pthread_mutex_unlock(&l->lock);
        fill(l, b, step, l->order, &order_epoch);
        pthread_mutex_lock(&l->lock);
        l->ready_step[b] = step;
        l->worker_step = step + 1;
        pthread_cond_broadcast(&l->changed);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

incept_status incept_loader_new(const incept_dataset *data, const incept_loader_options *options,
                                long first_step, incept_loader **out)
{
    if (!data || !options || !out || options->batch < 1 || options->batch > INCEPT_BATCH_MAX ||
        options->pad < 0 || options->pad > INCEPT_CROP_PAD_MAX || first_step < 0 || options->shards < 0 ||
        options->shard < 0 || (options->shards > 0 && options->shard >= options->shards))
        return incept_fail(INCEPT_ERR_ARG, "loader needs a dataset, a batch of 1 to %d, a crop padding of "
                           "0 to %d and a first step >= 0", INCEPT_BATCH_MAX, INCEPT_CROP_PAD_MAX);
    *out = NULL;
    incept_loader *l = incept_calloc(1, sizeof *l);
    if (!l)
        return INCEPT_ERR_NOMEM;
    l->data = data;
    l->options = *options;
    incept_dataset_dims(data, &l->n, &l->c, &l->h, &l->w, NULL);
    l->is_folder = incept_dataset_images(data) == NULL;
    if (l->options.batch > l->n)
        l->options.batch = l->n;
    l->batches = (l->n + l->options.batch - 1) / l->options.batch;
    size_t sample = (size_t)l->c * l->h * l->w;
    l->order = incept_malloc(sizeof(int) * (size_t)l->n);
    for (int b = 0; b < 2; b++) {
        l->images[b] = incept_malloc(sizeof(float) * sample * (size_t)l->options.batch);
        l->labels[b] = incept_malloc(sizeof(int) * (size_t)l->options.batch);
        l->ready_step[b] = -1;
    }
    if (!l->order || !l->images[0] || !l->images[1] || !l->labels[0] || !l->labels[1]) {
        incept_loader_free(l);
        return INCEPT_ERR_NOMEM;
    }
    l->next_step = l->worker_step = first_step;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->changed, NULL);
    if (pthread_create(&l->thread, NULL, worker, l) != 0) {
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->changed);
        incept_loader_free(l);
        return incept_fail(INCEPT_ERR_NOMEM, "cannot start the data loading thread");
    }
    l->thread_started = 1;
    *out = l;
    return INCEPT_OK;
}

int incept_loader_batches_per_epoch(const incept_loader *l) { return l->batches; }

long incept_loader_errors(incept_loader *l, char *last, size_t size)
{
    pthread_mutex_lock(&l->lock);
    long errors = l->errors;
    if (last && size)
        snprintf(last, size, "%s", l->last_error);
    pthread_mutex_unlock(&l->lock);
    return errors;
}

void incept_loader_next(incept_loader *l, const float **images, const int **labels, int *count)
{
    pthread_mutex_lock(&l->lock);
    long step = l->next_step;
    int b = (int)(step & 1);
    while (l->ready_step[b] != step)
        pthread_cond_wait(&l->changed, &l->lock);
    *images = l->images[b];
    *labels = l->labels[b];
    *count = l->count[b];
    /* the buffer of the previous step is free again: the worker may fill it with the next */
    l->next_step = step + 1;
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->lock);
}

void incept_loader_free(incept_loader *l)
{
    if (!l)
        return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->lock);
        l->stop = 1;
        pthread_cond_broadcast(&l->changed);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->changed);
    }
    for (int b = 0; b < 2; b++) {
        free(l->images[b]);
        free(l->labels[b]);
    }
    free(l->order);
    free(l);
}
