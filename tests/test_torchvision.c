/* test_torchvision.c — torchvision's architectures exported by PyTorch run through the engine.
 *
 * tests/fixtures/torchvision (scripts/make_torchvision_fixtures.py): googlenet, inception_v3,
 * resnet18, densenet121, squeezenet1_1 and mobilenet_v2 built from torchvision's own classes at
 * 1/10 to 1/32 of their width, each exported at opsets 11, 13 and 17. Every one must load into
 * the engine (not the generic path) and match PyTorch's logits within 1e-5 of max |logit| in exact
 * mode and 1e-4 in the default mode, at 1 and 2 threads. Then squeezenet_train: two SGD steps on
 * an imported SqueezeNet against PyTorch's losses and weights (1e-4).
 *
 * With a folder argument it checks that folder's cases.txt instead (tests/torchvision_full.sh
 * runs it on the full-size models when python3-torchvision is installed).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "incept.h"
#include "test.h"

/* Sample k, element i (NCHW order): sin(0.37 i + 1.3 k), as the generator wrote. */
static float *test_input(int batch, int c, int h, int w)
{
    size_t per = (size_t)c * h * w;
    float *x = malloc(sizeof(float) * per * (size_t)batch);
    for (int k = 0; x && k < batch; k++)
        for (size_t i = 0; i < per; i++)
            x[k * per + i] = (float)sin(0.37 * (double)i + 1.3 * k);
    return x;
}

static void check_case(const char *dir, const char *name, const char *file, const char *expected,
                       int batch, int c, int h, int w, int classes)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    incept_model *m = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_load(path, NULL, &m));
    if (!m)
        return;
    CHECK_MSG(!incept_model_generic_nodes(m), "%s runs on the engine (%s)", file,
              incept_model_generic_reason(m) ? incept_model_generic_reason(m) : "");
    CHECK_OK(incept_session_new(m, &s));
    float *x = test_input(batch, c, h, w);
    float *expect = read_floats(dir, expected, (size_t)batch * classes);
    CHECK(s && x && expect);
    if (s && x && expect) {
        float scale = max_abs(expect, (size_t)batch * classes);
        float *got = malloc(sizeof(float) * (size_t)batch * classes);
        for (int exact = 1; exact >= 0 && got; exact--)
            for (int threads = 1; threads <= 2; threads++) {
                incept_session_set_exact(s, exact);
                incept_session_set_threads(s, threads);
                incept_tensor in = {.dtype = INCEPT_FLOAT32, .rank = 4, .dims = {batch, c, h, w}, .data = x};
                incept_tensor out = {.dtype = INCEPT_FLOAT32, .rank = 2, .dims = {batch, classes}, .data = got};
                incept_status st = incept_session_run(s, 1, NULL, &in, 1, NULL, &out);
                CHECK_MSG(st == INCEPT_OK, "%s: run: %s", file, incept_last_error());
                if (st)
                    continue;
                float diff = max_abs_diff(got, expect, (size_t)batch * classes);
                float bound = (exact ? 1e-5f : 1e-4f) * scale;
                CHECK_MSG(diff <= bound, "%s, %s, %d thread(s): max diff %g > %g (max |logit| %g)", file,
                          exact ? "exact" : "default", threads, (double)diff, (double)bound, (double)scale);
                if (threads == 1)
                    printf("%-28s %-7s max diff %.2g of max |logit| %.3g\n", file, exact ? "exact" : "default",
                           (double)diff, (double)scale);
            }
        free(got);
    }
    (void)name;
    free(x);
    free(expect);
    incept_session_free(s);
    incept_model_free(m);
}

/* max |a - b| / max |b|. */
static float relative(const float *got, const float *expect, size_t n)
{
    float scale = max_abs(expect, n);
    return max_abs_diff(got, expect, n) / (scale > 0 ? scale : 1.0f);
}

/* Two SGD steps (lr 0.05, momentum 0.9, weight decay 5e-4, dropout off) on fixture NAME (an
 * input of 3 x size x size) against PyTorch's; `generic`: the model has generic nodes, which
 * train too. */
