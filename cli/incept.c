/* incept.c — the command-line program. It parses arguments and calls the library; every
 * library failure is printed with its message and becomes a non-zero exit code. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "incept.h"

#define EXIT_USAGE 2

static int usage(FILE *f)
{
    fprintf(f,
            "incept %s — the Inception architecture (GoogLeNet) in C\n\n"
            "usage:\n"
            "  incept                         GoogLeNet's Table 1 and a timed forward pass (built-in model)\n"
            "  incept summary MODEL [--dot]   the model as the paper's Table 1, with totals (or as\n"
            "                                 Graphviz, modules drawn as Figure 3: | dot -Tsvg)\n"
            "  incept run MODEL --input IN.bin --output OUT.bin [--threads T] [--exact]\n"
            "                                 inference on raw float32 NCHW (batch from the file size)\n"
            "  incept run MODEL.onnx --input A.pb[,B.pb...] --output Y.pb[,Z.pb...] [--threads T]\n"
            "                                 any ONNX graph of the supported ops (several inputs, any\n"
            "                                 rank), arrays as serialized TensorProtos (ONNX test data)\n"
            "  incept bench MODEL [--batch N] [--threads T] [--seconds S] [--profile] [--exact] [--train]\n"
            "                                 time inference (or, --train, SGD steps with the auxiliary\n"
            "                                 heads); the last line sums it up\n"
            "  incept init-weights MODEL OUT  write He-initialized weights for a description [--seed S]\n"
            "  incept export MODEL OUT.onnx   write the model as ONNX [--weights W]\n"
            "  incept classify MODEL... IMAGE... [--labels FILE] [--top K] [--preset caffe|torchvision]\n"
            "               [--crops 1|10|144] [--json]  top-K labels per JPEG/PNG; several models: an ensemble\n"
            "  incept train [MODEL] [--epochs E | --steps S] [--batch N] [--lr X] [--momentum X]\n"
            "               [--weight-decay X] [--schedule constant|step|cosine|paper] [--warmup S]\n"
            "               [--crop-pad P] [--seed S] [--threads T] [--no-shuffle] [--no-augment]\n"
            "               [--out W] [--log CSV]\n"
            "               [--train-images I --train-labels L --test-images I --test-labels L]\n"
            "               [--inputs X.bin --labels Y.bin] [--train-dir D --test-dir D [--preset P]]\n"
            "                                 SGD on Fashion-MNIST (default: the built-in fashion model and\n"
            "                                 its recipe, 11 epochs, ~14 min, 93%%; Debian's\n"
            "                                 dataset-fashion-mnist), idx files or raw tensors\n"
            "  incept eval MODEL [--weights W] [--test-images I --test-labels L | --inputs X --labels Y |\n"
            "               --test-dir D [--preset P]]\n"
            "                                 top-1 / top-5 accuracy; last line: eval: top1=... top5=... n=...\n"
            "  incept onnx-test DIR...        run ONNX backend node tests (folders with model.onnx and\n"
            "                                 test_data_set_*); last line: N passed, N failed, N skipped\n"
            "  incept version | help\n\n"
            "MODEL is an .onnx file or a network description (models/*.incept); a description takes\n"
            "its weights from --weights FILE (else He initialization from seed 0). --exact computes\n"
            "every convolution directly (no Winograd): within 1e-5 of PyTorch instead of 1e-4.\n",
            INCEPT_VERSION);
    return f == stdout ? 0 : EXIT_USAGE;
}

int cli_fail(const char *what)
{
    fprintf(stderr, "incept: %s: %s\n", what, incept_last_error());
    return 1;
}

/* Options shared by the commands. */

static int parse_int_arg(const char *flag, const char *value, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || errno || end == value || *end || v < min || v > max) {
        fprintf(stderr, "incept: %s expects an integer from %ld to %ld\n", flag, min, max);
        return 0;
    }
    *out = v;
    return 1;
}

static int parse_float_arg(const char *flag, const char *value, float *out)
{
    char *end;
    errno = 0;
    double v = value ? strtod(value, &end) : 0.0;
    if (!value || errno || end == value || *end || !(v >= 0.0) || v > 1e6) {
        fprintf(stderr, "incept: %s expects a non-negative number\n", flag);
        return 0;
    }
    *out = (float)v;
    return 1;
}

