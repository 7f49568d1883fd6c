/* classify.c — `incept classify MODEL... IMAGE...`: each image preprocessed as the preset says,
 * one crop, ten (corners, centre, and their mirrors) or the paper's 144, softmax averaged over
 * crops and over models (an ensemble, as the paper's 7 models), the top K printed or written as
 * JSON. An image that cannot be read gets an error line and the others carry on. */
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

/* The same from text built into the library (incept_builtin_labels). */
static char **labels_from_text(const char *text, int classes)
{
    char **labels = calloc((size_t)classes, sizeof(char *));
    for (int i = 0; labels && text && *text && i < classes; i++) {
        size_t n = strcspn(text, "\n");
        labels[i] = strndup(text, n);
        text += n + (text[n] == '\n');
    }
    return labels;
}

/* Which built-in names a model's classes have: as its file records them, else ImageNet's for
 * 1000 classes, Fashion-MNIST's for 10 classes of 28x28 gray images; NULL for none. */
static const char *builtin_labels_for(const incept_model *m, int classes, int c, int h, int w)
{
    const char *recorded = incept_model_metadata(m, "incept.labels");
    if (recorded)
        return incept_builtin_labels(recorded) ? recorded : NULL;
    if (classes == 1000)
        return "imagenet";
    if (classes == 10 && c == 1 && h == 28 && w == 28)
        return "fashion";
    return NULL;
}

