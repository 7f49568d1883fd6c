/* test_train.c — backpropagation: every op's backward pass against finite differences of the
 * loss, and whole networks against PyTorch (../shared/reference): the tiny Inception net's loss,
 * every gradient and the weights after two SGD steps; GoogLeNet's loss with both auxiliary
 * classifiers and the reference's chosen gradients. */
#include <unistd.h>

#include "graph/graph.h"
#include "incept.h"
#include "test.h"

/* ---- finite differences ---------------------------------------------------------------- */

/* Frees a session and then its model. */
static void free_session_and_model(incept_session *s)
{
    incept_model *m = incept_session_model(s);
    incept_session_free(s);
    incept_model_free(m);
}

/* Builds input [c,h,w] -> conv "first" (3x3, pad 1, 5 channels) -> the op under test (from a
 * description line) -> fc to 4 classes, He-initialized; returns a session of it (its model:
 * incept_session_model). */
static float probe_smoothing; /* label smoothing of the probes (0: off) */

static incept_session *probe_model(const char *op_line, int c, int h, int w)
{
    char text[1024];
    snprintf(text, sizeof text,
             "input x %d %d %d\nconv first 5 3x3 pad 1\n%s\nflatten flat\nfc out 4\n", c, h, w,
             op_line);
    incept_model *m = NULL;
    incept_session *s = NULL;
    if (incept_model_parse_description(text, op_line, &m) != INCEPT_OK ||
        incept_session_new(m, &s) != INCEPT_OK) {
        fprintf(stderr, "%s: %s\n", op_line, incept_last_error());
        incept_model_free(m);
        return NULL;
    }
    incept_model_init_weights(m, 3);
    CHECK_OK(incept_session_set_training(s, 0.3f, 0, 1));
    CHECK_OK(incept_session_set_exact(s, 1));
    CHECK_OK(incept_session_set_label_smoothing(s, probe_smoothing));
    return s;
}

static double loss_at(incept_session *s, const float *x, const int *labels, int batch)
{
    float loss = 0.0f;
    incept_session_train_step(s, x, labels, batch, &loss);
    return loss;
}

/* A copy of every parameter's gradient, times `scale`; *counts gets their sizes. */
static float **gradient_copies(incept_session *s, float scale, size_t **counts)
{
    incept_model *m = incept_session_model(s);
    int n_params = incept_model_param_count(m);
    float **copies = calloc((size_t)n_params, sizeof(float *));
    *counts = calloc((size_t)n_params, sizeof(size_t));
    for (int p = 0; p < n_params; p++) {
        int nd, dims[4];
        const float *grad;
        incept_model_param(m, p, NULL, &nd, dims, NULL);
        (*counts)[p] = dims_count(nd, dims);
        CHECK_OK(incept_session_param_grad(s, p, &grad));
        copies[p] = malloc((*counts)[p] * sizeof(float));
        for (size_t i = 0; i < (*counts)[p]; i++)
            copies[p][i] = scale * grad[i];
    }
    return copies;
}

/* Compares d loss / d (the first conv's weights and the fc's weights) with central differences. */
static void gradient_check(const char *op_line, int c, int h, int w, float eps)
{
    incept_session *s = probe_model(op_line, c, h, w);
    CHECK_MSG(s != NULL, "%s builds", op_line);
    if (!s)
        return;
    incept_model *m = incept_session_model(s);
    int batch = 3, labels[3] = {0, 3, 1};
    size_t n = (size_t)batch * c * h * w;
    float *x = malloc(n * sizeof(float));
    fill_random(x, n, 11);
    float loss;
    CHECK_OK(incept_session_train_step(s, x, labels, batch, &loss));
    /* every analytic gradient first: each finite-difference step recomputes them */
    int n_params = incept_model_param_count(m);
    size_t *counts;
    float **analytic = gradient_copies(s, 1.0f, &counts);
    int worst_param = -1;
    double worst = 0.0, worst_numeric = 0.0, worst_analytic = 0.0;
    for (int p = 0; p < n_params; p++) {
        float *data;
        incept_model_param(m, p, NULL, NULL, NULL, &data);
        for (size_t i = 0; i < counts[p]; i += 1 + counts[p] / 12) {
            /* central differences at eps and eps/4: a step that crosses a kink (a ReLU turning
             * on, another max winning) spoils one of them, while a wrong gradient differs at both */
            double numeric = 0.0;
            for (int scale = 0; scale < 2; scale++) {
                float step = scale ? eps / 4 : eps, keep = data[i];
                data[i] = keep + step;
                double up = loss_at(s, x, labels, batch);
                data[i] = keep - step;
                double down = loss_at(s, x, labels, batch);
                data[i] = keep;
                double estimate = (up - down) / (2.0 * step);
                if (!scale || fabs(estimate - analytic[p][i]) < fabs(numeric - analytic[p][i]))
                    numeric = estimate;
            }
            /* float32 losses resolve ~1e-7: steps of 1e-2 leave noise near 1e-5, of 1e-3 near 1e-4 */
            double err = fabs(numeric - analytic[p][i]) / (fabs(analytic[p][i]) + 2e-2);
            if (err > worst) {
                worst = err;
                worst_param = p;
                worst_numeric = numeric;
                worst_analytic = analytic[p][i];
            }
        }
        free(analytic[p]);
    }
    free(analytic);
    free(counts);
    CHECK_MSG(worst < 2e-2, "%s: gradient differs from finite differences by %.3g (parameter %d: "
              "%.6g analytic, %.6g numeric)", op_line, worst, worst_param, worst_analytic, worst_numeric);
    free(x);
    free_session_and_model(s);
}

