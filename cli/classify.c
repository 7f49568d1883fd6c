/* classify.c — `incept classify MODEL... IMAGE...`: each image preprocessed as the preset says,
 * one crop or ten (corners, centre, and their mirrors), softmax averaged over crops and over
 * models (an ensemble, as the paper's 7 models), the top K printed or written as JSON. An image
 * that cannot be read gets an error line and the others carry on. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "incept.h"

static int is_model(const char *path)
{
    size_t n = strlen(path);
    return (n > 5 && !strcmp(path + n - 5, ".onnx")) || (n > 7 && !strcmp(path + n - 7, ".incept"));
}

/* One line per class from a labels file; NULL entries where it has fewer lines. */
static char **read_labels(const char *path, int classes)
{
    char **labels = calloc((size_t)classes, sizeof(char *)), line[1024];
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!labels || (path && !f)) {
        if (path)
            fprintf(stderr, "incept: %s: cannot read the labels\n", path);
        free(labels);
        if (f)
            fclose(f);
        return NULL;
    }
    for (int i = 0; f && i < classes && fgets(line, sizeof line, f); i++) {
        line[strcspn(line, "\r\n")] = '\0';
        labels[i] = strdup(line);
    }
    if (f)
        fclose(f);
    return labels;
}

static void json_string(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

/* Adds softmax(logits) / weight to probs (unless the model ends in a softmax already). */
static void add_probabilities(const float *z, int classes, int already, float weight, double *probs)
{
    double top = z[0], sum = 0.0;
    for (int j = 1; j < classes; j++)
        top = z[j] > top ? z[j] : top;
    for (int j = 0; j < classes && !already; j++)
        sum += exp(z[j] - top);
    for (int j = 0; j < classes; j++)
        probs[j] += weight * (already ? z[j] : exp(z[j] - top) / sum);
}

int cmd_classify(const options *o)
{
    const char *models[64];
    int n_models = 0, n_images = 0, rc = 0;
    for (int i = 0; i < o->n_positional; i++) {
        if (is_model(o->positional[i]) && n_models < 64)
            models[n_models++] = o->positional[i];
        else
            n_images++;
    }
    if (!n_models || !n_images) {
        fprintf(stderr, "incept: classify needs at least one MODEL (.onnx or .incept) and an IMAGE\n");
        return 2;
    }
    if (o->crops != 1 && o->crops != 10) {
        fprintf(stderr, "incept: --crops is 1 or 10\n");
        return 2;
    }
    incept_preprocess pre;
    if (incept_preprocess_preset(o->preset ? o->preset : "caffe", &pre))
        return cli_fail("--preset");
    incept_model *nets[64] = {0};
    int classes = 0, c = 0, h = 0, w = 0, ends_in_softmax[64] = {0};
    for (int k = 0; k < n_models; k++) {
        if (incept_model_load(models[k], k == 0 ? o->weights : NULL, &nets[k])) {
            rc = cli_fail(models[k]);
            goto done;
        }
        int mc, mh, mw, oc, oh, ow;
        incept_model_input_dims(nets[k], &mc, &mh, &mw);
        incept_model_output_dims(nets[k], &oc, &oh, &ow);
        if (k == 0)
            classes = oc * oh * ow, c = mc, h = mh, w = mw;
        if (mc != 3 || mh != h || mw != w || oc * oh * ow != classes) {
            fprintf(stderr, "incept: %s: every model of an ensemble takes 3x%dx%d images and gives %d "
                            "classes\n", models[k], h, w, classes);
            rc = 1;
            goto done;
        }
        incept_model_set_threads(nets[k], o->threads);
        ends_in_softmax[k] = incept_model_output_is_probability(nets[k]);
    }
    (void)c;
    char **labels = read_labels(o->labels_file, classes);
    if (!labels) {
        rc = 1;
        goto done;
    }
    int crops = o->crops, top_k = o->top > 0 ? (o->top < classes ? o->top : classes) : 5;
    float *batch = malloc(sizeof(float) * 3 * (size_t)h * w * crops);
    float *logits = malloc(sizeof(float) * (size_t)classes * crops);
    double *probs = malloc(sizeof(double) * (size_t)classes);
    for (int i = 0; i < o->n_positional && batch && logits && probs; i++) {
        const char *path = o->positional[i];
        if (is_model(path))
            continue;
        incept_image image;
        incept_status st = incept_image_load(path, &image);
        /* ten crops: the four corners and the centre, then the same mirrored */
        static const int corner[5][2] = {{-1, -1}, {0, 0}, {0, -2}, {-2, 0}, {-2, -2}};
        for (int k = 0; k < crops && !st; k++)
            st = incept_image_prepare(&image, &pre, h, w, corner[k % 5][0], corner[k % 5][1], k >= 5,
                                      batch + (size_t)k * 3 * h * w);
        for (int j = 0; j < classes; j++)
            probs[j] = 0.0;
        for (int m = 0; m < n_models && !st; m++) {
            st = incept_model_forward(nets[m], batch, crops, logits);
            for (int k = 0; k < crops && !st; k++)
                add_probabilities(logits + (size_t)k * classes, classes, ends_in_softmax[m],
                                  1.0f / ((float)crops * n_models), probs);
        }
        incept_image_free(&image);
        if (st) {
            rc = 1;
            if (o->json) {
                printf("{\"image\":");
                json_string(path);
                printf(",\"error\":");
                json_string(incept_last_error());
                printf("}\n");
            } else {
                printf("%s\n  error: %s\n", path, incept_last_error());
            }
            continue;
        }
        if (o->json) {
            printf("{\"image\":");
            json_string(path);
            printf(",\"top\":[");
        } else {
            printf("%s\n", path);
        }
        for (int r = 0; r < top_k; r++) {
            int best = -1;
            for (int j = 0; j < classes; j++)
                if (probs[j] >= 0 && (best < 0 || probs[j] > probs[best]))
                    best = j;
            if (o->json) {
                printf("%s{\"class\":%d,\"label\":", r ? "," : "", best);
                json_string(labels[best] ? labels[best] : "");
                printf(",\"p\":%.6f}", probs[best]);
            } else {
                printf("  %8.4f  %4d  %s\n", probs[best], best, labels[best] ? labels[best] : "");
            }
            probs[best] = -1.0; /* taken */
        }
        if (o->json)
            printf("]}\n");
    }
    if (!batch || !logits || !probs) {
        fprintf(stderr, "incept: out of memory\n");
        rc = 1;
    }
    free(batch);
    free(logits);
    free(probs);
    for (int j = 0; j < classes; j++)
        free(labels[j]);
    free(labels);
done:
    for (int k = 0; k < n_models; k++)
        incept_model_free(nets[k]);
    return rc;
}
