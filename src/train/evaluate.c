/* evaluate.c — top-1 and top-5 accuracy of a session's model over a dataset (inference mode), or
 * the hits over a range of it (a rank's share of a data-parallel job's evaluation); optionally
 * with test-time flips: the logits of each image and of its mirror image averaged. */
#include <stdint.h>
#include <stdlib.h>

#include "core/status.h"
#include "incept.h"
#include "train/train.h"

/* Each of `count` samples of c x h x w mirrored left to right, from `from` into `to`. */
static void mirror(const float *from, float *to, int count, int c, int h, int w)
{
    for (size_t row = 0; row < (size_t)count * c * h; row++)
        for (int x = 0; x < w; x++)
            to[row * w + x] = from[row * w + (w - 1 - x)];
}

incept_status incept_evaluate_range(incept_session *session, const incept_dataset *data, int batch,
                                    int flips, int begin, int end, long *hits1_out, long *hits5_out,
                                    long *total_out)
{
    if (!session || !data || batch < 1)
        return incept_fail(INCEPT_ERR_ARG, "evaluate needs a session, a dataset and batch >= 1");
    const incept_model *m = incept_session_model(session);
    int n, c, h, w, mc, mh, mw, classes;
    incept_dataset_dims(data, &n, &c, &h, &w, NULL);
    incept_model_input_dims(m, &mc, &mh, &mw);
    if (c != mc || h != mh || w != mw)
        return incept_fail(INCEPT_ERR_SHAPE, "the dataset's images are %dx%dx%d, the model takes "
                           "%dx%dx%d", c, h, w, mc, mh, mw);
    incept_model_output_dims(m, &classes, &mh, &mw);
    classes *= mh * mw;
    float *out = incept_malloc(sizeof(float) * (size_t)batch * classes * (flips ? 2 : 1));
    const size_t sample = (size_t)c * h * w;
    const float *images = incept_dataset_images(data);
    float *decoded = images ? NULL : incept_malloc(sizeof(float) * sample * (size_t)batch);
    float *mirrored = flips ? incept_malloc(sizeof(float) * sample * (size_t)batch) : NULL;
    int *kept = incept_malloc(sizeof(int) * (size_t)batch);
    if (!out || (!images && !decoded) || (flips && !mirrored) || !kept) {
        free(out);
        free(decoded);
        free(mirrored);
        free(kept);
        return INCEPT_ERR_NOMEM;
    }
    const int *labels = incept_dataset_labels(data);
    long hits1 = 0, hits5 = 0, total = 0;
    incept_status st = INCEPT_OK;
    if (end > n)
        end = n;
    for (int first = begin < 0 ? 0 : begin; first < end && !st; first += batch) {
        int count = end - first < batch ? end - first : batch, used = 0;
        const float *x = images ? images + (size_t)first * sample : decoded;
        for (int s = 0; s < count; s++) { /* an image folder: decode, leaving out what fails */
            if (images || incept_dataset_sample(data, first + s, 0, 0, decoded + (size_t)used * sample) == INCEPT_OK)
                kept[used++] = first + s;
        }
        if (!used)
            continue;
        st = incept_session_forward(session, x, used, out);
        if (!st && flips) {
            float *second = out + (size_t)batch * classes;
            mirror(x, mirrored, used, c, h, w);
            st = incept_session_forward(session, mirrored, used, second);
            for (size_t i = 0; i < (size_t)used * classes && !st; i++)
                out[i] = 0.5f * (out[i] + second[i]);
        }
        total += used;
        for (int s = 0; s < used && !st; s++) {
            const float *z = out + (size_t)s * classes;
            int label = labels[kept[s]], above = 0;
            if (label < 0 || label >= classes) {
                st = incept_fail(INCEPT_ERR_SHAPE, "label %d of sample %d is not one of the model's "
                                 "%d classes", label, kept[s], classes);
                break;
            }
            for (int j = 0; j < classes; j++) /* rank of the true class; ties count against it */
                above += j != label && z[j] >= z[label];
            hits1 += above == 0;
            hits5 += above < 5;
        }
    }
    free(out);
    free(decoded);
    free(mirrored);
    free(kept);
    if (st)
        return st;
    *hits1_out = hits1, *hits5_out = hits5, *total_out = total;
    return INCEPT_OK;
}

incept_status incept_session_evaluate(incept_session *session, const incept_dataset *data,
                                      int batch, double *top1, double *top5, int *evaluated)
{
    return incept_session_evaluate_flips(session, data, batch, 0, top1, top5, evaluated);
}

incept_status incept_session_evaluate_flips(incept_session *session, const incept_dataset *data,
                                            int batch, int flips, double *top1, double *top5,
                                            int *evaluated)
{
    long hits1, hits5, total;
    incept_status st = incept_evaluate_range(session, data, batch, flips != 0, 0,
                                             data ? INT32_MAX : 0, &hits1, &hits5, &total);
    if (st)
        return st;
    if (top1) *top1 = total ? (double)hits1 / total : 0.0;
    if (top5) *top5 = total ? (double)hits5 / total : 0.0;
    if (evaluated) *evaluated = (int)total;
    return INCEPT_OK;
}
