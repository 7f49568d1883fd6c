/* test_errors.c — failure paths end to end: every allocation failing in turn while loading and
 * running models, training them (a generic model too), resuming a checkpoint, decoding images
 * and loading datasets (a status, never a crash or a leak), and the CLI's exit codes and
 * messages. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/status.h"
#include "incept.h"
#include "test.h"

/* Loads `path`, makes a session and runs it (incept_session_forward, then incept_session_run
 * asking for the first layer's output and the model's, allocated by the library) with the n-th
 * allocation failing; returns the status. */
static incept_status load_and_run(const char *path, long n);
static void test_failures_of(const char *what, incept_status (*scenario)(const char *what, long n),
                             int at_least);

static incept_status load_and_run(const char *path, long n)
{
    incept_model *m = NULL;
    incept_session *s = NULL;
    incept_tensor out[2] = {{0}, {0}};
    incept_fail_allocation_after(n);
    incept_status st = incept_model_load(path, NULL, &m);
    if (!st)
        st = incept_session_new(m, &s);
    if (!st) {
        int c, h, w, oc, oh, ow;
        incept_model_input_dims(m, &c, &h, &w);
        incept_model_output_dims(m, &oc, &oh, &ow);
        float *x = calloc((size_t)2 * c * h * w, sizeof(float));
        float *y = calloc((size_t)2 * oc * oh * ow, sizeof(float));
        st = incept_session_forward(s, x, 2, y);
        const char *names[2] = {NULL, incept_model_output_name(m, 0)};
        if (!st)
            st = incept_model_layer(m, 0, &names[0], NULL, NULL, NULL);
        incept_tensor in = {.dtype = INCEPT_FLOAT32, .rank = 4, .dims = {2, c, h, w}, .data = x};
        if (!st)
            st = incept_session_run(s, 1, NULL, &in, 2, names, out);
        if (!st && (!out[1].data || memcmp(out[1].data, y, (size_t)2 * oc * oh * ow * sizeof(float))))
            st = INCEPT_ERR_ARG; /* the run disagrees with forward: reported as not out of memory */
        free(x);
        free(y);
    }
    incept_fail_allocation_after(0);
    incept_tensor_free(&out[0]);
    incept_tensor_free(&out[1]);
    incept_session_free(s);
    incept_model_free(m);
    return st;
}

/* Runs scenario(what, n) with the n-th allocation failing, for n = 1, 2, ... until it succeeds:
 * every failure must be INCEPT_ERR_NOMEM (and, under ASan, leak nothing). */
static void test_failures_of(const char *what, incept_status (*scenario)(const char *what, long n),
                             int at_least)
{
    int tried = 0, nomem = 0;
    for (long n = 1; n < 20000; n++) {
        incept_status st = scenario(what, n);
        if (st == INCEPT_OK)
            break; /* past the last allocation */
        tried++;
        nomem += st == INCEPT_ERR_NOMEM;
        if (st != INCEPT_ERR_NOMEM)
            fprintf(stderr, "allocation %ld: status %d: %s\n", n, st, incept_last_error());
    }
    CHECK_MSG(tried >= at_least, "%s: only %d allocations", what, tried);
    CHECK_MSG(nomem == tried, "%s: %d of %d failed allocations reported out of memory", what, nomem,
              tried);
    printf("%-48s %4d allocations, each failure reported out of memory\n", what, tried);
}

static void test_allocation_failures(const char *path) { test_failures_of(path, load_and_run, 20); }

/* A model (description or ONNX) loaded, a session made, two training steps and an SGD update. */
static incept_status train_steps(const char *path, long n)
{
    incept_model *m = NULL;
    incept_session *s = NULL;
    incept_fail_allocation_after(n);
    incept_status st = incept_model_load(path, NULL, &m);
    if (!st)
        st = incept_session_new(m, &s);
    int c = 0, h = 0, w = 0, classes = 0;
    if (!st) {
        incept_model_input_dims(m, &c, &h, &w);
        incept_model_output_dims(m, &classes, NULL, NULL);
    }
    float *x = st ? NULL : calloc((size_t)2 * c * h * w, sizeof(float));
    for (size_t i = 0; x && i < (size_t)2 * c * h * w; i++)
        x[i] = (float)(i % 7) * 0.25f;
    int labels[2] = {0, classes > 1 ? 1 : 0};
    const incept_sgd sgd = {0.01f, 0.9f, 1e-4f, 0};
    float loss;
    for (int step = 0; step < 2 && !st; step++)
        if (!(st = incept_session_train_step(s, x, labels, 2, &loss)))
            st = incept_session_sgd_step(s, &sgd);
    incept_fail_allocation_after(0);
    free(x);
    incept_session_free(s);
    incept_model_free(m);
    return st;
}