static int parse_options(int argc, char **argv, options *o)
{
    long v;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--weights") && next)
            o->weights = argv[++i];
        else if (!strcmp(a, "--input") && next)
            o->input = argv[++i];
        else if (!strcmp(a, "--output") && next)
            o->output = argv[++i];
        else if (!strcmp(a, "--threads")) {
            if (!parse_int_arg(a, next, 1, 1024, &v))
                return 0;
            o->threads = (int)v, i++;
        } else if (!strcmp(a, "--seed")) {
            if (!parse_int_arg(a, next, 0, 2147483647L, &v))
                return 0;
            o->seed = (unsigned long long)v, i++;
        } else if (!strcmp(a, "--batch")) {
            if (!parse_int_arg(a, next, 1, 65536, &v))
                return 0;
            o->batch = (int)v, i++;
        } else if (!strcmp(a, "--seconds")) {
            if (!parse_int_arg(a, next, 1, 3600, &v))
                return 0;
            o->seconds = (double)v, i++;
        } else if (!strcmp(a, "--profile")) {
            o->profile = 1;
        } else if (!strcmp(a, "--exact")) {
            o->exact = 1;
        } else if (!strcmp(a, "--train")) {
            o->train = 1;
        } else if (!strcmp(a, "--no-shuffle")) {
            o->no_shuffle = 1;
        } else if (!strcmp(a, "--no-augment")) {
            o->no_augment = 1;
        } else if (!strcmp(a, "--epochs")) {
            if (!parse_int_arg(a, next, 1, 100000, &v))
                return 0;
            o->epochs = (int)v, i++;
        } else if (!strcmp(a, "--steps")) {
            if (!parse_int_arg(a, next, 1, 2000000000L, &v))
                return 0;
            o->steps = v, i++;
        } else if (!strcmp(a, "--crop-pad")) {
            if (!parse_int_arg(a, next, 0, 64, &v))
                return 0;
            o->crop_pad = v, i++;
        } else if (!strcmp(a, "--warmup")) {
            if (!parse_int_arg(a, next, 0, 2000000000L, &v))
                return 0;
            o->warmup = v, i++;
        } else if (!strcmp(a, "--lr") || !strcmp(a, "--momentum") || !strcmp(a, "--weight-decay") ||
                   !strcmp(a, "--average")) {
            float f;
            if (!parse_float_arg(a, next, &f))
                return 0;
            *(!strcmp(a, "--lr") ? &o->lr : !strcmp(a, "--momentum") ? &o->momentum
              : !strcmp(a, "--average") ? &o->average : &o->weight_decay) = f;
            i++;
        } else if (!strcmp(a, "--schedule") && next) {
            if (!cli_valid_schedule(next)) {
                fprintf(stderr, "incept: --schedule is constant, step, cosine or paper\n");
                return 0;
            }
            o->schedule = argv[++i];
        } else if (!strcmp(a, "--train-dir") && next) {
            o->train_dir = argv[++i];
        } else if (!strcmp(a, "--test-dir") && next) {
            o->test_dir = argv[++i];
        } else if (!strcmp(a, "--train-images") && next) {
            o->train_images = argv[++i];
        } else if (!strcmp(a, "--train-labels") && next) {
            o->train_labels = argv[++i];
        } else if (!strcmp(a, "--test-images") && next) {
            o->test_images = argv[++i];
        } else if (!strcmp(a, "--test-labels") && next) {
            o->test_labels = argv[++i];
        } else if (!strcmp(a, "--inputs") && next) {
            o->inputs = argv[++i];
        } else if (!strcmp(a, "--labels") && next) {
            o->labels_file = argv[++i];
        } else if (!strcmp(a, "--out") && next) {
            o->out = argv[++i];
        } else if (!strcmp(a, "--log") && next) {
            o->log = argv[++i];
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--dot")) {
            o->dot = 1;
        } else if (!strcmp(a, "--preset") && next) {
            o->preset = argv[++i];
        } else if (!strcmp(a, "--crops") || !strcmp(a, "--top")) {
            if (!parse_int_arg(a, next, 1, 100000, &v))
                return 0;
            *(!strcmp(a, "--crops") ? &o->crops : &o->top) = (int)v, i++;
        } else if (!strcmp(a, "--plot") && next) {
            o->plot = argv[++i];
        } else if (!strcmp(a, "--checkpoint") && next) {
            o->checkpoint = argv[++i];
        } else if (!strcmp(a, "--resume") && next) {
            o->resume = argv[++i];
        } else if (!strcmp(a, "--checkpoint-every")) {
            if (!parse_int_arg(a, next, 1, 2000000000L, &v))
                return 0;
            o->checkpoint_every = v, i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "incept: unknown option '%s' (or it lacks its value)\n", a);
            return 0;
        } else {
            o->positional[o->n_positional++] = a;
            if (!o->model)
                o->model = a;
            else if (!o->extra)
                o->extra = a;
            else if (strcmp(argv[1], "classify") != 0 && strcmp(argv[1], "onnx-test") != 0) {
                fprintf(stderr, "incept: unexpected argument '%s'\n", a);
                return 0;
            }
        }
    }
    return 1;
}

