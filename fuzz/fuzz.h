/* fuzz.h — what the harnesses share: running a model a file gave on bounded zero inputs (every
 * input of at most FUZZ_MAX_ELEMENTS elements, its dynamic sizes 1) and training it one step, so
 * that a hostile file is exercised through the forward and backward passes without asking for
 * unbounded work; the bytes as a file for the loaders that take paths; the replay main. */
#ifndef INCEPT_FUZZ_H
#define INCEPT_FUZZ_H

#include <stdlib.h>
#include <string.h>

#include "incept.h"

#define FUZZ_MAX_ELEMENTS 4096
#define FUZZ_MAX_MACS 20000000LL /* a description may describe a big model: do not run those */

/* Models of at most 2^22 parameters (16 MB): a file may describe a bigger one, which is not a
 * finding but takes long to build under the sanitizers. */
#define FUZZ_MAX_PARAMS ((size_t)1 << 22)

/* Whether every layer's output is at most FUZZ_MAX_LAYER_ELEMENTS a sample: a description may
 * describe big activations (a pad of 1010 on every side) whose passes take long under the
 * sanitizers without being a finding. */
#define FUZZ_MAX_LAYER_ELEMENTS (1 << 18)
static inline int fuzz_small_layers(const incept_model *m)
{
    for (int i = 0; i < incept_model_layer_count(m); i++) {
        int rank = 0;
        long long dims[INCEPT_MAX_RANK], count = 1;
        if (incept_model_layer(m, i, NULL, NULL, &rank, dims) != INCEPT_OK)
            return 0;
        for (int d = 1; d < rank; d++)
            if (dims[d] > 0 && (count *= dims[d]) > FUZZ_MAX_LAYER_ELEMENTS)
                return 0;
    }
    return 1;
}

static inline void fuzz_run(incept_model *m)
{
    int n_in = incept_model_inputs(m);
    if (n_in < 0 || n_in > 8)
        return;
    incept_tensor in[8];
    memset(in, 0, sizeof in);
    int ok = 1;
    for (int i = 0; i < n_in && ok; i++) {
        incept_dtype dtype = INCEPT_FLOAT32;
        int rank = incept_model_input_shape(m, i, &dtype, in[i].dims);
        size_t count = 1;
        ok = rank >= 0 && rank <= INCEPT_MAX_RANK;
        for (int d = 0; ok && d < rank; d++) {
            if (in[i].dims[d] < 0)
                in[i].dims[d] = 1;
            ok = in[i].dims[d] <= FUZZ_MAX_ELEMENTS && (count *= (size_t)in[i].dims[d]) <= FUZZ_MAX_ELEMENTS;
        }
        in[i].dtype = dtype, in[i].rank = rank;
        in[i].data = ok ? calloc(count ? count : 1, 8) : NULL;
        ok = ok && in[i].data;
    }
    incept_totals totals = {0, 0, 0, 0};
    incept_session *s = NULL;
    ok = ok && fuzz_small_layers(m);
    if (ok && incept_model_summary(m, NULL, &totals) == INCEPT_OK && totals.multiply_adds <= FUZZ_MAX_MACS &&
        incept_session_new(m, &s) == INCEPT_OK) {
        incept_tensor out[4];
        memset(out, 0, sizeof out);
        int n_out = incept_model_outputs(m) < 4 ? incept_model_outputs(m) : 4;
        if (incept_session_run(s, n_in, NULL, in, n_out, NULL, out) == INCEPT_OK)
            for (int k = 0; k < n_out; k++)
                incept_tensor_free(&out[k]);
    }
    incept_session_free(s);
    for (int i = 0; i < n_in; i++)
        free(in[i].data);
}

/* One training step at batch 2 on zeros (labels 0 and the last class) for a model of one NCHW
 * input the forward bound allows; the step's failure is not a finding, its crash is. */
static inline void fuzz_train_step(incept_model *m)
{
    int c, h, w, classes, oh, ow;
    incept_model_input_dims(m, &c, &h, &w);
    incept_model_output_dims(m, &classes, &oh, &ow);
    incept_totals totals = {0, 0, 0, 0};
    size_t per = (size_t)c * h * w;
    if (c < 1 || h < 1 || w < 1 || per > FUZZ_MAX_ELEMENTS / 2 || classes < 1 || !fuzz_small_layers(m) ||
        incept_model_summary(m, NULL, &totals) != INCEPT_OK ||
        totals.multiply_adds + totals.aux_multiply_adds > FUZZ_MAX_MACS / 4)
        return;
    float *x = calloc(2 * per, sizeof(float));
    int labels[2] = {0, classes - 1};
    incept_session *s = NULL;
    if (x && incept_session_new(m, &s) == INCEPT_OK) {
        float loss;
        const incept_sgd sgd = {0.01f, 0.9f, 1e-4f, 0};
        if (incept_session_train_step(s, x, labels, 2, &loss) == INCEPT_OK)
            incept_session_sgd_step(s, &sgd);
    }
    incept_session_free(s);
    free(x);
}

/* The bytes as a file of this process (path receives its name): the loaders that take paths.
 * 0 if it could not be written. */
#include <stdio.h>
#include <unistd.h>
static inline int fuzz_write_file(const void *data, size_t size, const char *suffix, char *path, size_t room)
{
    snprintf(path, room, "/tmp/incept-fuzz-%d%s", (int)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    int ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

#ifdef FUZZ_REPLAY_MAIN
/* Without libFuzzer: every file of the folders named on the command line through the harness
 * (the seed corpus and tests/fuzz_regressions/NAME, replayed by ctest under ASan). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    int files = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        for (struct dirent *e; d && (e = readdir(d));) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            FILE *f = fopen(path, "rb");
            if (!f)
                continue;
            unsigned char *data = malloc(1 << 20);
            size_t size = data ? fread(data, 1, 1 << 20, f) : 0;
            fclose(f);
            if (data)
                LLVMFuzzerTestOneInput(data, size);
            free(data);
            files++;
        }
        if (d)
            closedir(d);
    }
    printf("%d inputs replayed, none crashed\n", files);
    return files > 0 ? 0 : 1;
}
#endif

#endif