/* A checkpoint (written beforehand, without failures) loaded and resumed one step. */
static incept_status checkpoint_resume(const char *path, long n)
{
    incept_model *m = NULL;
    incept_session *s = NULL;
    incept_train_state state;
    incept_fail_allocation_after(n);
    incept_status st = incept_checkpoint_load(path, &m, &s, &state);
    float x[2 * 36] = {1.0f, -0.5f};
    int labels[2] = {0, 2};
    float loss;
    if (!st)
        st = incept_session_train_step(s, x, labels, 2, &loss);
    incept_fail_allocation_after(0);
    incept_session_free(s);
    incept_model_free(m);
    return st;
}

/* An image decoded, resized and prepared for a 16x16 network input. */
static incept_status image_prepare(const char *path, long n)
{
    incept_image im = {0}, small = {0};
    incept_preprocess pre;
    float out[3 * 16 * 16];
    incept_fail_allocation_after(n);
    incept_status st = incept_image_load(path, &im);
    if (!st)
        st = incept_image_resize(&im, 5, 4, 1, &small);
    if (!st && !(st = incept_preprocess_preset("torchvision", &pre)))
        st = incept_image_prepare(&im, &pre, 16, 16, -1, -1, 1, out);
    incept_fail_allocation_after(0);
    incept_image_free(&im);
    incept_image_free(&small);
    return st;
}

/* An idx dataset (images path; labels beside it as ...labels) loaded and batched by a loader. */
static incept_status dataset_batches(const char *path, long n)
{
    char labels_path[256];
    snprintf(labels_path, sizeof labels_path, "%s.labels", path);
    incept_dataset *d = NULL;
    incept_loader *l = NULL;
    incept_fail_allocation_after(n);
    incept_status st = incept_dataset_load_idx(path, labels_path, &d);
    incept_loader_options options = {2, 1, 1, 1, 1, 3, 0, 0};
    if (!st)
        st = incept_loader_new(d, &options, 0, &l);
    if (!st) {
        const float *images;
        const int *labels;
        int count;
        incept_loader_next(l, &images, &labels, &count);
    }
    incept_fail_allocation_after(0);
    incept_loader_free(l);
    incept_dataset_free(d);
    return st;
}

/* Every allocation of training set-up and steps, checkpoint loading, image decoding and dataset
 * loading failing in turn. */
static void test_more_allocation_failures(void)
{
    const char *tiny = "input x 1 6 6\nconv c 2 3x3 pad 1 relu\nmaxpool p 2x2 stride 2\nglobalavgpool g\n"
                       "flatten f\nfc out 3\n";
    FILE *f = fopen("/tmp/incept_alloc.incept", "w");
    if (f) {
        fputs(tiny, f);
        fclose(f);
    }
    test_failures_of("/tmp/incept_alloc.incept", train_steps, 10);
    test_failures_of("tests/fixtures/torchvision/generic_train.onnx", train_steps, 10);
    incept_model *m = NULL;
    incept_session *s = NULL;
    incept_train_state state = {.total_steps = 4, .batch = 2, .aux_weight = 0.3f,
                                .sgd = {0.1f, 0.9f, 1e-4f, 0}, .schedule = "constant"};
    CHECK_OK(incept_model_load("/tmp/incept_alloc.incept", NULL, &m));
    if (m)
        CHECK_OK(incept_session_new(m, &s));
    float x[2 * 36] = {0.5f};
    int labels[2] = {1, 2};
    float loss;
    if (s) {
        CHECK_OK(incept_session_train_step(s, x, labels, 2, &loss));
        CHECK_OK(incept_session_sgd_step(s, &state.sgd));
        CHECK_OK(incept_checkpoint_save(s, &state, "/tmp/incept_alloc.ckpt"));
    }
    incept_session_free(s);
    incept_model_free(m);
    test_failures_of("/tmp/incept_alloc.ckpt", checkpoint_resume, 10);
#if INCEPT_WITH_IMAGES /* the decoders' own allocations are theirs: only ours fail */
    test_failures_of("fuzz/corpus/image/baseline.jpg", image_prepare, 3);
    test_failures_of("fuzz/corpus/image/palette.png", image_prepare, 3);
#else
    printf("test_errors: image decoding skipped: this build has none (INCEPT_WITH_IMAGES=OFF)\n");
    (void)image_prepare;
#endif
    const unsigned char images[16 + 3 * 9] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 3, 9, 8, 7};
    const unsigned char classes[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 0, 1, 1};
    f = fopen("/tmp/incept_alloc.idx", "wb");
    if (f) {
        fwrite(images, sizeof images, 1, f);
        fclose(f);
    }
    f = fopen("/tmp/incept_alloc.idx.labels", "wb");
    if (f) {
        fwrite(classes, sizeof classes, 1, f);
        fclose(f);
    }
    if (INCEPT_WITH_DATASETS)
        test_failures_of("/tmp/incept_alloc.idx", dataset_batches, 10);
    unlink("/tmp/incept_alloc.incept"), unlink("/tmp/incept_alloc.ckpt");
    unlink("/tmp/incept_alloc.idx"), unlink("/tmp/incept_alloc.idx.labels");
}