double cli_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 1024 ? (int)n : 1;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The main job on the embedded default: GoogLeNet's Table 1, then timed forward passes. */
static int demo(void)
{
    incept_model *m;
    incept_session *session;
    if (incept_model_googlenet(1000, 0, &m))
        return cli_fail("building GoogLeNet");
    int threads = default_threads();
    if (cli_session(m, threads, &session)) {
        incept_model_free(m);
        return 1;
    }
    printf("GoogLeNet (Szegedy et al., 2014), Table 1, built from Inception modules:\n\n");
    incept_totals totals;
    if (incept_model_summary(m, stdout, &totals)) {
        int rc = cli_fail("summary");
        incept_session_free(session);
        incept_model_free(m);
        return rc;
    }
    int c, h, w, classes;
    incept_model_input_dims(m, &c, &h, &w);
    incept_model_output_dims(m, &classes, NULL, NULL);
    size_t n_in = (size_t)c * h * w;
    float *input = malloc(n_in * sizeof(float)), *output = malloc((size_t)classes * sizeof(float));
    if (!input || !output) {
        free(input);
        free(output);
        incept_session_free(session);
        incept_model_free(m);
        fprintf(stderr, "incept: out of memory\n");
        return 1;
    }
    unsigned s = 12345u; /* a generated input: uniform noise in [-1, 1) */
    for (size_t i = 0; i < n_in; i++) {
        s = s * 1664525u + 1013904223u;
        input[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
    }
    double times[7];
    int status = 0;
    for (int r = 0; r < 7 && !status; r++) {
        double t0 = cli_now();
        if (incept_session_forward(session, input, 1, output))
            status = cli_fail("forward");
        times[r] = cli_now() - t0;
    }
    if (!status) {
        qsort(times + 1, 6, sizeof(double), compare_double); /* the first run plans and warms up */
        double ms = times[3] * 1e3;
        int best = 0;
        for (int k = 1; k < classes; k++)
            best = output[k] > output[best] ? k : best;
        printf("\nforward pass: batch 1, %d threads, %.1f ms (median of 6 after a warm-up), "
               "%.1f GFLOP/s; top class %d (logit %.4f) on generated input with He-initialized "
               "weights\n", threads, ms, 2.0 * (double)totals.multiply_adds / (ms * 1e6), best,
               (double)output[best]);
    }
    free(input);
    free(output);
    incept_session_free(session);
    incept_model_free(m);
    return status;
}

int cli_read_samples(const char *path, size_t sample_floats, const char *shape, float **data,
                     int *batch)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    long size = -1;
    int rc = 1;
    const size_t per_sample = sample_floats * sizeof(float);
    if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        fprintf(stderr, "incept: %s: cannot read: %s\n", path, strerror(errno));
    else if (size == 0 || per_sample == 0 || (size_t)size % per_sample != 0)
        fprintf(stderr, "incept: %s: %ld bytes is not a whole number of %s float32 samples "
                        "(%zu bytes each)\n", path, size, shape, per_sample);
    else if (!(*data = malloc((size_t)size)))
        fprintf(stderr, "incept: out of memory for %ld bytes of input\n", size);
    else if (fread(*data, 1, (size_t)size, f) != (size_t)size)
        fprintf(stderr, "incept: %s: read failed\n", path);
    else {
        *batch = (int)((size_t)size / per_sample);
        rc = 0;
    }
    if (f)
        fclose(f);
    if (rc) {
        free(*data);
        *data = NULL;
    }
    return rc;
}