/* Warns that a description without weights gives meaningless answers. */
static void warn_if_random(const char *model, const char *weights)
{
    size_t n = strlen(model);
    if (!weights && !(n > 5 && !strcmp(model + n - 5, ".onnx")))
        fprintf(stderr, "incept: warning: %s has random weights (a description loaded without "
                        "--weights): its answers mean nothing\n", model);
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

/* The paper's 144 crops: the shorter side resized to 256, 288, 320 and 352 (for a 224 input);
 * three squares along the longer side (left/centre/right or top/centre/bottom); from each the
 * four corner and the centre 224 crops and the square itself resized to 224; and all mirrored.
 * Crop k into out; the resized image of a scale is kept between calls in *scaled. */
static incept_status crop_144(const incept_image *image, const incept_preprocess *pre, int h, int w,
                              int k, incept_image *scaled, int *scaled_for, float *out)
{
    static const int shorter[4] = {256, 288, 320, 352};
    const int mirror = k % 2, piece = k / 2 % 6, square = k / 12 % 3, scale = k / 36;
    incept_status st;
    if (*scaled_for != scale) {
        incept_image_free(scaled);
        int side = (int)lroundf((float)shorter[scale] * h / 224.0f);
        int sh = image->h <= image->w ? side : (int)lroundf((float)image->h * side / image->w);
        int sw = image->w < image->h ? side : (int)lroundf((float)image->w * side / image->h);
        if ((st = incept_image_resize(image, sh, sw, pre->area, scaled)))
            return st;
        *scaled_for = scale;
    }
    int side = scaled->h < scaled->w ? scaled->h : scaled->w;
    int along = (scaled->h > scaled->w ? scaled->h : scaled->w) - side;
    int offset = square == 0 ? 0 : square == 1 ? along / 2 : along;
    int sq_top = scaled->h > scaled->w ? offset : 0, sq_left = scaled->w >= scaled->h ? offset : 0;
    if (piece == 5) { /* the whole square, resized to the input */
        incept_image sq = {3, side, side, NULL}, small;
        if (!(sq.data = malloc(sizeof(float) * 3 * (size_t)side * side)))
            return INCEPT_ERR_NOMEM;
        incept_image_crop(scaled, sq_top, sq_left, side, side, 0, sq.data);
        st = incept_image_resize(&sq, h, w, pre->area, &small);
        free(sq.data);
        if (st)
            return st;
        incept_image_crop(&small, 0, 0, h, w, mirror, out);
        incept_image_free(&small);
    } else {
        int dy = piece == 4 ? (side - h) / 2 : piece / 2 ? side - h : 0;
        int dx = piece == 4 ? (side - w) / 2 : piece % 2 ? side - w : 0;
        incept_image_crop(scaled, sq_top + dy, sq_left + dx, h, w, mirror, out);
    }
    incept_image_normalize(pre, h, w, out);
    return INCEPT_OK;
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
    if (o->crops != 1 && o->crops != 10 && o->crops != 144) {
        fprintf(stderr, "incept: --crops is 1, 10 or 144\n");
        return 2;
    }
    incept_model *nets[64] = {0};
    incept_session *runs[64] = {0};
    int classes = 0, c = 0, h = 0, w = 0, ends_in_softmax[64] = {0};
    for (int k = 0; k < n_models; k++) {
        if (incept_model_load(models[k], k == 0 ? o->weights : NULL, &nets[k]) ||
            incept_session_new(nets[k], &runs[k])) {
            rc = cli_fail(models[k]);
            goto done;
        }
        warn_if_random(models[k], k == 0 ? o->weights : NULL);
        int mc, mh, mw, oc, oh, ow;
        incept_model_input_dims(nets[k], &mc, &mh, &mw);
        incept_model_output_dims(nets[k], &oc, &oh, &ow);
        if (k == 0)
            classes = oc * oh * ow, c = mc, h = mh, w = mw;
        if ((mc != 3 && mc != 1) || mh < 1 || mw < 1) {
            fprintf(stderr, "incept: %s: takes %dx%dx%d inputs; classify feeds images of 3 channels "
                            "(RGB) or 1 (gray)\n", models[k], mc, mh, mw);
            rc = 1;
            goto done;
        }
        if (mc != c || mh != h || mw != w || oc * oh * ow != classes || classes < 1) {
            fprintf(stderr, "incept: %s: every model of an ensemble takes %dx%dx%d images and gives "
                            "%d classes, as the first does\n", models[k], c, h, w, classes);
            rc = 1;
            goto done;
        }
        incept_session_set_threads(runs[k], o->threads);
        ends_in_softmax[k] = incept_model_output_is_probability(nets[k]);
    }
    /* a gray model is fed the luma; its default normalization is the one `incept train` uses */
    incept_preprocess pre;
    const char *recorded = incept_model_metadata(nets[0], "incept.preset"); /* export_pretrained.py */
    const char *preset = o->preset ? o->preset : recorded ? recorded : c == 1 ? "fashion" : "caffe";
    if (incept_preprocess_preset(preset, &pre)) {
        rc = cli_fail("--preset");
        goto done;
    }
    if ((c == 1) != (pre.gray != 0)) {
        fprintf(stderr, "incept: --preset %s is for %s images; %s takes %d channel(s)\n", preset,
                pre.gray ? "gray" : "RGB", models[0], c);
        rc = 2;
        goto done;
    }
    const char *builtin = o->labels_file ? NULL : builtin_labels_for(nets[0], classes, c, h, w);
    char **labels = builtin ? labels_from_text(incept_builtin_labels(builtin), classes)
                            : read_labels(o->labels_file, classes);
    if (!labels) {
        rc = 1;
        goto done;
    }
    /* crops go through the models in batches of at most 12 */
    int crops = o->crops, chunk = crops < 12 ? crops : 12;
    int top_k = o->top > 0 ? (o->top < classes ? o->top : classes) : 5;
    const size_t sample = (size_t)c * h * w;
    float *batch = malloc(sizeof(float) * sample * chunk), *rgb = malloc(sizeof(float) * 3 * (size_t)h * w);
    float *logits = malloc(sizeof(float) * (size_t)classes * chunk);
    double *probs = malloc(sizeof(double) * (size_t)classes);
    for (int i = 0; i < o->n_positional && batch && rgb && logits && probs; i++) {
        const char *path = o->positional[i];
        if (is_model(path))
            continue;
        incept_image image, scaled = {0, 0, 0, NULL};
        int scaled_for = -1;
        incept_status st = incept_image_load(path, &image);
        /* ten crops: the four corners and the centre, then the same mirrored */
        static const int corner[5][2] = {{-1, -1}, {0, 0}, {0, -2}, {-2, 0}, {-2, -2}};
        for (int j = 0; j < classes; j++)
            probs[j] = 0.0;
        for (int first = 0; first < crops && !st; first += chunk) {
            int count = crops - first < chunk ? crops - first : chunk;
            for (int k = 0; k < count && !st; k++) { /* prepared in RGB room, the model's planes kept */
                int which = first + k;
                st = crops == 144 ? crop_144(&image, &pre, h, w, which, &scaled, &scaled_for, rgb)
                                  : incept_image_prepare(&image, &pre, h, w, corner[which % 5][0],
                                                         corner[which % 5][1], which >= 5, rgb);
                if (!st)
                    memcpy(batch + (size_t)k * sample, rgb, sizeof(float) * sample);
            }
            for (int m = 0; m < n_models && !st; m++) {
                st = incept_session_forward(runs[m], batch, count, logits);
                for (int k = 0; k < count && !st; k++)
                    add_probabilities(logits + (size_t)k * classes, classes, ends_in_softmax[m],
                                      1.0f / ((float)crops * n_models), probs);
            }
        }
        incept_image_free(&scaled);
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
    if (!batch || !rgb || !logits || !probs) {
        fprintf(stderr, "incept: out of memory\n");
        rc = 1;
    }
    free(batch);
    free(rgb);
    free(logits);
    free(probs);
    for (int j = 0; j < classes; j++)
        free(labels[j]);
    free(labels);
done:
    for (int k = 0; k < n_models; k++) {
        incept_session_free(runs[k]);
        incept_model_free(nets[k]);
    }
    return rc;
}