/* Runs the CLI with `args` and returns its exit code; its stderr goes to `err` (or, when
 * `stdout_too`, its stdout and stderr). */
static int cli_output(const char *args, char *err, size_t err_size, int stdout_too)
{
    const char *exe = getenv("INCEPT_CLI");
    char cmd[20000], errfile[] = "/tmp/incept_cli_err_XXXXXX";
    int fd = mkstemp(errfile);
    close(fd);
    if (stdout_too)
        snprintf(cmd, sizeof cmd, "%s %s >%s 2>&1 </dev/null", exe ? exe : "build/incept", args, errfile);
    else
        snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>%s </dev/null", exe ? exe : "build/incept", args,
                 errfile);
    int status = system(cmd);
    FILE *f = fopen(errfile, "r");
    size_t n = f ? fread(err, 1, err_size - 1, f) : 0;
    err[n] = '\0';
    if (f)
        fclose(f);
    unlink(errfile);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int cli(const char *args, char *err, size_t err_size) { return cli_output(args, err, err_size, 0); }

/* Every command's --help, the manual page, bash completion's words, and the silent fallbacks
 * that are errors now. */
static void test_cli_product(void)
{
    char out[65536], args[256]; /* the manual page is past 16 KB */
    CHECK(cli_output("help --words", out, sizeof out, 1) == 0 && strstr(out, "train\n") &&
          strstr(out, "classify\n"));
    char commands[sizeof out];
    snprintf(commands, sizeof commands, "%s", out);
    int n = 0;
    for (char *c = strtok(commands, "\n"); c; c = strtok(NULL, "\n"), n++) {
        snprintf(args, sizeof args, "%s --help", c);
        CHECK_MSG(cli_output(args, out, sizeof out, 1) == 0 && strstr(out, "usage: incept"), "%s: %s",
                  args, out);
        snprintf(args, sizeof args, "help %s --words", c);
        CHECK_MSG(cli_output(args, out, sizeof out, 1) == 0 && strstr(out, "--help"), "%s", args);
    }
    CHECK_MSG(n >= 10, "%d commands", n);
    CHECK(cli_output("help train --words", out, sizeof out, 1) == 0 && strstr(out, "--resume\n") &&
          strstr(out, "--checkpoint-every\n"));
    CHECK(cli_output("help --man", out, sizeof out, 1) == 0 && strstr(out, ".TH INCEPT 1") &&
          strstr(out, ".SH EXIT STATUS"));
    if (system("command -v man >/dev/null 2>&1") == 0) {
        const char *exe = getenv("INCEPT_CLI");
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "%s help --man > /tmp/incept_test.1 && MANPAGER=cat man -l "
                 "/tmp/incept_test.1 2>/dev/null | grep -q 'checkpoint' ", exe ? exe : "build/incept");
        CHECK_MSG(system(cmd) == 0, "%s", "man -l shows the manual page");
        unlink("/tmp/incept_test.1");
    } else {
        printf("test_errors: man -l not tried: man (man-db) is not installed\n");
    }
    /* a pair named without its other half is an error, not the built-in data */
    CHECK(cli_output("train models/tiny.incept --train-images /tmp/x.idx", out, sizeof out, 1) == 2 &&
          strstr(out, "--train-images needs --train-labels"));
    CHECK(cli_output("eval --test-labels /tmp/y.idx", out, sizeof out, 1) == 2 &&
          strstr(out, "--test-labels needs --test-images"));
    CHECK(cli_output("train models/tiny.incept --inputs /tmp/x.bin", out, sizeof out, 1) == 2 &&
          strstr(out, "--labels"));
    /* commands that write a file say so */
    CHECK(cli_output("init-weights models/tiny.incept /tmp/incept_cli.w --seed 3", out, sizeof out, 1) == 0 &&
          strstr(out, "written to /tmp/incept_cli.w"));
    CHECK(cli_output("export models/tiny.incept /tmp/incept_cli.onnx --weights /tmp/incept_cli.w", out,
                     sizeof out, 1) == 0 && strstr(out, "written as ONNX to /tmp/incept_cli.onnx"));
    unlink("/tmp/incept_cli.w"), unlink("/tmp/incept_cli.onnx");
}