/* Steps of 1e-2 for smooth ops; 1e-3 where a max or a ReLU has kinks that a larger step would
 * cross (PyTorch's gradients for them are checked by test_tiny below as well). */
static void test_op_gradients(void)
{
    gradient_check("conv mid 4 3x3 stride 2 pad 0,1,2,1", 3, 7, 6, 1e-2f);
    gradient_check("conv mid 6 1x1", 2, 5, 5, 1e-2f);
    gradient_check("conv mid 3 5x5 pad 2", 3, 6, 6, 1e-2f);
    gradient_check("avgpool p 3x3 stride 2 pad 1 ceil", 3, 6, 6, 1e-2f);
    gradient_check("avgpool p 2x2 stride 2 exclude-pad", 3, 6, 6, 1e-2f);
    gradient_check("lrn n size 5 alpha 0.5 beta 0.75 bias 1.5", 3, 4, 4, 1e-2f);
    gradient_check("lrn n size 3 alpha 0.3 beta 0.6 bias 2", 3, 4, 4, 1e-2f);
    /* more channels than a window, and a plane of two backward chunks (81 > 64 pixels) */
    gradient_check("lrn n size 5 alpha 0.5 beta 0.75 bias 1.5", 9, 9, 9, 1e-2f);
    gradient_check("lrn n size 4 alpha 0.3 beta 0.6 bias 2", 7, 9, 9, 1e-2f);
    gradient_check("globalavgpool g", 3, 5, 4, 1e-2f);
    gradient_check("pad q 1,0,2,1 value 0.5", 3, 4, 4, 1e-2f);
    gradient_check("fc hidden 7", 3, 3, 3, 1e-2f);
    gradient_check("dropout d 0.5", 3, 4, 4, 1e-2f); /* off in these steps: the identity */
    gradient_check("softmax s", 3, 2, 2, 1e-2f);
    gradient_check("softmax s axis 2", 3, 4, 3, 1e-2f);
    gradient_check("softmax s axis 3", 3, 4, 3, 1e-2f);
    gradient_check("maxpool p 3x3 stride 2 ceil", 3, 7, 7, 1e-3f);
    gradient_check("maxpool p 3x3 stride 1 pad 1 ceil", 3, 5, 6, 1e-3f);
    gradient_check("relu r", 3, 6, 5, 1e-3f);
    gradient_check("clip c min -0.3 max 0.4", 3, 6, 5, 1e-3f); /* ReLU6 shape: both bounds bite */
    gradient_check("conv mid 4 3x3 pad 1 relu-max 0.3", 3, 6, 5, 1e-3f); /* ReLU6 fused in the conv */
    gradient_check("conv mid 4 3x3 stride 2 pad 1 relu", 3, 7, 6, 1e-3f);
    gradient_check("fc hidden 7 relu", 3, 3, 3, 1e-3f);
    gradient_check("inception m 2 2 3 1 2 2", 3, 6, 6, 1e-3f); /* concat in place */
    gradient_check("inception m 2 0 3 0 2 0", 3, 5, 5, 1e-3f); /* the naive module */
    gradient_check("batchnorm n", 3, 5, 4, 1e-2f);
    gradient_check("batchnorm n relu", 3, 5, 4, 1e-3f);
    gradient_check("conv mid 4 3x3 pad 1 relu bn", 3, 5, 5, 1e-3f);
    gradient_check("conv a 4 1x1 bn\nconv b 4 3x3 pad 1 bn\nconcat m from a,b", 3, 5, 5, 1e-2f);
    probe_smoothing = 0.3f; /* the smoothed loss's gradient */
    gradient_check("fc hidden 7", 3, 3, 3, 1e-2f);
    gradient_check("conv mid 4 3x3 pad 1 relu bn", 3, 5, 5, 1e-3f);
    probe_smoothing = 0.0f;
}

/* Small planes put several samples' columns into one GEMM (3 and 2 of a batch of 5 for 9x9):
 * the batch's gradients must equal the mean of the gradients one sample at a time. */
static void test_chunked_backward(void)
{
    const char *line = "conv mid 6 3x3 pad 1 relu\nconv wide 4 5x5 pad 2";
    incept_session *session = probe_model(line, 3, 9, 9);
    CHECK_MSG(session != NULL, "%s builds", line);
    if (!session)
        return;
    int labels[5] = {0, 3, 1, 2, 3}, n_params = incept_model_param_count(incept_session_model(session));
    size_t per_sample = 3 * 9 * 9;
    float x[5 * 3 * 9 * 9], loss;
    fill_random(x, 5 * per_sample, 21);
    CHECK_OK(incept_session_train_step(session, x, labels, 5, &loss));
    size_t *counts;
    float **batch = gradient_copies(session, 5.0f, &counts), worst = 0.0f; /* the loss: a batch mean */
    for (int s = 0; s < 5; s++) {
        CHECK_OK(incept_session_train_step(session, x + s * per_sample, labels + s, 1, &loss));
        for (int p = 0; p < n_params; p++) {
            const float *grad;
            CHECK_OK(incept_session_param_grad(session, p, &grad));
            for (size_t i = 0; i < counts[p]; i++)
                batch[p][i] -= grad[i];
        }
    }
    for (int p = 0; p < n_params; p++) {
        worst = fmaxf(worst, max_abs(batch[p], counts[p]));
        free(batch[p]);
    }
    CHECK_MSG(worst < 1e-4f, "batch gradients differ from the per-sample sum by %g", (double)worst);
    free(batch);
    free(counts);
    free_session_and_model(session);
}

