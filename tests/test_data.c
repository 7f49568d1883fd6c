/* test_data.c — datasets and the batch loader: idx files (gzip and plain) and raw tensors read
 * right and rejected clearly when wrong; batches that are a permutation per epoch, the same for
 * the same seed, the same when a run restarts at a step, and augmented within bounds. */
#include <unistd.h>
#include <zlib.h>

#include "incept.h"
#include "test.h"

static void write_idx(const char *path, int gz, const unsigned char *header, size_t header_len,
                      const unsigned char *data, size_t len)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, header, (unsigned)header_len);
        gzwrite(f, data, (unsigned)len);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(header, 1, header_len, f);
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

static void test_idx(void)
{
    unsigned char images[10 * 4 * 5], labels[10];
    for (int i = 0; i < 200; i++)
        images[i] = (unsigned char)(i * 7);
    for (int i = 0; i < 10; i++)
        labels[i] = (unsigned char)(i % 3);
    const unsigned char ih[16] = {0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 4, 0, 0, 0, 5};
    const unsigned char lh[8] = {0, 0, 8, 1, 0, 0, 0, 10};
    for (int gz = 0; gz <= 1; gz++) {
        write_idx("/tmp/incept_idx_images", gz, ih, 16, images, sizeof images);
        write_idx("/tmp/incept_idx_labels", gz, lh, 8, labels, sizeof labels);
        incept_dataset *d = NULL;
        CHECK_OK(incept_dataset_load_idx("/tmp/incept_idx_images", "/tmp/incept_idx_labels", &d));
        if (!d)
            continue;
        int n, c, h, w, classes;
        incept_dataset_dims(d, &n, &c, &h, &w, &classes);
        CHECK(n == 10 && c == 1 && h == 4 && w == 5 && classes == 3);
        CHECK(incept_dataset_images(d)[13] == (float)(13 * 7 % 256) / 255.0f);
        CHECK(incept_dataset_labels(d)[7] == 1);
        float mean, std;
        incept_dataset_moments(d, &mean, &std);
        incept_dataset_standardize(d, mean, std);
        incept_dataset_moments(d, &mean, &std);
        CHECK(fabsf(mean) < 1e-5f && fabsf(std - 1.0f) < 1e-4f);
        incept_dataset_free(d);
    }
    incept_dataset *d = (incept_dataset *)&d;
    write_idx("/tmp/incept_idx_images", 1, ih, 16, images, sizeof images - 7); /* truncated */
    CHECK(incept_dataset_load_idx("/tmp/incept_idx_images", "/tmp/incept_idx_labels", &d) == INCEPT_ERR_FORMAT);
    CHECK(d == NULL && strstr(incept_last_error(), "/tmp/incept_idx_images"));
    write_idx("/tmp/incept_idx_images", 0, ih, 16, images, sizeof images);
    const unsigned char lh9[8] = {0, 0, 8, 1, 0, 0, 0, 9};
    write_idx("/tmp/incept_idx_labels", 0, lh9, 8, labels, 9);
    CHECK(incept_dataset_load_idx("/tmp/incept_idx_images", "/tmp/incept_idx_labels", &d) == INCEPT_ERR_SHAPE);
    CHECK(incept_dataset_load_idx("/tmp/incept_idx_labels", "/tmp/incept_idx_labels", &d) == INCEPT_ERR_FORMAT);
    CHECK(incept_dataset_load_idx("/tmp/no_such_idx", "/tmp/incept_idx_labels", &d) == INCEPT_ERR_IO);

    /* raw: 3 samples of 2x2x2 and float class indices */
    float x[24], y[3] = {2, 0, 1};
    for (int i = 0; i < 24; i++)
        x[i] = (float)i;
    FILE *f = fopen("/tmp/incept_raw_x", "wb");
    fwrite(x, sizeof x, 1, f);
    fclose(f);
    f = fopen("/tmp/incept_raw_y", "wb");
    fwrite(y, sizeof y, 1, f);
    fclose(f);
    CHECK_OK(incept_dataset_load_raw("/tmp/incept_raw_x", "/tmp/incept_raw_y", 2, 2, 2, &d));
    if (d) {
        CHECK(incept_dataset_labels(d)[0] == 2 && incept_dataset_images(d)[23] == 23.0f);
        incept_dataset *part = NULL; /* a held-out split: samples 1 and 2 */
        CHECK_OK(incept_dataset_split(d, 1, 2, &part));
        if (part) {
            int n, c, h, w;
            incept_dataset_dims(part, &n, &c, &h, &w, NULL);
            CHECK(n == 2 && c == 2 && h == 2 && w == 2);
            CHECK(incept_dataset_labels(part)[0] == 0 && incept_dataset_labels(part)[1] == 1);
            CHECK(incept_dataset_images(part)[0] == 8.0f && incept_dataset_images(part)[15] == 23.0f);
            incept_dataset_free(part);
        }
        CHECK(incept_dataset_split(d, 2, 2, &part) == INCEPT_ERR_ARG && !part);
        CHECK(incept_dataset_split(d, -1, 1, &part) == INCEPT_ERR_ARG);
        CHECK(incept_dataset_split(d, 0, 0, &part) == INCEPT_ERR_ARG);
        CHECK(incept_dataset_split(d, 3, 2147483647, &part) == INCEPT_ERR_ARG);
        incept_dataset_free(d);
    }
    CHECK(incept_dataset_load_raw("/tmp/incept_raw_x", "/tmp/incept_raw_y", 3, 2, 2, &d) == INCEPT_ERR_SHAPE);
    unlink("/tmp/incept_idx_images");
    unlink("/tmp/incept_idx_labels");
    unlink("/tmp/incept_raw_x");
    unlink("/tmp/incept_raw_y");
}