static void test_cli(void)
{
    char err[4096];
    CHECK(cli("frobnicate", err, sizeof err) == 2);
    CHECK(cli("summary", err, sizeof err) == 2);
    CHECK(cli("run models/tiny.incept", err, sizeof err) == 2);
    CHECK(cli("summary models/nope.onnx", err, sizeof err) == 1);
    CHECK(strstr(err, "models/nope.onnx") != NULL);
    CHECK(cli("summary tests/fixtures/unsupported_op.onnx", err, sizeof err) == 1);
    CHECK(strstr(err, "my_tanh") != NULL);

    /* input size not a whole number of samples */
    CHECK(cli("run models/tiny.incept --input tests/fixtures/unsupported_op.input.bin --output /tmp/incept_cli_out.bin",
              err, sizeof err) == 1);
    CHECK(strstr(err, "not a whole number") != NULL);
    CHECK(cli("run models/tiny.incept --threads 0 --input x --output y", err, sizeof err) == 2);

    /* a real run: batch from the file size, output as PyTorch computed it */
    unlink("/tmp/incept_cli_out.bin");
    CHECK(cli("run tests/fixtures/opset7_pad_gemm.onnx --input tests/fixtures/opset7_pad_gemm.input.bin "
              "--output /tmp/incept_cli_out.bin --threads 2", err, sizeof err) == 0);
    float *got = read_floats("/tmp", "incept_cli_out.bin", 10);
    float *expect = read_floats("tests/fixtures", "opset7_pad_gemm.output.bin", 10);
    CHECK(got && expect && max_abs_diff(got, expect, 10) < 1e-5f);
    free(got);
    free(expect);
    unlink("/tmp/incept_cli_out.bin");

    /* a graph of three inputs (two on the generic N-d path): .pb arrays */
    const char *several = "tests/fixtures/opset13_several_inputs";
    char args[1024];
    snprintf(args, sizeof args, "run %s.onnx --input %s.input_0.pb,%s.input_1.pb,%s.input_2.pb "
             "--output /tmp/incept_cli_0.pb,/tmp/incept_cli_1.pb", several, several, several, several);
    CHECK_MSG(cli(args, err, sizeof err) == 0, "%s", err);
    incept_tensor indices = {0}, expect_indices = {0};
    snprintf(args, sizeof args, "%s.output_1.pb", several);
    CHECK(incept_tensor_load("/tmp/incept_cli_1.pb", &indices) == INCEPT_OK &&
          incept_tensor_load(args, &expect_indices) == INCEPT_OK);
    CHECK(indices.dtype == INCEPT_INT64 && incept_tensor_count(&indices) == 72 &&
          incept_tensor_count(&expect_indices) == 72 &&
          !memcmp(indices.data, expect_indices.data, 72 * sizeof(long long)));
    incept_tensor_free(&indices), incept_tensor_free(&expect_indices);
    unlink("/tmp/incept_cli_0.pb"), unlink("/tmp/incept_cli_1.pb");
    snprintf(args, sizeof args, "run %s.onnx --input %s.input_0.pb --output /tmp/incept_cli_0.pb", several,
             several);
    CHECK(cli(args, err, sizeof err) == 2 && strstr(err, "takes 3 input(s)"));
    /* raw files for a model with generic nodes: needs one input */
    snprintf(args, sizeof args, "run %s.onnx --input tests/fixtures/opset13_same_upper.input.bin "
             "--output /tmp/incept_cli_out.bin", several);
    CHECK_MSG(cli(args, err, sizeof err) == 1 && strstr(err, "generic N-d path") && strstr(err, "one input"),
              "%s", err);

    /* bench: a profile table, then the summary line last */
    char out[16384];
    CHECK(cli_output("bench tests/fixtures/opset13_same_upper.onnx --batch 3 --threads 2 --seconds 1 "
                     "--profile", out, sizeof out, 1) == 0);
    const char *last = strstr(out, "bench: batch=3 threads=2 median_ms=");
    CHECK_MSG(last && strstr(last, " img_s=") && strstr(last, " gflops=") && strstr(last, " peak_rss_mb=")
              && strchr(last, '\n') == last + strlen(last) - 1, "bench output: %s", out);
    CHECK(strstr(out, "GFLOP/s") && strstr(out, "memory: parameters"));
    CHECK(cli("bench tests/fixtures/opset13_same_upper.onnx --batch 0", err, sizeof err) == 2);

    /* each command takes its own options: another command's, or an unknown one, is a usage error
     * that names it and the command */
    CHECK_MSG(cli("summary models/tiny.incept --lr 5", err, sizeof err) == 2 && strstr(err, "--lr") &&
              strstr(err, "summary"), "%s", err);
    CHECK_MSG(cli("bench models/tiny.incept --epochs 2", err, sizeof err) == 2 && strstr(err, "--epochs"),
              "%s", err);
    CHECK_MSG(cli("summary models/tiny.incept --frobnicate", err, sizeof err) == 2 &&
              strstr(err, "--frobnicate"), "%s", err);
    CHECK(cli("train --frobnicate=3", err, sizeof err) == 2 && strstr(err, "--frobnicate"));
    CHECK(cli("summary models/tiny.incept --dot=yes", err, sizeof err) == 2);
    CHECK(cli("train --batch", err, sizeof err) == 2 && strstr(err, "--batch")); /* no value */
    CHECK(cli("summary models/tiny.incept models/tiny.incept", err, sizeof err) == 2);
    /* --help: the command's options with their defaults, on stdout, exit 0 */
    CHECK_MSG(cli_output("train --help", out, sizeof out, 1) == 0 && strstr(out, "--batch N") &&
              strstr(out, "(default: 128)") && strstr(out, "--checkpoint-every"), "%s", out);
    CHECK(cli_output("help bench", out, sizeof out, 1) == 0 && strstr(out, "--seconds") &&
          strstr(out, "(default: 1)") && !strstr(out, "--epochs"));
    CHECK(cli_output("eval -h", out, sizeof out, 1) == 0 && strstr(out, "(default: 256)"));
    CHECK(cli_output("--help", out, sizeof out, 1) == 0 && strstr(out, "incept train [MODEL]") &&
          strstr(out, "incept onnx-test DIR..."));
    CHECK(cli("help frobnicate", err, sizeof err) == 2);

    /* description + weights through the CLI */
    CHECK(cli("init-weights models/tiny.incept /tmp/incept_cli_tiny.w --seed 3", err, sizeof err) == 0);
    CHECK(cli("summary models/tiny.incept --weights /tmp/incept_cli_tiny.w", err, sizeof err) == 0);
    CHECK(cli("summary models/googlenet.incept --weights /tmp/incept_cli_tiny.w", err, sizeof err) == 1);
    CHECK(strstr(err, "incept_cli_tiny.w") != NULL);
    unlink("/tmp/incept_cli_tiny.w");
}