/* Label smoothing: the loss against PyTorch's definition, -(1 - e) log p_label - (e / K)
 * sum_j log p_j, from the model's own logits, and its gradient against central differences. */
static void test_label_smoothing(void)
{
    incept_session *s = probe_model("relu r", 2, 3, 3);
    CHECK_MSG(s != NULL, "the label-smoothing probe builds");
    if (!s)
        return;
    const float e = 0.2f;
    CHECK(incept_session_set_label_smoothing(s, 1.0f) != INCEPT_OK);
    CHECK(incept_session_set_label_smoothing(s, -0.1f) != INCEPT_OK);
    CHECK_OK(incept_session_set_label_smoothing(s, e));
    int labels[3] = {2, 0, 3};
    float x[3 * 2 * 3 * 3], logits[3 * 4], loss;
    fill_random(x, sizeof x / sizeof x[0], 41);
    CHECK_OK(incept_session_forward(s, x, 3, logits));
    CHECK_OK(incept_session_train_step(s, x, labels, 3, &loss));
    double expect = 0.0;
    for (int i = 0; i < 3; i++) {
        const float *z = logits + 4 * i;
        double top = fmax(fmax(z[0], z[1]), fmax(z[2], z[3])), sum = 0.0, all = 0.0;
        for (int j = 0; j < 4; j++)
            sum += exp(z[j] - top);
        for (int j = 0; j < 4; j++)
            all += z[j] - top - log(sum);
        expect += (-(1.0 - e) * (z[labels[i]] - top - log(sum)) - e / 4.0 * all) / 3.0;
    }
    CHECK_MSG(fabs(loss - expect) < 1e-5 * fabs(expect), "smoothed loss %.7g, expected %.7g",
              (double)loss, expect);
    free_session_and_model(s);
}

/* The fast backward (Winograd for the input gradient of stride-1 3x3 and 5x5 convolutions, and
 * in the forward) against the exact one (GEMMs), on planes large enough to take it: 3x3 pad 1,
 * 5x5 pad 2, a 3x3 without padding (its input gradient padded by 2) and one padded unevenly. */
static void test_fast_backward(void)
{
    const char *lines[] = {
        "conv mid 6 3x3 pad 1 relu\nconv wide 4 5x5 pad 2 relu",
        "conv mid 7 3x3 relu\nconv wide 9 5x5 pad 1,2,3,2",
        "conv mid 5 3x3 pad 0,1,2,1 relu bn",
    };
    for (size_t l = 0; l < sizeof lines / sizeof lines[0]; l++) {
        incept_session *fast = probe_model(lines[l], 3, 16, 15), *exact = probe_model(lines[l], 3, 16, 15);
        CHECK_MSG(fast && exact, "%s builds", lines[l]);
        if (!fast || !exact) {
            if (fast)
                free_session_and_model(fast);
            if (exact)
                free_session_and_model(exact);
            continue;
        }
        CHECK_OK(incept_session_set_exact(fast, 0));
        int labels[6] = {0, 3, 1, 2, 3, 1};
        size_t count = (size_t)6 * 3 * 16 * 15;
        float *x = malloc(count * sizeof(float)), loss_fast, loss_exact;
        fill_random(x, count, 31);
        CHECK_OK(incept_session_train_step(fast, x, labels, 6, &loss_fast));
        CHECK_OK(incept_session_train_step(exact, x, labels, 6, &loss_exact));
        size_t *counts_fast, *counts_exact;
        float **a = gradient_copies(fast, 1.0f, &counts_fast), **b = gradient_copies(exact, 1.0f, &counts_exact);
        int n_params = incept_model_param_count(incept_session_model(fast));
        double worst = 0.0;
        for (int p = 0; p < n_params; p++) {
            double scale = max_abs(b[p], counts_exact[p]) + 1e-6;
            for (size_t i = 0; i < counts_exact[p]; i++)
                worst = fmax(worst, fabs(a[p][i] - b[p][i]) / scale);
            free(a[p]);
            free(b[p]);
        }
        CHECK_MSG(worst < 1e-4 && fabsf(loss_fast - loss_exact) < 1e-5f * fabsf(loss_exact),
                  "%s: fast and exact backward differ by %.3g of the largest gradient (losses %.7g, %.7g)",
                  lines[l], worst, (double)loss_fast, (double)loss_exact);
        free(a), free(b), free(counts_fast), free(counts_exact), free(x);
        free_session_and_model(fast);
        free_session_and_model(exact);
    }
}