static void check_training(const char *dir, const char *name, int size, int generic)
{
    char path[4200], after[4200], labels_file[256], losses_file[256];
    snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
    snprintf(after, sizeof after, "%s/%s.after.onnx", dir, name);
    snprintf(labels_file, sizeof labels_file, "%s.y.bin", name);
    snprintf(losses_file, sizeof losses_file, "%s.loss.bin", name);
    incept_model *m = NULL, *expect = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_load(path, NULL, &m));
    CHECK_OK(incept_model_load(after, NULL, &expect));
    if (m)
        CHECK_OK(incept_session_new(m, &s));
    const int batch = 4;
    float *x = test_input(batch, 3, size, size);
    float *y = read_floats(dir, labels_file, (size_t)batch);
    float *losses = read_floats(dir, losses_file, 2);
    if (!s || !expect || !x || !y || !losses)
        goto done;
    CHECK_MSG(!incept_model_generic_nodes(m) == !generic, "%s: %d generic nodes", name,
              incept_model_generic_nodes(m));
    int labels[4];
    for (int i = 0; i < batch; i++)
        labels[i] = (int)y[i];
    CHECK_OK(incept_session_set_training(s, 0.0f, 0, 0));
    CHECK_OK(incept_session_set_exact(s, 1));
    const incept_sgd sgd = {0.05f, 0.9f, 5e-4f, 1};
    for (int step = 0; step < 2; step++) {
        float loss = 0.0f;
        CHECK_OK(incept_session_train_step(s, x, labels, batch, &loss));
        float err = fabsf(loss - losses[step]) / fabsf(losses[step]);
        printf("%s step %d: loss %.6f (PyTorch %.6f), relative error %.2g\n", name, step + 1,
               (double)loss, (double)losses[step], (double)err);
        CHECK_MSG(err < 1e-4f, "step %d loss %g, PyTorch %g", step + 1, (double)loss, (double)losses[step]);
        CHECK_OK(incept_session_sgd_step(s, &sgd));
    }
    CHECK(incept_model_param_count(m) == incept_model_param_count(expect));
    float worst = 0.0f;
    for (int p = 0; p < incept_model_param_count(m) && p < incept_model_param_count(expect); p++) {
        const char *pname, *expect_name;
        int nd, dims[4], end, edims[4];
        float *data, *expect_data;
        incept_model_param(m, p, &pname, &nd, dims, &data);
        incept_model_param(expect, p, &expect_name, &end, edims, &expect_data);
        size_t count = dims_count(nd, dims);
        CHECK_MSG(strcmp(pname, expect_name) == 0 && count == dims_count(end, edims), "parameter %d: %s", p,
                  pname);
        if (strcmp(pname, expect_name) != 0 || count != dims_count(end, edims))
            continue;
        float e = relative(data, expect_data, count);
        CHECK_MSG(e < 1e-4f, "%s after two steps: relative error %g", pname, (double)e);
        if (e >= 1e-4f)
            printf("  %s: relative error %g\n", pname, (double)e);
        worst = e > worst ? e : worst;
    }
    printf("%s: %d parameter tensors after two steps, worst relative error %.2g\n", name,
           incept_model_param_count(m), (double)worst);
done:
    free(x);
    free(y);
    free(losses);
    incept_session_free(s);
    incept_model_free(m);
    incept_model_free(expect);
}

/* The mean cross-entropy of a batch of 10-class logits (computed in double). */
static double mean_cross_entropy(incept_session *s, float *x, const int *labels, int batch)
{
    float logits[2 * 10];
    incept_tensor in = {.dtype = INCEPT_FLOAT32, .rank = 4, .dims = {batch, 3, 64, 64}, .data = x};
    incept_tensor out = {.dtype = INCEPT_FLOAT32, .rank = 2, .dims = {batch, 10}, .data = logits};
    CHECK_OK(incept_session_run(s, 1, NULL, &in, 1, NULL, &out));
    double total = 0.0;
    for (int k = 0; k < batch; k++) {
        double sum = 0.0;
        for (int c = 0; c < 10; c++)
            sum += exp((double)logits[k * 10 + c]);
        total += log(sum) - logits[k * 10 + labels[k]];
    }
    return total / batch;
}