int cli_write_floats(const char *path, const float *data, size_t count)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, sizeof(float), count, f) != count || fclose(f) != 0) {
        fprintf(stderr, "incept: %s: cannot write: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

int cli_load_or(const options *o, const char *fallback, incept_model **m)
{
    if (!o->model && !fallback) {
        fprintf(stderr, "incept: a MODEL is required\n");
        return EXIT_USAGE;
    }
    if (!o->model) {
        if (incept_model_parse_description(incept_builtin_description(fallback), fallback, m))
            return cli_fail("the built-in model");
        if (o->weights && incept_model_load_weights(*m, o->weights)) {
            incept_model_free(*m);
            return cli_fail("loading the weights");
        }
        return 0;
    }
    if (incept_model_load(o->model, o->weights, m))
        return cli_fail("loading the model");
    return 0;
}

int cli_load(const options *o, incept_model **m) { return cli_load_or(o, NULL, m); }

int cli_session(incept_model *m, int threads, incept_session **s)
{
    *s = NULL;
    if (incept_session_new(m, s) || incept_session_set_threads(*s, threads)) {
        int rc = cli_fail("a session");
        incept_session_free(*s);
        *s = NULL;
        return rc;
    }
    return 0;
}

int cli_sample_size(const incept_model *m, int output, size_t *sample,
                    long long dims[INCEPT_MAX_RANK])
{
    incept_dtype dtype = INCEPT_FLOAT32;
    int rank = output ? incept_model_output_shape(m, 0, &dtype, dims)
                      : incept_model_input_shape(m, 0, &dtype, dims);
    if ((!output && incept_model_inputs(m) != 1) || rank < 1 || dtype != INCEPT_FLOAT32)
        return 0;
    *sample = 1;
    for (int d = 1; d < rank; d++) {
        if (dims[d] <= 0)
            return 0;
        *sample *= (size_t)dims[d];
    }
    return rank;
}

static int cmd_summary(const options *o)
{
    incept_model *m;
    int rc = cli_load(o, &m);
    if (rc)
        return rc;
    if (o->dot ? incept_model_dot(m, stdout) : incept_model_summary(m, stdout, NULL))
        rc = cli_fail("summary");
    incept_model_free(m);
    return rc;
}

static int cmd_export(const options *o)
{
    if (!o->extra) {
        fprintf(stderr, "incept: export needs MODEL and OUT.onnx\n");
        return EXIT_USAGE;
    }
    incept_model *m;
    int rc = cli_load(o, &m);
    if (rc)
        return rc;
    if (incept_model_save_onnx(m, o->extra))
        rc = cli_fail("exporting ONNX");
    incept_model_free(m);
    return rc;
}

static int cmd_init_weights(const options *o)
{
    if (!o->extra) {
        fprintf(stderr, "incept: init-weights needs MODEL and OUT\n");
        return EXIT_USAGE;
    }
    incept_model *m;
    if (incept_model_load_description(o->model, &m))
        return cli_fail("loading the description");
    int rc = 0;
    incept_model_init_weights(m, o->seed);
    if (incept_model_save_weights(m, o->extra))
        rc = cli_fail("saving weights");
    incept_model_free(m);
    return rc;
}

static double peak_rss_mb(void)
{
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) == 0 ? (double)u.ru_maxrss / 1024.0 : 0.0;
}

/* One timed step: a forward pass, or with --train a training step (aux heads, dropout) and an
 * SGD update with the settings of ../shared/bench/peers.py --train. */
static incept_status bench_step(incept_session *s, const options *o, const float *input,
                                const int *labels, float *output)
{
    if (!o->train)
        return incept_session_forward(s, input, o->batch, output);
    static const incept_sgd sgd = {0.01f, 0.9f, 2e-4f, 1};
    float loss;
    incept_status st = incept_session_train_step(s, input, labels, o->batch, &loss);
    return st ? st : incept_session_sgd_step(s, &sgd);
}

/* Times forward passes for about --seconds (at least 5 after a warm-up) and prints the median.
 * A model on the ONNX graph evaluator is timed too (one float input and output of declared
 * sizes); it has no multiply-add count (gflops=0.0) and no per-layer profile. */
static int cmd_bench(const options *o)
{
    incept_model *m;
    incept_session *s = NULL;
    int rc = cli_load(o, &m);
    if (rc)
        return rc;
    long long dims[INCEPT_MAX_RANK];
    size_t in_sample = 0, out_sample = 0;
    incept_totals totals = {0, 0, 0, 0};
    float *input = NULL, *output = NULL;
    double *times = NULL;
    int *labels = NULL;
    if (!cli_sample_size(m, 0, &in_sample, dims) || !cli_sample_size(m, 1, &out_sample, dims)) {
        fprintf(stderr, "incept: %s: bench needs one float32 input and output with declared sizes "
                        "after the first\n", o->model);
        rc = 1;
        goto done;
    }
    if ((rc = cli_session(m, o->threads, &s)))
        goto done;
    size_t n_in = (size_t)o->batch * in_sample;
    input = malloc(n_in * sizeof(float));
    output = malloc((size_t)o->batch * out_sample * sizeof(float));
    times = malloc(100000 * sizeof(double));
    labels = malloc(sizeof(int) * (size_t)o->batch);
    rc = 1;
    if (!input || !output || !times || !labels) {
        fprintf(stderr, "incept: out of memory\n");
        goto done;
    }
    unsigned noise = 7u;
    for (size_t i = 0; i < n_in; i++) {
        noise = noise * 1664525u + 1013904223u;
        input[i] = (float)(noise >> 8) / 8388608.0f - 1.0f;
    }
    for (int i = 0; i < o->batch; i++)
        labels[i] = (int)((unsigned)(i * 2654435761u) % (unsigned)out_sample);
    if ((!incept_model_is_evaluated(m) && incept_model_summary(m, NULL, &totals)) ||
        incept_session_set_exact(s, o->exact) || bench_step(s, o, input, labels, output) ||
        (o->profile && incept_session_set_profiling(s, 1))) {
        rc = cli_fail("bench");
        goto done;
    }
    int reps = 0;
    double started = cli_now();
    while (reps < 100000 && (reps < 5 || cli_now() - started < o->seconds)) {
        double t0 = cli_now();
        if (bench_step(s, o, input, labels, output)) {
            rc = cli_fail(o->train ? "training step" : "forward");
            goto done;
        }
        times[reps++] = cli_now() - t0;
    }
    qsort(times, (size_t)reps, sizeof(double), compare_double);
    double median = times[reps / 2];
    if (o->profile && incept_session_profile_report(s, stdout))
        cli_fail("profile"); /* none for a model on the evaluator: the timing still counts */
    /* a training step does about three times the multiply-adds of inference, heads included */
    double flops = 2.0 * (double)(o->train ? 3 * (totals.multiply_adds + totals.aux_multiply_adds)
                                           : totals.multiply_adds);
    printf("bench: batch=%d threads=%d median_ms=%.2f img_s=%.2f gflops=%.1f peak_rss_mb=%.1f "
           "min_ms=%.2f runs=%d mode=%s\n",
           o->batch, o->threads, median * 1e3, o->batch / median, flops * o->batch / median * 1e-9,
           peak_rss_mb(), times[0] * 1e3, reps,
           o->train ? "train" : o->exact ? "exact" : "fast");
    rc = 0;
done:
    free(input);
    free(output);
    free(times);
    free(labels);
    incept_session_free(s);
    incept_model_free(m);
    return rc;
}

static int run_command(const char *cmd, options *o);

int main(int argc, char **argv)
{
    if (argc < 2)
        return demo();
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h"))
        return usage(stdout);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("incept %s\n", INCEPT_VERSION);
        return 0;
    }
    options o = {0};
    const char **positional = calloc((size_t)argc, sizeof(char *));
    if (!positional) {
        fprintf(stderr, "incept: out of memory\n");
        return 1;
    }
    o.positional = positional;
    o.crops = 1;
    o.top = 5;
    o.threads = default_threads();
    o.batch = 1;
    o.seconds = 5.0;
    o.epochs = 0;     /* these four: unset, so train can tell its built-in recipe from */
    o.lr = NAN;       /* what was asked for (cli_training_defaults) */
    o.warmup = -1;
    o.crop_pad = -1;
    o.schedule = NULL;
    o.momentum = 0.9f;
    o.weight_decay = 5e-4f;
    int rc = parse_options(argc, argv, &o) ? run_command(cmd, &o) : EXIT_USAGE;
    free(positional);
    return rc;
}

static int run_command(const char *cmd, options *o_ptr)
{
    options o = *o_ptr;
    if (!strcmp(cmd, "summary"))
        return cmd_summary(&o);
    if (!strcmp(cmd, "run"))
        return cmd_run(&o);
    if (!strcmp(cmd, "bench"))
        return cmd_bench(&o);
    if (!strcmp(cmd, "train")) {
        if (o.batch == 1)
            o.batch = 128;
        cli_training_defaults(&o);
        if ((o.inputs != NULL) != (o.labels_file != NULL)) {
            fprintf(stderr, "incept: --inputs and --labels go together\n");
            return EXIT_USAGE;
        }
        return cmd_train(&o);
    }
    if (!strcmp(cmd, "eval"))
        return cmd_eval(&o);
    if (!strcmp(cmd, "classify"))
        return cmd_classify(&o);
    if (!strcmp(cmd, "export"))
        return cmd_export(&o);
    if (!strcmp(cmd, "init-weights"))
        return cmd_init_weights(&o);
    if (!strcmp(cmd, "onnx-test"))
        return cmd_onnx_test(&o);
    fprintf(stderr, "incept: unknown command '%s'\n\n", cmd);
    return usage(stderr);
}