/* The settings of the PyTorch comparisons: dropout off, direct convolutions, labels from the
 * reference's float32 class indices, and the reference's SGD (lr 0.05, momentum 0.9, weight
 * decay 5e-4 on every parameter). */
static incept_sgd pytorch_setup(incept_session *s, const float *y, int *labels, int n)
{
    for (int i = 0; i < n; i++)
        labels[i] = (int)y[i];
    CHECK_OK(incept_session_set_training(s, 0.3f, 0, 0));
    CHECK_OK(incept_session_set_exact(s, 1));
    return (incept_sgd){0.05f, 0.9f, 5e-4f, 1};
}

/* ---- the tiny Inception net against PyTorch -------------------------------------------- */

/* max |a - b| / max |b| over a named reference tensor. */
static float relative_error(const float *got, const char *ref, const char *rel, size_t count)
{
    float *expect = read_floats(ref, rel, count);
    if (!expect)
        return INFINITY;
    float scale = max_abs(expect, count);
    float err = max_abs_diff(got, expect, count) / (scale > 0 ? scale : 1.0f);
    free(expect);
    return err;
}

static void test_tiny(const char *ref)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tiny/tiny.onnx", ref);
    incept_model *m = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_load(path, NULL, &m));
    if (m)
        CHECK_OK(incept_session_new(m, &s));
    float *x = read_floats(ref, "tiny/input.bin", 4 * 3 * 15 * 15);
    float *y = read_floats(ref, "tiny/labels.bin", 4);
    if (!s || !x || !y)
        goto done;
    int labels[4];
    const incept_sgd sgd = pytorch_setup(s, y, labels, 4);
    for (int step = 1; step <= 2; step++) {
        float loss;
        char rel[512];
        CHECK_OK(incept_session_train_step(s, x, labels, 4, &loss));
        snprintf(rel, sizeof rel, "tiny/step%d/loss.bin", step);
        float err = relative_error(&loss, ref, rel, 1);
        printf("tiny step %d: loss %.6f, relative error %.2g\n", step, (double)loss, (double)err);
        CHECK_MSG(err < 1e-4f, "step %d loss", step);
        float worst_grad = 0.0f;
        for (int p = 0; p < incept_model_param_count(m); p++) {
            const char *name;
            int nd, dims[4];
            const float *grad;
            incept_model_param(m, p, &name, &nd, dims, NULL);
            size_t count = dims_count(nd, dims);
            CHECK_OK(incept_session_param_grad(s, p, &grad));
            snprintf(rel, sizeof rel, "tiny/step%d/grad/%s.bin", step, name);
            float e = relative_error(grad, ref, rel, count);
            CHECK_MSG(e < 1e-4f, "step %d gradient of %s: relative error %g", step, name, (double)e);
            worst_grad = e > worst_grad ? e : worst_grad;
        }
        CHECK_OK(incept_session_sgd_step(s, &sgd));
        float worst_param = 0.0f;
        for (int p = 0; p < incept_model_param_count(m); p++) {
            const char *name;
            int nd, dims[4];
            float *data;
            incept_model_param(m, p, &name, &nd, dims, &data);
            size_t count = dims_count(nd, dims);
            snprintf(rel, sizeof rel, "tiny/step%d/param_after/%s.bin", step, name);
            float e = relative_error(data, ref, rel, count);
            CHECK_MSG(e < 1e-4f, "step %d %s after SGD: relative error %g", step, name, (double)e);
            worst_param = e > worst_param ? e : worst_param;
        }
        printf("tiny step %d: worst gradient error %.2g, worst parameter error %.2g\n", step,
               (double)worst_grad, (double)worst_param);
    }
done:
    free(x);
    free(y);
    incept_session_free(s);
    incept_model_free(m);
}

/* ---- batch normalization in training against PyTorch -------------------------------------- */

/* Synchronized statistics as a data-parallel job hands them (train/distributed.c), in one
 * process: rank 0 had no samples (zeros), rank 1 is this one, so the merged statistics must be
 * this batch's own. */
static double gathered[2 * 4096];
static const double *gather_with_empty_rank(const incept_stats_sync *sync, const double *mine, int n)
{
    (void)sync;
    if (2 * (size_t)n > sizeof gathered / sizeof gathered[0])
        return NULL;
    memset(gathered, 0, sizeof(double) * (size_t)n);
    memcpy(gathered + n, mine, sizeof(double) * (size_t)n);
    return gathered;
}

/* tests/fixtures/bn_train.*: a small Inception net with every conv batch-normalized, two SGD
 * steps by PyTorch (BatchNorm2d in training mode; make_batchnorm_fixture.py). The losses, every
 * parameter and every running statistic afterwards must match, computed as usual and through
 * the synchronized path (synced). */