/* The round trip a PyTorch user makes: train an imported ONNX model here, export it, compare
 * its initializers with what PyTorch's SGD made of the same two steps. */
static void test_train_export(void)
{
    const char *ref = reference_dir("test_errors (train and export)");
    if (!ref)
        return;
    char args[16384], err[4096], rel[512];
    snprintf(args, sizeof args, "train %s/tiny/tiny.onnx --inputs %s/tiny/input.bin --labels "
             "%s/tiny/labels.bin --batch 4 --steps 2 --lr 0.05 --momentum 0.9 --weight-decay 5e-4 "
             "--no-shuffle --no-augment --threads 2 --out /tmp/incept_cli_tiny.onnx", ref, ref, ref);
    CHECK_MSG(cli(args, err, sizeof err) == 0, "%s", err);
    incept_model *m = NULL;
    CHECK_OK(incept_model_load("/tmp/incept_cli_tiny.onnx", NULL, &m));
    for (int p = 0; m && p < incept_model_param_count(m); p++) {
        const char *name;
        int nd, dims[4];
        float *data;
        incept_model_param(m, p, &name, &nd, dims, &data);
        size_t count = dims_count(nd, dims);
        snprintf(rel, sizeof rel, "tiny/step2/param_after/%s.bin", name);
        float *expect = read_floats(ref, rel, count);
        CHECK_MSG(expect && max_abs_diff(data, expect, count) <= 1e-4f * max_abs(expect, count),
                  "%s after two steps", name);
        free(expect);
    }
    incept_model_free(m);
    unlink("/tmp/incept_cli_tiny.onnx");
}

/* Runs the CLI with `args` in a child that is killed with SIGKILL after `delay_us` (or left to
 * finish if it is quicker). */
