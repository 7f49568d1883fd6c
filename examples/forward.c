/* forward.c — using libincept from C: load a model, run a batch, print the top classes.
 *
 *   example_forward MODEL [INPUT.bin]
 *
 * A model holds the network and its weights; a session runs it. Without INPUT.bin the input is
 * generated. Build: cc forward.c -lincept (see CMakeLists.txt). */
#include <stdio.h>
#include <stdlib.h>

#include "incept.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [INPUT.bin]\n", argv[0]);
        return 2;
    }
    incept_model *model;
    incept_session *session;
    if (incept_model_load(argv[1], NULL, &model) != INCEPT_OK) {
        fprintf(stderr, "error: %s\n", incept_last_error());
        return 1;
    }
    if (incept_session_new(model, &session) != INCEPT_OK) {
        fprintf(stderr, "error: %s\n", incept_last_error());
        incept_model_free(model);
        return 1;
    }
    int c, h, w, classes;
    incept_model_input_dims(model, &c, &h, &w);
    incept_model_output_dims(model, &classes, NULL, NULL);
    size_t n = (size_t)c * h * w;
    float *input = malloc(n * sizeof(float)), *logits = malloc((size_t)classes * sizeof(float));
    int rc = 1;
    if (!input || !logits)
        goto done;
    if (argc > 2) {
        FILE *f = fopen(argv[2], "rb");
        size_t got = f ? fread(input, sizeof(float), n, f) : 0;
        if (f)
            fclose(f);
        if (got != n) {
            fprintf(stderr, "error: %s: expected %zu floats\n", argv[2], n);
            goto done;
        }
    } else {
        for (size_t i = 0; i < n; i++)
            input[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    }
    incept_session_set_threads(session, 2);
    if (incept_session_forward(session, input, 1, logits) != INCEPT_OK) {
        fprintf(stderr, "error: %s\n", incept_last_error());
        goto done;
    }
    for (int rank = 0; rank < 5 && rank < classes; rank++) { /* top 5 by selection */
        int best = -1;
        for (int k = 0; k < classes; k++)
            if (logits[k] == logits[k] && (best < 0 || logits[k] > logits[best]))
                best = k;
        printf("%d. class %d (logit %.4f)\n", rank + 1, best, (double)logits[best]);
        logits[best] = 0.0f / 0.0f; /* NaN: taken */
    }
    rc = 0;
done:
    free(input);
    free(logits);
    incept_session_free(session);
    incept_model_free(model);
    return rc;
}