static void test_batchnorm_fixture(int synced)
{
    const incept_stats_sync sync = {.gather = gather_with_empty_rank, .ranks = 2, .share = 1.0};
    const char *dir = "tests/fixtures";
    incept_model *m = NULL, *expect = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_load("tests/fixtures/bn_train.incept", "tests/fixtures/bn_train.init.weights",
                               &m));
    if (m)
        CHECK_OK(incept_session_new(m, &s));
    CHECK_OK(incept_model_load("tests/fixtures/bn_train.incept",
                               "tests/fixtures/bn_train.after.weights", &expect));
    float *x = read_floats(dir, "bn_train.x.bin", 4 * 3 * 10 * 10);
    float *y = read_floats(dir, "bn_train.y.bin", 4);
    float *losses = read_floats(dir, "bn_train.loss.bin", 2);
    if (!s || !expect || !x || !y || !losses)
        goto done;
    int labels[4];
    const incept_sgd sgd = pytorch_setup(s, y, labels, 4);
    s->stats_sync = synced ? &sync : NULL;
    for (int step = 0; step < 2; step++) {
        float loss;
        CHECK_OK(incept_session_train_step(s, x, labels, 4, &loss));
        CHECK_OK(incept_session_sgd_step(s, &sgd));
        float err = fabsf(loss - losses[step]) / fabsf(losses[step]);
        CHECK_MSG(err < 1e-5f, "batchnorm step %d: loss %.7f, PyTorch %.7f", step + 1, (double)loss,
                  (double)losses[step]);
    }
    float worst = 0.0f;
    const char *worst_name = "";
    for (int p = 0; p < incept_model_param_count(m); p++) {
        const char *name;
        int nd, dims[4];
        float *got, *want;
        incept_model_param(m, p, &name, &nd, dims, &got);
        incept_model_param(expect, p, NULL, NULL, NULL, &want);
        size_t count = dims_count(nd, dims);
        float e = max_abs_diff(got, want, count) / (max_abs(want, count) + 1e-12f);
        if (e > worst)
            worst = e, worst_name = name;
    }
    printf("batchnorm%s vs PyTorch after 2 steps: worst parameter/statistic error %.2g (%s)\n",
           synced ? " (synchronized statistics)" : "", (double)worst, worst_name);
    CHECK_MSG(worst < 1e-4f, "batchnorm after 2 steps: %s differs by %g relative", worst_name,
              (double)worst);
done:
    free(x);
    free(y);
    free(losses);
    incept_session_free(s);
    incept_model_free(m);
    incept_model_free(expect);
}

/* An imported model's values computed from constants (torchvision's transform_input Mul/Add)
 * have no initializer to be written back to: SGD leaves them, and trains the rest. */
static void test_imported_constants_stay(void)
{
    incept_model *m = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_load("tests/fixtures/opset13_torchvision_layout.onnx", NULL, &m));
    if (m)
        CHECK_OK(incept_session_new(m, &s));
    if (!s) {
        incept_model_free(m);
        return;
    }
    int c, h, w, frozen = 0, moved = 0;
    incept_model_input_dims(m, &c, &h, &w);
    size_t n = (size_t)2 * c * h * w;
    float *x = malloc(n * sizeof(float)), *before = malloc(sizeof(float) * m->graph.param_floats);
    fill_random(x, n, 3);
    memcpy(before, m->graph.param_data, sizeof(float) * m->graph.param_floats);
    int labels[2] = {1, 3};
    float loss;
    const incept_sgd sgd = {0.1f, 0.9f, 5e-4f, 1};
    CHECK_OK(incept_session_set_training(s, 0.3f, 0, 0));
    CHECK_OK(incept_session_train_step(s, x, labels, 2, &loss));
    CHECK_OK(incept_session_sgd_step(s, &sgd));
    for (int p = 0; p < m->graph.n_params; p++) {
        const incept_param *q = &m->graph.params[p];
        int same = !memcmp(before + q->offset, m->graph.param_data + q->offset,
                           sizeof(float) * q->count);
        if (strstr(q->name, "/scale") || strstr(q->name, "/shift")) {
            frozen++;
            CHECK_MSG(same, "%s changed", q->name);
        } else {
            moved += !same;
        }
    }
    CHECK_MSG(frozen >= 6 && moved > 0, "%d constant-derived parameters, %d trained", frozen, moved);
    free(x);
    free(before);
    incept_session_free(s);
    incept_model_free(m);
}

/* ---- GoogLeNet with both auxiliary classifiers against PyTorch ---------------------------- */

static int load_named(incept_model *m, const char *ours, const char *ref, const char *rel)
{
    for (int p = 0; p < incept_model_param_count(m); p++) {
        const char *name;
        int nd, dims[4];
        float *data;
        incept_model_param(m, p, &name, &nd, dims, &data);
        if (strcmp(name, ours) != 0)
            continue;
        size_t count = dims_count(nd, dims);
        float *src = read_floats(ref, rel, count);
        if (!src)
            return 0;
        memcpy(data, src, count * sizeof(float));
        free(src);
        return 1;
    }
    return 0;
}

static const float *grad_named(incept_session *s, const char *ours, size_t *count)
{
    incept_model *m = incept_session_model(s);
    for (int p = 0; p < incept_model_param_count(m); p++) {
        const char *name;
        int nd, dims[4];
        const float *grad;
        incept_model_param(m, p, &name, &nd, dims, NULL);
        if (strcmp(name, ours) != 0)
            continue;
        *count = dims_count(nd, dims);
        return incept_session_param_grad(s, p, &grad) == INCEPT_OK ? grad : NULL;
    }
    return NULL;
}

