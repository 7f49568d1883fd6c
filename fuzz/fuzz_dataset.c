/* fuzz_dataset.c — libFuzzer harness: the dataset loaders. The first byte chooses idx (images and
 * labels, each plain or gzip'd, as zlib reads both) or raw float tensors (C, H, W from the next
 * three bytes); the rest is split at a point the second byte chooses into the two files. What
 * loads is standardized and fed through a loader for two batches with crops and flips. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    incept_set_limit(INCEPT_LIMIT_INFLATION, 0);
    int raw = data[0] & 1, c = 1 + (data[2] & 3), h = 1 + (data[3] & 15), w = 1 + (data[4] & 15);
    data += 5, size -= 5;
    size_t split = size * (size_t)data[-4] / 255;
    char first[256], second[256];
    if (!fuzz_write_file(data, split, ".images", first, sizeof first) ||
        !fuzz_write_file(data + split, size - split, ".labels", second, sizeof second))
        return 0;
    incept_dataset *d = NULL;
    incept_status st = raw ? incept_dataset_load_raw(first, second, c, h, w, &d)
                           : incept_dataset_load_idx(first, second, &d);
    if (st == INCEPT_OK) {
        float mean, std;
        incept_dataset_moments(d, &mean, &std);
        incept_dataset_standardize(d, mean, std > 0 ? std : 1.0f);
        incept_loader_options options = {3, 1, 1, 2, 1, 7, 0, 0};
        incept_loader *l = NULL;
        if (incept_loader_new(d, &options, 1, &l) == INCEPT_OK) {
            const float *images;
            const int *labels;
            int count;
            incept_loader_next(l, &images, &labels, &count);
            incept_loader_next(l, &images, &labels, &count);
            incept_loader_free(l);
        }
        incept_dataset_free(d);
    }
    remove(first);
    remove(second);
    return 0;
}