/* A dataset of 50 4x4 images whose pixels all hold the image's index. */
static incept_dataset *indexed_dataset(void)
{
    float x[50 * 16], y[50];
    for (int i = 0; i < 50; i++) {
        for (int p = 0; p < 16; p++)
            x[i * 16 + p] = (float)i;
        y[i] = (float)(i % 5);
    }
    FILE *f = fopen("/tmp/incept_loader_x", "wb");
    fwrite(x, sizeof x, 1, f);
    fclose(f);
    f = fopen("/tmp/incept_loader_y", "wb");
    fwrite(y, sizeof y, 1, f);
    fclose(f);
    incept_dataset *d = NULL;
    CHECK_OK(incept_dataset_load_raw("/tmp/incept_loader_x", "/tmp/incept_loader_y", 1, 4, 4, &d));
    unlink("/tmp/incept_loader_x");
    unlink("/tmp/incept_loader_y");
    return d;
}

/* The image index of each sample of `steps` batches (-1 where a crop left only padding). */
static void record(incept_dataset *d, const incept_loader_options *o, long first, int steps, int *out)
{
    incept_loader *l = NULL;
    CHECK_OK(incept_loader_new(d, o, first, &l));
    for (int s = 0; s < steps && l; s++) {
        const float *images;
        const int *labels;
        int count;
        incept_loader_next(l, &images, &labels, &count);
        for (int i = 0; i < o->batch; i++) {
            float top = -1.0f; /* the largest pixel: the image index, padding being 0 */
            for (int p = 0; p < 16 && i < count; p++)
                top = images[i * 16 + p] > top ? images[i * 16 + p] : top;
            out[s * o->batch + i] = i < count ? (int)top : -2;
            if (i < count)
                CHECK(labels[i] == (int)top % 5 || top == 0.0f);
        }
    }
    incept_loader_free(l);
}

static void test_loader(void)
{
    incept_dataset *d = indexed_dataset();
    if (!d)
        return;
    incept_loader_options o = {16, 1, 0, 0, 0, 42, 0, 0};
    int a[64], b[64], c[16];
    record(d, &o, 0, 4, a); /* 4 batches of 16 per epoch: 16, 16, 16, 2 */
    int seen[50] = {0}, ok = 1;
    for (int i = 0; i < 64; i++)
        if (a[i] >= 0)
            seen[a[i]]++;
    for (int i = 0; i < 50; i++)
        ok &= seen[i] == 1;
    CHECK_MSG(ok, "%s", "an epoch visits every image once");
    record(d, &o, 0, 4, b);
    CHECK(memcmp(a, b, sizeof a) == 0);          /* same seed, same batches */
    record(d, &o, 2, 1, c);
    CHECK(memcmp(a + 32, c, sizeof c) == 0);     /* restarted at step 2: step 2's batch */
    record(d, &o, 4, 4, b);
    CHECK(memcmp(a, b, sizeof a) != 0);          /* the next epoch is shuffled anew */
    o.seed = 43;
    record(d, &o, 0, 1, c);
    CHECK(memcmp(a, c, sizeof c) != 0);          /* another seed, another order */
    o.shuffle = 0;
    record(d, &o, 0, 1, c);
    CHECK(c[0] == 0 && c[15] == 15);             /* unshuffled: in order */

    /* augmented: a crop of the padded image moves the content, never invents it */
    o.augment = 1, o.pad = 2, o.flip = 1, o.shuffle = 0;
    incept_loader *l = NULL;
    CHECK_OK(incept_loader_new(d, &o, 0, &l));
    const float *images;
    const int *labels;
    int count, moved = 0, bad = 0;
    incept_loader_next(l, &images, &labels, &count);
    for (int i = 0; i < count; i++) {
        int zeros = 0;
        for (int p = 0; p < 16; p++) {
            zeros += images[i * 16 + p] == 0.0f;
            bad += images[i * 16 + p] != 0.0f && images[i * 16 + p] != (float)i;
        }
        moved += zeros > 0;
    }
    CHECK(bad == 0 && moved > 0);
    incept_loader_free(l);
    incept_dataset_free(d);
}

int main(void)
{
    if (!INCEPT_WITH_DATASETS) {
        printf("test_data: skipped: this build reads no dataset files (INCEPT_WITH_DATASETS=OFF)\n");
        return 77;
    }
    test_idx();
    test_loader();
    return test_summary("test_data");
}