static void test_googlenet(const char *ref)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/googlenet.onnx", ref);
    incept_model *onnx = NULL, *m = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_load(path, NULL, &onnx));
    CHECK_OK(incept_model_load("models/googlenet.incept", NULL, &m));
    if (m)
        CHECK_OK(incept_session_new(m, &s));
    float *x = read_floats(ref, "input.bin", (size_t)2 * 3 * 224 * 224);
    float *y = read_floats(ref, "train/labels.bin", 2);
    if (!onnx || !s || !x || !y)
        goto done;
    /* the main network's weights from the ONNX file, in order; the heads' from aux_param/ */
    int k = 0;
    for (int p = 0; p < incept_model_param_count(m); p++) {
        const char *name;
        int nd, dims[4];
        float *dst, *src;
        incept_model_param(m, p, &name, &nd, dims, &dst);
        if (strncmp(name, "aux", 3) == 0)
            continue;
        incept_model_param(onnx, k++, NULL, NULL, NULL, &src);
        size_t count = dims_count(nd, dims);
        memcpy(dst, src, count * sizeof(float));
    }
    static const char *heads[][2] = {
        {"/conv.weight", "conv.conv.weight"}, {"/conv.bias", "conv.conv.bias"},
        {"/fc.weight", "fc1.weight"},         {"/fc.bias", "fc1.bias"},
        {"/classifier.weight", "fc2.weight"}, {"/classifier.bias", "fc2.bias"},
    };
    for (int a = 1; a <= 2; a++)
        for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
            char ours[128], rel[256];
            snprintf(ours, sizeof ours, "aux%d%s", a, heads[i][0]);
            snprintf(rel, sizeof rel, "train/aux_param/aux%d.%s.bin", a, heads[i][1]);
            CHECK_MSG(load_named(m, ours, ref, rel), "%s from %s", ours, rel);
        }
    int labels[2] = {(int)y[0], (int)y[1]};
    float loss;
    CHECK_OK(incept_session_set_training(s, 0.3f, 0, 0));
    CHECK_OK(incept_session_set_threads(s, 2));
    CHECK_OK(incept_session_set_exact(s, 1));
    CHECK_OK(incept_session_train_step(s, x, labels, 2, &loss));
    float err = relative_error(&loss, ref, "train/loss.bin", 1);
    printf("GoogLeNet with auxiliary heads: loss %.6f, relative error %.2g\n", (double)loss, (double)err);
    CHECK_MSG(err < 1e-4f, "%s", "GoogLeNet training loss");
    static const char *grads[][2] = {
        {"conv1.weight", "conv1.conv.weight"},
        {"conv2.bias", "conv2.conv.bias"},
        {"inception_4a/5x5.weight", "blocks.inception_4a.b3.1.conv.weight"},
        {"inception_5b/pool_proj.weight", "blocks.inception_5b.b4.1.conv.weight"},
        {"classifier.bias", "fc.bias"},
        {"aux1/classifier.bias", "aux1.fc2.bias"},
        {"aux2/conv.weight", "aux2.conv.conv.weight"},
    };
    for (size_t i = 0; i < sizeof grads / sizeof grads[0]; i++) {
        size_t count = 0;
        const float *g = grad_named(s, grads[i][0], &count);
        char rel[256];
        snprintf(rel, sizeof rel, "train/grad/%s.bin", grads[i][1]);
        float e = g ? relative_error(g, ref, rel, count) : INFINITY;
        printf("  gradient of %-30s relative error %.2g\n", grads[i][0], (double)e);
        /* deep gradients sum ~25k float32 terms and route through ReLUs whose on/off state a
         * 1e-7 difference in the forward pass can flip: PyTorch and we agree to ~1e-3 there */
        CHECK_MSG(e < 5e-3f, "gradient of %s", grads[i][0]);
    }
done:
    free(x);
    free(y);
    incept_session_free(s);
    incept_model_free(onnx);
    incept_model_free(m);
}

/* Six steps straight, and three steps, a checkpoint, a fresh process's worth of loading, three
 * more: the same parameters to the bit, and the same losses. */
static void train_steps(incept_session *session, incept_loader *l, const incept_sgd *sgd, int steps,
                        float *losses)
{
    for (int s = 0; s < steps; s++) {
        const float *x;
        const int *y;
        int count;
        incept_loader_next(l, &x, &y, &count);
        CHECK_OK(incept_session_train_step(session, x, y, count, &losses[s]));
        CHECK_OK(incept_session_sgd_step(session, sgd));
    }
}