static void run_killed(const char *args, const char *checkpoint, unsigned long delay_us)
{
    const char *exe = getenv("INCEPT_CLI");
    char cmd[20000];
    snprintf(cmd, sizeof cmd, "exec %s %s >/dev/null 2>&1 </dev/null", exe ? exe : "build/incept", args);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    struct timespec pause = {(time_t)(delay_us / 1000000), (long)(delay_us % 1000000) * 1000};
    nanosleep(&pause, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    (void)checkpoint; /* what it left half-written the next save removes (checked below) */
}

/* How many temporaries of `path` (PATH.tmp.*) lie beside it. */
static int temporaries_of(const char *dir, const char *base)
{
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s.tmp.", base);
    DIR *d = opendir(dir);
    int count = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        count += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return count;
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* Training killed with SIGKILL at arbitrary moments and resumed from its checkpoint ends with the
 * same weights, to the byte, as training left alone; the checkpoint is always readable. */
static void test_kill_and_resume(void)
{
    const char *model = "input x 3 12 12\nconv c 8 3x3 pad 1 relu\ninception m 4 4 6 2 3 3\n"
                        "globalavgpool g\nflatten f\ndropout d 0.3\nfc out 5\n";
    FILE *f = fopen("/tmp/incept_kill.incept", "w");
    fputs(model, f);
    fclose(f);
    static float x[64 * 3 * 144];
    float y[64];
    fill_random(x, sizeof x / sizeof x[0], 8);
    for (int i = 0; i < 64; i++)
        y[i] = (float)(i % 5);
    f = fopen("/tmp/incept_kill_x", "wb");
    fwrite(x, sizeof x, 1, f);
    fclose(f);
    f = fopen("/tmp/incept_kill_y", "wb");
    fwrite(y, sizeof y, 1, f);
    fclose(f);
    const char *common = "--inputs /tmp/incept_kill_x --labels /tmp/incept_kill_y --threads 2";
    char args[4096], err[4096];
    snprintf(args, sizeof args, "train /tmp/incept_kill.incept %s --batch 8 --steps 60 --seed 3 "
             "--schedule cosine --warmup 5 --out /tmp/incept_kill_a.w", common);
    /* --plot: the curves as a PNG, drawn by the plotting module the CLI loads on demand */
    char plot_args[4096];
    snprintf(plot_args, sizeof plot_args, "train /tmp/incept_kill.incept %s --batch 8 --epochs 2 "
             "--plot /tmp/incept_plot_test.png", common);
#if INCEPT_WITH_PLOT
    CHECK_MSG(cli(plot_args, err, sizeof err) == 0, "%s", err);
    FILE *png = fopen("/tmp/incept_plot_test.png", "rb");
    unsigned char magic[8] = {0};
    CHECK(png && fread(magic, 1, 8, png) == 8 && !memcmp(magic, "\x89PNG\r\n\x1a\n", 8));
    if (png)
        fclose(png);
    unlink("/tmp/incept_plot_test.png");
#else /* the build has no plotting: --plot says so, exit 1, before it trains */
    CHECK_MSG(cli(plot_args, err, sizeof err) == 1 && strstr(err, "INCEPT_WITH_PLOT=OFF"), "%s", err);
#endif
    /* an explicit --batch 1 trains at 1 (train's own default is 128) */
    snprintf(plot_args, sizeof plot_args, "train /tmp/incept_kill.incept %s --batch 1 --steps=2", common);
    CHECK_MSG(cli(plot_args, err, sizeof err) == 0 && strstr(err, "(64 steps of 1 per epoch)"), "%s", err);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_MSG(cli(args, err, sizeof err) == 0, "%s", err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* kill points are fractions of how long the whole run takes on this machine */
    unsigned long whole_us = (unsigned long)((t1.tv_sec - t0.tv_sec) * 1000000L +
                                             (t1.tv_nsec - t0.tv_nsec) / 1000);
    unlink("/tmp/incept_kill.ckpt");
    unlink("/tmp/incept_kill_b.w");
    snprintf(args, sizeof args, "train /tmp/incept_kill.incept %s --batch 8 --steps 60 --seed 3 "
             "--schedule cosine --warmup 5 --checkpoint /tmp/incept_kill.ckpt --checkpoint-every 1 "
             "--log /tmp/incept_kill.csv --out /tmp/incept_kill_b.w", common);
    unsigned s = 1;
    int kills = 0, resumed = 0;
    /* the earliest kill point; pushed later each time a kill came before the first checkpoint
     * (a slow start on a busy machine), so that some run is always resumed */
    unsigned long earliest = whole_us / 10;
    for (int attempt = 0; attempt < 80 && access("/tmp/incept_kill_b.w", F_OK) != 0; attempt++) {
        s = s * 1664525u + 1013904223u;
        /* within a twentieth of the whole run after the earliest point: 20 kills, each a little
         * further on, before a run is left to finish */
        unsigned long delay = earliest + (unsigned long)((s >> 8) % 1000) * whole_us / 20000;
        if (access("/tmp/incept_kill.ckpt", F_OK) == 0) {
            /* no data options: the checkpoint's are taken (and said so) */
            snprintf(args, sizeof args, "train --resume /tmp/incept_kill.ckpt --threads 2 --checkpoint "
                     "/tmp/incept_kill.ckpt --checkpoint-every 1 --log /tmp/incept_kill.csv "
                     "--out /tmp/incept_kill_b.w");
            resumed++;
        }
        if (kills < 20 || resumed == 0) {
            run_killed(args, "/tmp/incept_kill.ckpt", delay); /* SIGKILL early in a run */
            kills++;
            if (access("/tmp/incept_kill.ckpt", F_OK) != 0) {
                earliest += whole_us / 10;
                continue;
            }
            incept_model *m = NULL; /* whenever it was killed, the checkpoint there is whole */
            incept_session *sess = NULL;
            incept_train_state state;
            incept_status st = incept_checkpoint_load("/tmp/incept_kill.ckpt", &m, &sess, &state);
            CHECK_MSG(st == INCEPT_OK, "after kill %d: %s", kills, incept_last_error());
            incept_session_free(sess);
            incept_model_free(m);
        } else {
            CHECK_MSG(cli(args, err, sizeof err) == 0 && strstr(err, "resuming with the checkpoint's data: "
                      "--inputs=/tmp/incept_kill_x --labels=/tmp/incept_kill_y"), "resume: %s", err);
        }
    }
    CHECK_MSG(kills >= 1 && resumed >= 1, "%d kills, %d resumes", kills, resumed);
    printf("training killed %d times (SIGKILL at random moments), resumed %d times\n", kills, resumed);
    CHECK_MSG(temporaries_of("/tmp", "incept_kill.ckpt") == 0, "%d temporaries the killed runs left "
              "remain", temporaries_of("/tmp", "incept_kill.ckpt"));
    /* the checkpoint keeps the data options and every epoch's loss (for a resumed run's plot) */
    char *notes = NULL;
    CHECK_OK(incept_checkpoint_notes("/tmp/incept_kill.ckpt", &notes));
    CHECK_MSG(notes && strstr(notes, "--inputs=/tmp/incept_kill_x\n") && strstr(notes, "epoch=1,") &&
              strstr(notes, "epoch=8,"), "notes: %s", notes ? notes : "(none)");
    free(notes);
    /* the log of the killed and resumed runs reads as one run's: each epoch once, time going on */
    FILE *log = fopen("/tmp/incept_kill.csv", "r");
    char line[512];
    int rows = 0, last_epoch = 0, in_order = 1;
    double last_seconds = -1.0;
    while (log && fgets(line, sizeof line, log)) {
        int epoch;
        long step;
        double lr, loss, top1, top5, seconds;
        if (sscanf(line, "%d,%ld,%lf,%lf,%lf,%lf,%lf", &epoch, &step, &lr, &loss, &top1, &top5, &seconds) != 7)
            continue;
        in_order &= epoch == last_epoch + 1 && seconds >= last_seconds;
        last_epoch = epoch, last_seconds = seconds, rows++;
    }
    if (log)
        fclose(log);
    CHECK_MSG(in_order && rows == 8, "the resumed log has %d epoch rows (8 expected), in order: %d", rows,
              in_order);
    if (!in_order || rows != 8) system("cat /tmp/incept_kill.csv");
    unlink("/tmp/incept_kill.csv");
    CHECK_MSG(same_file("/tmp/incept_kill_a.w", "/tmp/incept_kill_b.w"),
              "%s", "killed and resumed training ends with the uninterrupted run's weights");
    unlink("/tmp/incept_kill.incept");
    unlink("/tmp/incept_kill_x");
    unlink("/tmp/incept_kill_y");
    unlink("/tmp/incept_kill_a.w");
    unlink("/tmp/incept_kill_b.w");
    unlink("/tmp/incept_kill.ckpt");
}

/* A full disk (RLIMIT_FSIZE, as a small filesystem would refuse) while a checkpoint is written:
 * the save fails naming the file, the checkpoint before it stays readable, no temporary remains;
 * a diverging loss stops training naming the step, keeping the last good checkpoint and weights. */
static void test_full_disk_and_divergence(void)
{
    const char *desc = "input x 1 6 6\nconv c 4 3x3 pad 1 relu\nglobalavgpool g\nflatten f\nfc out 3\n";
    incept_model *m = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_parse_description(desc, "disk.incept", &m));
    if (m)
        CHECK_OK(incept_session_new(m, &s));
    if (!s)
        return;
    incept_train_state state = {.total_steps = 8, .batch = 4, .sgd = {0.05f, 0.9f, 0.0f, 0},
                                .schedule = "constant"};
    CHECK_OK(incept_checkpoint_save(s, &state, "/tmp/incept_disk.ckpt"));
    struct rlimit old, small;
    getrlimit(RLIMIT_FSIZE, &old);
    small = old;
    small.rlim_cur = 256; /* the checkpoint is larger */
    void (*previous)(int) = signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &small);
    state.step = 1;
    incept_status st = incept_checkpoint_save(s, &state, "/tmp/incept_disk.ckpt");
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, previous);
    CHECK_MSG(st == INCEPT_ERR_IO && strstr(incept_last_error(), "incept_disk.ckpt") &&
              strstr(incept_last_error(), "write failed"), "status %d: %s", st, incept_last_error());
    incept_model *back = NULL;
    incept_session *back_s = NULL;
    incept_train_state loaded;
    CHECK_OK(incept_checkpoint_load("/tmp/incept_disk.ckpt", &back, &back_s, &loaded));
    CHECK(loaded.step == 0);
    CHECK(temporaries_of("/tmp", "incept_disk.ckpt") == 0);
    incept_session_free(back_s);
    incept_model_free(back);

    /* divergence: a learning rate of 1e30 */
    static float x[16 * 36];
    float y[16];
    for (int i = 0; i < 16 * 36; i++)
        x[i] = (float)((i * 7919) % 13) - 6.0f;
    for (int i = 0; i < 16; i++)
        y[i] = (float)(i % 3);
    FILE *f = fopen("/tmp/incept_disk_x", "wb");
    fwrite(x, sizeof x, 1, f);
    fclose(f);
    f = fopen("/tmp/incept_disk_y", "wb");
    fwrite(y, sizeof y, 1, f);
    fclose(f);
    incept_dataset *d = NULL;
    CHECK_OK(incept_dataset_load_raw("/tmp/incept_disk_x", "/tmp/incept_disk_y", 1, 6, 6, &d));
    state.step = 0;
    state.sgd.learning_rate = 1e30f;
    incept_train_options options = {.checkpoint = "/tmp/incept_disk.ckpt", .checkpoint_every = 1};
    st = d ? incept_train(s, d, NULL, &state, &options) : INCEPT_ERR_ARG;
    CHECK_MSG(st != INCEPT_OK && strstr(incept_last_error(), "diverged at step"), "status %d: %s", st,
              incept_last_error());
    long failed_at = state.step + 1;
    CHECK_OK(incept_checkpoint_load("/tmp/incept_disk.ckpt", &back, &back_s, &loaded));
    CHECK_MSG(loaded.step == failed_at - 1, "the checkpoint is of step %ld, training diverged at %ld",
              loaded.step, failed_at);
    int finite = 1;
    for (int p = 0; back && p < incept_model_param_count(back); p++) {
        int nd, dims[4];
        float *data;
        incept_model_param(back, p, NULL, &nd, dims, &data);
        size_t count = 1;
        for (int k = 0; k < nd; k++)
            count *= (size_t)dims[k];
        for (size_t i = 0; i < count; i++)
            finite &= isfinite(data[i]) != 0;
    }
    CHECK_MSG(finite, "%s", "the last checkpoint holds finite weights");
    incept_session_free(back_s);
    incept_model_free(back);
    incept_dataset_free(d);
    incept_session_free(s);
    incept_model_free(m);
    unlink("/tmp/incept_disk.ckpt"), unlink("/tmp/incept_disk_x"), unlink("/tmp/incept_disk_y");
}

int main(void)
{
    test_allocation_failures("models/tiny.incept");
    test_allocation_failures("tests/fixtures/opset13_same_upper.onnx");
    test_allocation_failures("tests/fixtures/opset13_torchvision_layout.onnx"); /* BN folding */
    test_allocation_failures("tests/fixtures/opset13_fold_reshape.onnx");
    test_allocation_failures("tests/fixtures/opset13_generic_between.onnx");
    test_more_allocation_failures();
    test_cli();
    test_cli_product();
    if (INCEPT_WITH_DATASETS) { /* these train on data from files */
        test_train_export();
        test_kill_and_resume();
        test_full_disk_and_divergence();
    } else {
        printf("%s: %s skipped: this build reads no dataset files (INCEPT_WITH_DATASETS=OFF)\n", "test_errors", "training from files, kills and full disks");
    }
    return test_summary("test_errors");
}
