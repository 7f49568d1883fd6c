/* fuzz.h — what the harnesses share: running a model a file gave on bounded zero inputs (every
 * input of at most FUZZ_MAX_ELEMENTS elements, its dynamic sizes 1), so that a hostile file is
 * exercised through the forward pass without asking for unbounded work. */
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

static void fuzz_run(incept_model *m)
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