/* The Polyak average equals the EMA of the weights after each step, computed here by hand. */
static void test_averaging(void)
{
    incept_model *m = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_parse_description("input x 2 4 4\nconv c 3 3x3 pad 1 relu\n"
                                            "globalavgpool g\nfc out 3\n", "avg", &m));
    if (m)
        CHECK_OK(incept_session_new(m, &s));
    if (!s) {
        incept_model_free(m);
        return;
    }
    CHECK(incept_session_use_average(s, 1) == INCEPT_ERR_ARG);
    CHECK_OK(incept_session_set_averaging(s, 0.8f));
    float x[4 * 32], w[64], avg[64], *data;
    int labels[4] = {0, 1, 2, 1}, nd, dims[4];
    fill_random(x, sizeof x / sizeof x[0], 2);
    const incept_sgd sgd = {0.1f, 0.9f, 0.0f, 1};
    incept_model_param(m, 0, NULL, &nd, dims, &data); /* conv c.weight: 3*2*3*3 = 54 */
    size_t count = dims_count(nd, dims);
    for (int step = 0; step < 4; step++) {
        float loss;
        CHECK_OK(incept_session_train_step(s, x, labels, 4, &loss));
        CHECK_OK(incept_session_sgd_step(s, &sgd));
        memcpy(w, data, count * sizeof(float));
        for (size_t i = 0; i < count; i++)
            avg[i] = step == 0 ? w[i] : 0.8f * avg[i] + 0.2f * w[i];
    }
    CHECK_OK(incept_session_use_average(s, 1));
    incept_model_param(m, 0, NULL, NULL, NULL, &data);
    CHECK(max_abs_diff(data, avg, count) < 1e-6f);
    CHECK(incept_session_sgd_step(s, &sgd) == INCEPT_ERR_ARG); /* not while swapped in */
    CHECK_OK(incept_session_use_average(s, 0));
    incept_model_param(m, 0, NULL, NULL, NULL, &data);
    CHECK(memcmp(data, w, count * sizeof(float)) == 0);
    incept_session_free(s);
    incept_model_free(m);
}

/* Whether two models of the same description hold the same parameters, bit for bit. */
static int same_params(incept_model *a, incept_model *b)
{
    int same = incept_model_param_count(a) == incept_model_param_count(b);
    for (int p = 0; same && p < incept_model_param_count(a); p++) {
        int nd, dims[4];
        float *u, *v;
        incept_model_param(a, p, NULL, &nd, dims, &u);
        incept_model_param(b, p, NULL, NULL, NULL, &v);
        same = memcmp(u, v, dims_count(nd, dims) * sizeof(float)) == 0;
    }
    return same;
}