/* squeezenet1_1 at opset 13 shares one zero bias initializer among up to 7 convs (through
 * Identity nodes): the engine keeps it one parameter, and its gradient is the sum over its
 * readers, checked against a central difference of the loss. */
static void check_tied_gradient(void)
{
    incept_model *m = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_load("tests/fixtures/torchvision/squeezenet1_1.opset13.onnx", NULL, &m));
    if (m)
        CHECK_OK(incept_session_new(m, &s));
    float *x = test_input(2, 3, 64, 64);
    if (!s || !x)
        goto done;
    CHECK_MSG(incept_model_param_count(m) < 52, "tied biases are one parameter (%d tensors, PyTorch has 52)",
              incept_model_param_count(m));
    int index = -1;
    for (int p = 0; p < incept_model_param_count(m); p++) {
        const char *name;
        incept_model_param(m, p, &name, NULL, NULL, NULL);
        if (strcmp(name, "features.0.bias") == 0)
            index = p;
    }
    CHECK_MSG(index >= 0, "%s", "a parameter features.0.bias (read by seven convs)");
    if (index < 0)
        goto done;
    int labels[2] = {3, 8};
    CHECK_OK(incept_session_set_training(s, 0.0f, 0, 0));
    CHECK_OK(incept_session_set_exact(s, 1));
    float loss;
    const float *grad;
    float *bias;
    CHECK_OK(incept_session_train_step(s, x, labels, 2, &loss));
    CHECK_OK(incept_session_param_grad(s, index, &grad));
    incept_model_param(m, index, NULL, NULL, NULL, &bias);
    int j = 0;
    for (int k = 1; k < 16; k++)
        j = fabsf(grad[k]) > fabsf(grad[j]) ? k : j;
    /* the loss in double from the logits (about 0.006: exact to ~1e-9), not the float loss; a missing reader would be ~1/7 off */
    const double g = grad[j], eps = 1e-4;
    const float saved = bias[j];
    bias[j] = saved + (float)eps;
    double plus = mean_cross_entropy(s, x, labels, 2);
    bias[j] = saved - (float)eps;
    double minus = mean_cross_entropy(s, x, labels, 2);
    bias[j] = saved;
    double numeric = (plus - minus) / (2 * eps);
    printf("tied bias gradient: %.6g, central difference %.6g\n", g, numeric);
    CHECK_MSG(fabs(g - numeric) <= 1e-2 * fabs(numeric) && fabs(numeric) > 0,
              "tied gradient %g, central difference %g", g, numeric);
done:
    free(x);
    incept_session_free(s);
    incept_model_free(m);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures/torchvision";
    char path[4200], line[1024];
    snprintf(path, sizeof path, "%s/cases.txt", dir);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "%s exists", path);
    int cases = 0;
    while (f && fgets(line, sizeof line, f)) {
        char name[128], file[256], expected[256];
        int batch, c, h, w, classes;
        if (line[0] == '#' ||
            sscanf(line, "%127s %255s %255s %d %d %d %d %d", name, file, expected, &batch, &c, &h, &w,
                   &classes) != 8)
            continue;
        check_case(dir, name, file, expected, batch, c, h, w, classes);
        cases++;
    }
    if (f)
        fclose(f);
    CHECK_MSG(cases > 0, "%s lists cases", path);
    snprintf(path, sizeof path, "%s/squeezenet_train.onnx", dir);
    FILE *train = fopen(path, "r");
    if (train) {
        fclose(train);
        check_training(dir, "squeezenet_train", 64, 0);
    } else if (argc <= 1) {
        CHECK_MSG(0, "%s exists", path);
    }
    if (argc <= 1)
        check_training(dir, "generic_train", 8, 1);
    if (argc <= 1)
        check_tied_gradient();
    return test_summary("test_torchvision");
}