static void test_checkpoint_resume(void)
{
    const char *text = "input x 3 16 16\nconv c 6 3x3 pad 1 relu\nmaxpool p 3x3 stride 2 ceil\n"
                       "inception m 2 2 3 1 2 2\naux side 4\nglobalavgpool g\nflatten f\n"
                       "dropout d 0.3\nfc out 4\n";
    static float x[40 * 3 * 256];
    float y[40];
    fill_random(x, sizeof x / sizeof x[0], 5);
    for (int i = 0; i < 40; i++)
        y[i] = (float)(i % 4);
    FILE *f = fopen("/tmp/incept_ckpt_x", "wb");
    fwrite(x, sizeof x, 1, f);
    fclose(f);
    f = fopen("/tmp/incept_ckpt_y", "wb");
    fwrite(y, sizeof y, 1, f);
    fclose(f);
    incept_dataset *d = NULL;
    CHECK_OK(incept_dataset_load_raw("/tmp/incept_ckpt_x", "/tmp/incept_ckpt_y", 3, 16, 16, &d));
    const incept_sgd sgd = {0.05f, 0.9f, 5e-4f, 1};
    incept_loader_options lo = {8, 1, 1, 2, 1, 9, 0, 0};
    incept_train_state state;
    memset(&state, 0, sizeof state);
    state.seed = 9, state.batch = 8, state.shuffle = 1, state.augment = 1, state.dropout = 1;
    state.crop_pad = 2;
    state.aux_weight = 0.3f, state.sgd = sgd, state.total_steps = 6, state.average_decay = 0.9f;
    snprintf(state.schedule, sizeof state.schedule, "constant");

    incept_model *straight = NULL, *first = NULL, *resumed = NULL;
    incept_session *straight_s = NULL, *first_s = NULL, *resumed_s = NULL;
    incept_loader *l = NULL;
    float a[6], b[6];
    CHECK_OK(incept_model_parse_description(text, "ckpt", &straight));
    if (straight)
        CHECK_OK(incept_session_new(straight, &straight_s));
    /* the first convolution's weight frozen: SGD leaves it, and the checkpoint keeps it frozen */
    float *frozen = NULL, frozen_before[6 * 3 * 9];
    int frozen_dims[4], frozen_ndim = 0;
    CHECK_OK(incept_model_param(straight, 0, NULL, &frozen_ndim, frozen_dims, &frozen));
    CHECK(frozen_ndim == 4 && frozen_dims[0] * frozen_dims[1] * frozen_dims[2] * frozen_dims[3] == 6 * 3 * 9);
    if (frozen)
        memcpy(frozen_before, frozen, sizeof frozen_before);
    CHECK_OK(incept_model_param_set_frozen(straight, 0, 1));
    CHECK(incept_model_param_frozen(straight, 0) && !incept_model_param_frozen(straight, 1));
    CHECK_OK(incept_session_set_training(straight_s, 0.3f, 1, 9));
    CHECK_OK(incept_session_set_averaging(straight_s, 0.9f));
    CHECK_OK(incept_loader_new(d, &lo, 0, &l));
    train_steps(straight_s, l, &sgd, 6, a);
    incept_loader_free(l);
    CHECK_MSG(frozen && memcmp(frozen, frozen_before, sizeof frozen_before) == 0, "%s",
              "a frozen parameter is left as it was by six SGD steps");

    CHECK_OK(incept_model_parse_description(text, "ckpt", &first));
    if (first)
        CHECK_OK(incept_session_new(first, &first_s));
    CHECK_OK(incept_model_param_set_frozen(first, 0, 1));
    CHECK_OK(incept_session_set_training(first_s, 0.3f, 1, 9));
    CHECK_OK(incept_session_set_averaging(first_s, 0.9f));
    CHECK_OK(incept_loader_new(d, &lo, 0, &l));
    train_steps(first_s, l, &sgd, 3, b);
    incept_loader_free(l);
    state.step = 3;
    CHECK_OK(incept_checkpoint_save(first_s, &state, "/tmp/incept_test.ckpt"));
    incept_session_free(first_s);
    incept_model_free(first);

    incept_train_state loaded;
    CHECK_OK(incept_checkpoint_load("/tmp/incept_test.ckpt", &resumed, &resumed_s, &loaded));
    CHECK(loaded.step == 3 && loaded.total_steps == 6 && loaded.seed == 9);
    CHECK((resumed == NULL) == (resumed_s == NULL) && incept_session_model(resumed_s) == resumed);
    CHECK_MSG(incept_model_param_frozen(resumed, 0) && !incept_model_param_frozen(resumed, 1), "%s",
              "the checkpoint keeps which parameters are frozen");
    if (resumed && resumed_s && straight_s) {
        CHECK_OK(incept_loader_new(d, &lo, loaded.step, &l));
        train_steps(resumed_s, l, &sgd, 3, b + 3);
        incept_loader_free(l);
        CHECK_MSG(memcmp(a, b, sizeof a) == 0, "losses: %g %g ... %g vs %g", (double)a[0],
                  (double)a[5], (double)b[0], (double)b[5]);
        CHECK_MSG(same_params(straight, resumed), "%s",
                  "resumed parameters equal the uninterrupted run's bit for bit");
        CHECK_OK(incept_session_use_average(straight_s, 1)); /* and so do their Polyak averages */
        CHECK_OK(incept_session_use_average(resumed_s, 1));
        CHECK_MSG(same_params(straight, resumed), "%s", "resumed Polyak averages equal the uninterrupted run's");
    }
    /* a checkpoint whose state is out of range is refused though its checksum matches */
    const char *why[] = {"crop padding", "steps", "schedule", "batch", "momentum"};
    for (int k = 0; k < 5 && resumed_s; k++) {
        incept_train_state hostile = state;
        if (k == 0) hostile.crop_pad = 1 << 30;
        if (k == 1) hostile.step = hostile.total_steps + 1;
        if (k == 2) memset(hostile.schedule, 'x', sizeof hostile.schedule);
        if (k == 3) hostile.batch = -8;
        if (k == 4) hostile.sgd.momentum = NAN;
        CHECK_OK(incept_checkpoint_save(resumed_s, &hostile, "/tmp/incept_test.ckpt"));
        incept_model *bad = (incept_model *)&bad;
        incept_session *bad_s = (incept_session *)&bad_s;
        incept_status st = incept_checkpoint_load("/tmp/incept_test.ckpt", &bad, &bad_s, &loaded);
        CHECK_MSG(st == INCEPT_ERR_FORMAT && bad == NULL && bad_s == NULL &&
                  strstr(incept_last_error(), "training state"), "hostile %s: status %d: %s", why[k], st,
                  incept_last_error());
    }
    CHECK_OK(incept_checkpoint_save(resumed_s, &state, "/tmp/incept_test.ckpt"));
    /* a damaged checkpoint is refused, never half-loaded */
    f = fopen("/tmp/incept_test.ckpt", "r+b");
    fseek(f, 100, SEEK_SET);
    fputc('!', f);
    fclose(f);
    incept_model *bad = (incept_model *)&bad;
    incept_session *bad_s = (incept_session *)&bad_s;
    CHECK(incept_checkpoint_load("/tmp/incept_test.ckpt", &bad, &bad_s, &loaded) == INCEPT_ERR_FORMAT);
    CHECK(bad == NULL && bad_s == NULL && strstr(incept_last_error(), "checksum"));
    CHECK(truncate("/tmp/incept_test.ckpt", 50) == 0);
    CHECK(incept_checkpoint_load("/tmp/incept_test.ckpt", &bad, &bad_s, &loaded) == INCEPT_ERR_FORMAT);
    unlink("/tmp/incept_test.ckpt");
    unlink("/tmp/incept_ckpt_x");
    unlink("/tmp/incept_ckpt_y");
    incept_session_free(straight_s);
    incept_session_free(resumed_s);
    incept_model_free(straight);
    incept_model_free(resumed);
    incept_dataset_free(d);
}

int main(void)
{
    test_op_gradients();
    test_chunked_backward();
    test_fast_backward();
    test_label_smoothing();
    test_averaging();
    if (INCEPT_WITH_DATASETS) /* it resumes from raw tensors in files */
        test_checkpoint_resume();
    else
        printf("test_train: checkpoint resume skipped: this build reads no dataset files "
               "(INCEPT_WITH_DATASETS=OFF)\n");
    test_batchnorm_fixture(0);
    test_batchnorm_fixture(1);
    test_imported_constants_stay();
    const char *ref = reference_dir("test_train");
    if (ref) {
        test_tiny(ref);
        test_googlenet(ref);
    }
    return test_summary("test_train");
}
