/* incept.c — the command-line program. It parses arguments and calls the library; every
 * library failure is printed with its message and becomes a non-zero exit code. Each command
 * lists the options it takes in a table (kind, range, default, help): the parser, the per-command
 * --help and the overall usage are all read from those tables. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"
#include "incept.h"

int cli_fail(const char *what)
{
    fprintf(stderr, "incept: %s: %s\n", what, incept_last_error());
    return 1;
}

/* The field's offset and, from its declared type, how to store into it (a field of any other
 * type does not compile). */
#define FIELD(f)                                                                             \
    offsetof(options, f), _Generic(((options *)0)->f, int: FIELD_INT, long: FIELD_LONG,     \
                                   unsigned long long: FIELD_ULL, double: FIELD_DOUBLE,     \
                                   float: FIELD_FLOAT, const char *: FIELD_STRING)
#define FLAG(name, f, help) {name, NULL, OPT_FLAG, FIELD(f), 0, 0, NULL, NULL, help}
#define INT(name, value, f, min, max, initial, shown, help) \
    {name, value, OPT_INT, FIELD(f), min, max, initial, shown, help}
#define NUMBER(name, value, f, initial, shown, help) \
    {name, value, OPT_NUMBER, FIELD(f), 0, 0, initial, shown, help}
#define STRING(name, value, f, shown, help) {name, value, OPT_STRING, FIELD(f), 0, 0, NULL, shown, help}
#define END {NULL, NULL, OPT_FLAG, 0, FIELD_INT, 0, 0, NULL, NULL, NULL}

#define MAX_STEPS 2000000000L
#define THREADS INT("--threads", "T", threads, 1, 1024, NULL, "the CPU cores", "worker threads")
#define WEIGHTS STRING("--weights", "W", weights, NULL, "an incept weights file for a description's " \
                       "parameters; without it, He initialization from seed 0")
#define PRECISION STRING("--precision", "P", precision, "fp32", "fp32; bf16: convolutions multiply " \
                         "bfloat16 (AVX-512 BF16), summing in float; or int8: convolutions in 8 " \
                         "bits (AVX-512 VNNI), calibrated on --calib"), \
                  STRING("--calib", "X.bin", calib, "the input itself", "int8: raw float32 NCHW samples " \
                         "whose activations set the 8-bit ranges (a few hundred representative images)"), \
                  CALIB_METHOD
#define CALIB_METHOD STRING("--calib-method", "M", calib_method, "percentile", "how a range is drawn from " \
                            "the samples: minmax, percentile (99.99%) or entropy (TensorRT's)")
#define EXACT FLAG("--exact", exact, "every convolution computed directly (no Winograd): within " \
                   "1e-5 of PyTorch instead of 1e-4")
#define PRESET(shown) STRING("--preset", "P", preset, shown, "image normalization: caffe, torchvision or " \
                              "fashion (gray)")

/* The knobs of a description's variant (incept_variant); `variants` takes lists of widths and
 * resolutions. */
#define KNOBS(width_value, width_help, resolution_value, resolution_help)                          \
    STRING("--width", width_value, width, "as written", width_help),                            \
    INT("--round", "N", round_to, 1, 1024, NULL, "8", "the widths --width and --split make, to "  \
        "multiples of N"),                                                                       \
    STRING("--depth", "M=N[,...]", depth, "as written", "Inception modules dropped (0) or built N " \
           "times in sequence (M, M_2, ...): mixed_4b=0,mixed_5a=2"),                             \
    STRING("--resolution", resolution_value, resolution, "as written", resolution_help),          \
    STRING("--split", "A:B:C:D[,E:F:G:H]", split, "as written", "the shares of each Inception "    \
           "module's output taken by its 1x1, 3x3, 5x5 and pool-projection branches; two sets: at " \
           "the first module and at the last, interpolated between")
#define VARIANT KNOBS("A", "every filter bank times A, 0 < A <= 16 (the classifier keeps its " \
                      "classes); the knobs make variants of descriptions, not of ONNX files",      \
                      "HxW", "the input's height and width")

static const opt_spec demo_options[] = {
    THREADS, KNOBS("A", "every filter bank times A, 0 < A <= 16 (the classifier keeps its classes)",
                   "HxW", "the input's height and width (down to 79x79)"), END};

static const opt_spec summary_options[] = {
    FLAG("--dot", dot, "print Graphviz instead, each module drawn as Figure 3 (| dot -Tsvg)"),
    WEIGHTS, VARIANT, END};

static const opt_spec variants_options[] = {
    KNOBS("A[,B...]", "every filter bank times each of these widths, 0 < A <= 16 (the classifier "
          "keeps its classes)", "HxW[,HxW...]", "each of these input resolutions"),
    END};

static const opt_spec run_options[] = {
    STRING("--input", "IN", input, NULL, "raw float32 NCHW (IN.bin), or A.pb[,B.pb...]: one "
           "serialized TensorProto per model input"),
    STRING("--output", "OUT", output, NULL, "raw float32 (OUT.bin), or Y.pb[,Z.pb...]: the first "
           "outputs as TensorProtos"),
    THREADS, WEIGHTS, EXACT, PRECISION, END};

static const opt_spec bench_options[] = {
    INT("--batch", "N", batch, 1, 65536, "1", NULL, "images per pass"),
    THREADS,
    INT("--seconds", "S", seconds, 1, 3600, "5", NULL, "seconds to time, at least 5 runs after "
        "a warm-up"),
    FLAG("--profile", profile, "a table per layer (time, GFLOP/s, share) and the memory in use"),
    EXACT,
    FLAG("--train", train, "time training steps (auxiliary heads, dropout, SGD) instead"),
    PRECISION, WEIGHTS, VARIANT, END};

static const opt_spec init_weights_options[] = {
    INT("--seed", "S", seed, 0, 2147483647L, "0", NULL, "the initialization's random seed"), END};

static const opt_spec export_options[] = {WEIGHTS, VARIANT, END};

static const opt_spec train_options[] = {
    INT("--epochs", "E", epochs, 1, 100000, NULL, "11 in the built-in recipe, else 1",
        "passes over the training set"),
    INT("--steps", "S", steps, 1, MAX_STEPS, NULL, "the epochs' steps", "SGD steps to take, "
        "instead of --epochs (with --resume: the step to train on to)"),
    INT("--batch", "N", batch, 1, 65536, "128", NULL, "images per step"),
    NUMBER("--lr", "X", lr, NULL, "0.1 in the built-in recipe, else 0.05", "the learning rate"),
    NUMBER("--momentum", "X", momentum, "0.9", NULL, "SGD momentum"),
    NUMBER("--weight-decay", "X", weight_decay, "5e-4", NULL, "L2 weight decay, in PyTorch's form"),
    {"--schedule", "constant|step|cosine|paper", OPT_SCHEDULE, FIELD(schedule), 0, 0, NULL,
     "cosine in the built-in recipe, else constant", "the learning rate's decay; paper: -4% "
     "every 8 epochs"},
    INT("--warmup", "S", warmup, 0, MAX_STEPS, NULL, "200 in the built-in recipe, else 0",
        "steps of linear learning-rate warm-up"),
    INT("--crop-pad", "P", crop_pad, 0, 64, NULL, "0 in the built-in recipe, else 2",
        "random crops of the image padded by P; 0: flips only"),
    INT("--seed", "S", seed, 0, 2147483647L, "0", NULL, "seed of the shuffle, crops and dropout"),
    THREADS,
    FLAG("--no-shuffle", no_shuffle, "take the training set in order"),
    FLAG("--no-augment", no_augment, "no random crops or flips"),
    STRING("--out", "FILE", out, NULL, "write the trained weights (FILE.onnx: the model as ONNX)"),
    STRING("--log", "CSV", log, NULL, "a CSV line per epoch: lr, loss, test accuracy, time"),
    STRING("--train-images", "I", train_images, "Fashion-MNIST's", "training images (idx)"),
    STRING("--train-labels", "L", train_labels, "Fashion-MNIST's", "training labels (idx)"),
    STRING("--test-images", "I", test_images, "Fashion-MNIST's", "test images (idx)"),
    STRING("--test-labels", "L", test_labels, "Fashion-MNIST's", "test labels (idx)"),
    STRING("--inputs", "X.bin", inputs, NULL, "raw float32 NCHW training images (with --labels)"),
    STRING("--labels", "Y.bin", labels_file, NULL, "raw float32 class indices for --inputs"),
    STRING("--train-dir", "D", train_dir, NULL, "an image folder, one subfolder per class "
           "(ImageNet layout)"),
    STRING("--test-dir", "D", test_dir, NULL, "a test image folder in the same layout"),
    PRESET("torchvision"),
    STRING("--checkpoint", "C", checkpoint, NULL, "write a checkpoint now and then and at the end"),
    INT("--checkpoint-every", "S", checkpoint_every, 1, MAX_STEPS, NULL, "every epoch",
        "steps between checkpoints"),
    STRING("--resume", "C", resume, NULL, "continue from a checkpoint (give the data options "
           "again)"),
    STRING("--plot", "P.png", plot, NULL, "draw loss and test accuracy per epoch"),
    NUMBER("--average", "D", average, NULL, "0, off", "keep a Polyak average of the weights with "
           "decay D (e.g. 0.999) for evaluation and --out"),
    NUMBER("--label-smoothing", "E", label_smoothing, NULL, "0, off", "targets of 1 - E for the "
           "label plus E / classes for every class"),
    INT("--holdout", "N", holdout, 1, 1 << 30, NULL, "none", "hold the last N training images out "
        "and evaluate on them instead of the test set (to choose a recipe)"),
    FLAG("--test-flips", test_flips, "evaluate each image averaged with its mirror image"),
    FLAG("--profile", profile, "after each epoch, its time by part: data, forward, backward, "
         "update, evaluation"),
    INT("--bucket-kb", "K", bucket_kb, 1, 1 << 20, "4096", NULL, "under mpirun: gradients go to the other "
        "ranks in buckets of K KB as backward finishes them"),
    FLAG("--sync-bn", sync_bn, "under mpirun: batch norm's statistics over the global batch (as one "
         "process computes them) instead of each rank's share"),
    NUMBER("--rank-timeout", "S", rank_timeout, "300", NULL, "under mpirun: a rank that does not "
           "answer for S seconds stops the job, named"),
    WEIGHTS, VARIANT, END};

static const opt_spec classify_options[] = {
    STRING("--labels", "FILE", labels_file, "ImageNet's for 1000 classes, Fashion-MNIST's for 10 of "
           "28x28 gray, else class numbers", "class names, one a line"),
    INT("--top", "K", top, 1, 100000, "5", NULL, "classes printed per image"),
    PRESET("as the ONNX file records it (incept.preset), else caffe; fashion for a gray model"),
    INT("--crops", "N", crops, 1, 100000, "1", NULL, "1 (centre), 10 (corners, centre, mirrored) "
        "or 144 (the paper's)"),
    FLAG("--json", json, "one JSON object per image"),
    STRING("--weights", "W", weights, NULL, "an incept weights file for the first model"),
    THREADS, END};

static const opt_spec onnx_test_options[] = {THREADS, END};

static const opt_spec eval_options[] = {
    WEIGHTS,
    STRING("--test-images", "I", test_images, "Fashion-MNIST's", "test images (idx)"),
    STRING("--test-labels", "L", test_labels, "Fashion-MNIST's", "test labels (idx)"),
    STRING("--inputs", "X.bin", inputs, NULL, "raw float32 NCHW images (with --labels)"),
    STRING("--labels", "Y.bin", labels_file, NULL, "raw float32 class indices for --inputs"),
    STRING("--test-dir", "D", test_dir, NULL, "an image folder, one subfolder per class"),
    PRESET("torchvision"),
    INT("--batch", "N", batch, 1, 65536, "256", NULL, "images per evaluation pass"),
    FLAG("--test-flips", test_flips, "average each image's logits with its mirror image's"),
    THREADS, PRECISION, VARIANT, END};

static const opt_spec quantize_options[] = {
    STRING("--out", "M.onnx", out, NULL, "the quantized model (ONNX QDQ)"),
    STRING("--calib", "X.bin", calib, "the training data below", "raw float32 NCHW calibration samples, "
           "prepared as the model's inputs are"),
    INT("--calib-count", "N", calib_count, 1, 1000000, "500", NULL, "calibration images taken from the "
        "training data"),
    CALIB_METHOD,
    STRING("--train-images", "I", train_images, "Fashion-MNIST's", "calibration images (idx)"),
    STRING("--train-labels", "L", train_labels, "Fashion-MNIST's", "their labels (idx)"),
    STRING("--train-dir", "D", train_dir, NULL, "an image folder, one subfolder per class"),
    PRESET("torchvision"),
    THREADS, WEIGHTS, END};

static const opt_spec grow_options[] = {
    STRING("--out", "FILE", out, "standard output", "the grown network's description"),
    STRING("--stages", "N,N...", stages, "1,2", "Inception modules per stage (a max pool 3x3/2 "
           "between stages)"),
    INT("--budget", "M", budget, 1, 1L << 40, NULL, "models/fashion.incept's, 11.2 M, with the "
        "built-in stem; else 3x the stem's", "multiply-adds per image of the whole network"),
    INT("--sample", "N", sample, 1, 100000, "256", NULL, "images the activations are measured on"),
    INT("--steps", "S", steps, 1, MAX_STEPS, "400", NULL, "SGD steps (batch 128) before each module"),
    NUMBER("--lr", "X", lr, "0.1", NULL, "the learning rate of those steps (cosine)"),
    NUMBER("--threshold", "T", threshold, "0.5", NULL, "units whose activations correlate above T "
           "(average linkage) form a cluster"),
    INT("--seed", "S", seed, 0, 2147483647L, "0", NULL, "seed of the initialization, shuffle and "
        "dropout"),
    STRING("--train-images", "I", train_images, "Fashion-MNIST's", "training images (idx)"),
    STRING("--train-labels", "L", train_labels, "Fashion-MNIST's", "training labels (idx)"),
    STRING("--inputs", "X.bin", inputs, NULL, "raw float32 NCHW training images (with --labels)"),
    STRING("--labels", "Y.bin", labels_file, NULL, "raw float32 class indices for --inputs"),
    THREADS, END};

static const opt_spec pareto_options[] = {
    STRING("--out", "P.png", out, NULL, "the plot"), END};

static const opt_spec no_options[] = {END};

static const opt_spec help_options[] = {
    FLAG("--man", man, "the manual page incept(1) in roff (incept help --man > incept.1; man -l "
         "incept.1)"),
    FLAG("--words", words, "the commands, or COMMAND's options, one a line (for shell completion)"),
    END};


static int demo(const options *o);
static int cmd_summary(const options *o);
static int cmd_bench(const options *o);
static int cmd_init_weights(const options *o);
static int cmd_export(const options *o);
static int train_command(const options *o);
static int eval_command(const options *o);
static int version_command(const options *o);
static int help_command(const options *o);

const command cli_commands[] = {
    {"", "", 0, demo_options, demo,
     "GoogLeNet's Table 1 and a timed forward pass (built-in model)"},
    {"summary", "MODEL", 1, summary_options, cmd_summary,
     "the model as the paper's Table 1, with totals (or as Graphviz)"},
    {"run", "MODEL", 1, run_options, cmd_run,
     "inference on raw float32 NCHW (batch from the file size), or on .pb arrays (serialized\n"
     "TensorProtos, as ONNX test data) for any ONNX graph of the supported ops"},
    {"variants", "MODEL", 1, variants_options, cmd_variants,
     "parameters and multiply-adds of a description's variants: one line per combination of the\n"
     "--width and --resolution lists (with --round, --depth, --split), against the model as written"},
    {"bench", "MODEL", 1, bench_options, cmd_bench,
     "time inference (or, --train, SGD steps with the auxiliary heads); the last line sums it up"},
    {"init-weights", "MODEL OUT", 2, init_weights_options, cmd_init_weights,
     "write He-initialized weights for a description"},
    {"export", "MODEL OUT.onnx", 2, export_options, cmd_export, "write the model as ONNX"},
    {"train", "[MODEL]", 1, train_options, train_command,
     "SGD on Fashion-MNIST (default: the built-in fashion model and its recipe, 11 epochs,\n"
     "~15 min, 93%; Debian's dataset-fashion-mnist), idx files, raw tensors or image folders"},
    {"classify", "MODEL... IMAGE...", -1, classify_options, cmd_classify,
     "top-K labels per JPEG/PNG; several models: an ensemble"},
    {"onnx-test", "DIR...", -1, onnx_test_options, cmd_onnx_test,
     "run ONNX backend node tests (folders with model.onnx and test_data_set_*);\n"
     "last line: N passed, N failed, N skipped (N of them unsupported); an op the engine lacks is\n"
     "unsupported, not failed"},
    {"quantize", "MODEL", 1, quantize_options, cmd_quantize,
     "post-training int8 quantization: calibrate on sample images, write an ONNX QDQ model\n"
     "(int8 in ONNX Runtime, TensorRT and here: run/bench/eval --precision int8)"},
    {"eval", "[MODEL]", 1, eval_options, eval_command,
     "top-1 / top-5 accuracy; last line: eval: top1=... top5=... n=..."},
    {"grow", "[STEM]", 1, grow_options, cmd_grow,
     "grow Inception modules on a stem (a description; default: the built-in Fashion-MNIST net's\n"
     "conv1 and pool1) from the correlations of their activations on the training data, the\n"
     "paper's topology construction; writes the grown network as a description"},
    {"pareto", "RESULTS.csv", 1, pareto_options, cmd_pareto,
     "plot test top-1 against multiply-adds per family of networks, with each family's Pareto\n"
     "front, from scripts/grow-experiment.sh's CSV"},
    {"version", "", 0, no_options, version_command, "the version"},
    {"help", "[COMMAND]", 1, help_options, help_command,
     "this usage, or a command's options; --man: the manual page"},
};
const size_t cli_n_commands = sizeof cli_commands / sizeof cli_commands[0];

static const command *find_command(const char *name)
{
    for (size_t c = 0; c < cli_n_commands; c++)
        if (!strcmp(cli_commands[c].name, name))
            return &cli_commands[c];
    return NULL;
}

static const opt_spec *find_option(const opt_spec *opts, const char *name, size_t len)
{
    for (; opts->name; opts++)
        if (strlen(opts->name) == len && !strncmp(opts->name, name, len))
            return opts;
    return NULL;
}

/* "incept train --help", or for the demo "incept --help": where a usage error points. */
static const char *help_hint(const command *c, char *buf, size_t size)
{
    snprintf(buf, size, "incept %s%s--help", c->name, c->name[0] ? " " : "");
    return buf;
}

/* Parsing. */

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

/* Stores `value` (NULL for a flag) into the option's field; 0 after a message when it is not
 * of the option's kind. */
static int set_option(const opt_spec *s, const char *value, options *o)
{
    char *field = (char *)o + s->offset;
    long v = 1;
    float x = 0.0f;
    switch (s->kind) {
    case OPT_FLAG:
        break;
    case OPT_INT:
        if (!parse_int_arg(s->name, value, s->min, s->max, &v))
            return 0;
        break;
    case OPT_NUMBER:
        if (!parse_float_arg(s->name, value, &x))
            return 0;
        break;
    case OPT_SCHEDULE:
        if (!incept_schedule_valid(value)) {
            fprintf(stderr, "incept: %s is constant, step, cosine or paper\n", s->name);
            return 0;
        }
        break;
    case OPT_STRING:
        break;
    }
    int number = s->kind == OPT_NUMBER;
    switch (s->field) {
    case FIELD_INT: *(int *)(void *)field = (int)v; break;
    case FIELD_LONG: *(long *)(void *)field = v; break;
    case FIELD_ULL: *(unsigned long long *)(void *)field = (unsigned long long)v; break;
    case FIELD_DOUBLE: *(double *)(void *)field = number ? (double)x : (double)v; break;
    case FIELD_FLOAT: *(float *)(void *)field = number ? x : (float)v; break;
    case FIELD_STRING: *(const char **)(void *)field = value; break;
    }
    return 1;
}

/* The defaults before any argument: the cores, unset markers for what train decides itself
 * (cli_training_defaults), then the initial value of each option the command takes. */
static void initial_options(const command *c, options *o, const char **positional)
{
    memset(o, 0, sizeof *o);
    o->positional = positional;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = cores > 0 && cores <= 1024 ? (int)cores : 1;
    o->lr = NAN;
    o->warmup = -1;
    o->crop_pad = -1;
    for (const opt_spec *s = c->opts; s->name; s++)
        if (s->initial)
            set_option(s, s->initial, o);
}

/* Reads argv[first...] by the command's table; returns -1 to go on, or the exit code: 0 after
 * --help, EXIT_USAGE after a message. */
static int parse_options(const command *c, int argc, char **argv, int first, options *o)
{
    char hint[64];
    int only_positional = 0;
    help_hint(c, hint, sizeof hint);
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!only_positional && !strcmp(a, "--")) {
            only_positional = 1;
            continue;
        }
        if (!only_positional && a[0] == '-' && a[1]) {
            if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                cli_command_help(stdout, c);
                return 0;
            }
            const char *eq = strchr(a, '='), *value = NULL;
            size_t len = eq && a[1] == '-' ? (size_t)(eq - a) : strlen(a);
            const opt_spec *s = find_option(c->opts, a, len);
            if (!s) {
                int elsewhere = 0;
                for (size_t k = 0; k < cli_n_commands && !elsewhere; k++)
                    elsewhere = find_option(cli_commands[k].opts, a, len) != NULL;
                if (elsewhere && c->name[0])
                    fprintf(stderr, "incept: %s does not take %.*s (see %s)\n", c->name, (int)len, a,
                            hint);
                else if (elsewhere)
                    fprintf(stderr, "incept: without a command, incept does not take %.*s (see "
                                    "incept --help)\n", (int)len, a);
                else
                    fprintf(stderr, "incept: unknown option '%.*s' (see %s)\n", (int)len, a, hint);
                return EXIT_USAGE;
            }
            if (s->kind == OPT_FLAG && len < strlen(a)) {
                fprintf(stderr, "incept: %s takes no value (see %s)\n", s->name, hint);
                return EXIT_USAGE;
            }
            if (s->kind != OPT_FLAG) {
                value = len < strlen(a) ? a + len + 1 : i + 1 < argc ? argv[++i] : NULL;
                if (!value) {
                    fprintf(stderr, "incept: %s needs a value: %s %s (see %s)\n", s->name, s->name,
                            s->value, hint);
                    return EXIT_USAGE;
                }
            }
            if (!set_option(s, value, o))
                return EXIT_USAGE;
            continue;
        }
        if (c->max_args >= 0 && o->n_positional >= c->max_args) {
            if (c->max_args)
                fprintf(stderr, "incept: unexpected argument '%s': %s takes %s (see %s)\n", a,
                        c->name, c->args, hint);
            else
                fprintf(stderr, "incept: unexpected argument '%s' (see %s)\n", a, hint);
            return EXIT_USAGE;
        }
        o->positional[o->n_positional++] = a;
        if (!o->model)
            o->model = a;
        else if (!o->extra)
            o->extra = a;
    }
    return -1;
}
double cli_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The main job on the embedded default: GoogLeNet's Table 1, then timed forward passes. */
static int demo(const options *o)
{
    incept_model *m;
    incept_session *session;
    incept_variant variant;
    int knobs = cli_variant_given(o), rc = cli_variant_options(o, &variant);
    if (rc)
        return rc;
    if (incept_model_googlenet_variant(1000, 0, knobs ? &variant : NULL, &m))
        return cli_fail("building GoogLeNet");
    int threads = o->threads;
    if (cli_session(m, threads, &session)) {
        incept_model_free(m);
        return 1;
    }
    printf("GoogLeNet (Szegedy et al., 2014), Table 1, built from Inception modules%s:\n\n",
           knobs ? " (a variant)" : "");
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

int cli_is_onnx(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    return n > 5 && !strcmp(path + n - 5, ".onnx");
}

int cli_parse_width(const char *text, float *width)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v > 0.0 && v <= 16.0)) {
        fprintf(stderr, "incept: --width expects numbers above 0, at most 16, not '%s'\n", text);
        return 0;
    }
    *width = (float)v;
    return 1;
}

int cli_parse_resolution(const char *text, int *h, int *w)
{
    char *end;
    errno = 0;
    long height = strtol(text, &end, 10), width = height;
    if (*end == 'x') { /* "HxW"; "N" alone is NxN */
        const char *second = end + 1;
        width = strtol(second, &end, 10);
        width = end == second ? 0 : width;
    }
    if (errno || *end || height < 1 || height > 65536 || width < 1 || width > 65536) {
        fprintf(stderr, "incept: --resolution expects HxW (or N for NxN), each from 1 to 65536, "
                        "not '%s'\n", text);
        return 0;
    }
    *h = (int)height;
    *w = (int)width;
    return 1;
}

int cli_variant_given(const options *o)
{
    return o->width || o->round_to || o->depth || o->split || o->resolution;
}

int cli_variant_options(const options *o, incept_variant *v)
{
    memset(v, 0, sizeof *v);
    v->round_to = o->round_to;
    v->depth = o->depth;
    v->split = o->split;
    if ((o->width && strchr(o->width, ',')) || (o->resolution && strchr(o->resolution, ','))) {
        fprintf(stderr, "incept: one --width and one --resolution here (incept variants takes "
                        "lists)\n");
        return EXIT_USAGE;
    }
    if ((o->width && !cli_parse_width(o->width, &v->width)) ||
        (o->resolution && !cli_parse_resolution(o->resolution, &v->input_h, &v->input_w)))
        return EXIT_USAGE;
    return 0;
}

int cli_load_or(const options *o, const char *fallback, incept_model **m)
{
    incept_variant variant;
    int knobs = cli_variant_given(o), rc = cli_variant_options(o, &variant);
    if (rc)
        return rc;
    if (!o->model && !fallback) {
        fprintf(stderr, "incept: a MODEL is required\n");
        return EXIT_USAGE;
    }
    if (o->model && !knobs)
        return incept_model_load(o->model, o->weights, m) ? cli_fail("loading the model") : 0;
    if (o->model && cli_is_onnx(o->model)) {
        fprintf(stderr, "incept: %s: --width, --round, --depth, --resolution and --split make "
                        "variants of network descriptions, not of ONNX files\n", o->model);
        return EXIT_USAGE;
    }
    if (o->model ? incept_model_load_description_variant(o->model, &variant, m)
                 : incept_model_parse_description_variant(incept_builtin_description(fallback), fallback,
                                                          knobs ? &variant : NULL, m))
        return cli_fail(o->model ? "loading the model" : "the built-in model");
    if (o->weights && incept_model_load_weights(*m, o->weights)) {
        incept_model_free(*m);
        return cli_fail("loading the weights");
    }
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

int cli_read_calibration(const options *o, const incept_model *m, float **samples, int *count)
{
    int c, h, w;
    incept_model_input_dims(m, &c, &h, &w);
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d", c, h, w);
    return cli_read_samples(o->calib, (size_t)c * h * w, shape, samples, count);
}

int cli_set_precision(const options *o, incept_model *m, incept_session *s, const float *fallback,
                      int count, const char *fallback_name)
{
    if (!o->precision || strcmp(o->precision, "fp32") == 0)
        return 0;
    if (strcmp(o->precision, "bf16") == 0) {
        if (incept_session_set_precision(s, INCEPT_PRECISION_BF16))
            return cli_fail("bf16");
        if (strcmp(incept_precision_kernels(INCEPT_PRECISION_BF16), "generic") == 0)
            fprintf(stderr, "incept: bf16 runs on the portable kernel (this CPU has no AVX-512 BF16, "
                            "or INCEPT_BF16_ISA chose it): slower than fp32\n");
        return 0;
    }
    if (strcmp(o->precision, "int8") != 0) {
        fprintf(stderr, "incept: --precision is fp32, bf16 or int8, not %s\n", o->precision);
        return EXIT_USAGE;
    }
    float *samples = NULL;
    int rc = 0;
    if (!o->calib && incept_session_set_precision(s, INCEPT_PRECISION_INT8) == INCEPT_OK) {
        fprintf(stderr, "incept: int8 with the ranges the model holds (a quantized model)\n");
        return 0;
    }
    if (o->calib) {
        if ((rc = cli_read_calibration(o, m, &samples, &count)))
            return rc;
        fallback = samples;
    } else if (fallback_name) {
        fprintf(stderr, "incept: int8 calibrated on %d %s\n", count, fallback_name);
    }
    if (!(rc = cli_calibrate(o, s, fallback, count)) && incept_session_set_precision(s, INCEPT_PRECISION_INT8))
        rc = cli_fail("int8");
    free(samples);
    return rc;
}

int cli_calibrate(const options *o, incept_session *s, const float *samples, int count)
{
    static const char *const names[] = {"minmax", "percentile", "entropy"};
    static const incept_calibration methods[] = {INCEPT_CALIBRATE_MINMAX, INCEPT_CALIBRATE_PERCENTILE,
                                                 INCEPT_CALIBRATE_ENTROPY};
    const char *name = o->calib_method ? o->calib_method : "percentile";
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0)
            return incept_session_calibrate_with(s, samples, count, methods[i]) ? cli_fail("calibration") : 0;
    fprintf(stderr, "incept: --calib-method is minmax, percentile or entropy, not %s\n", name);
    return EXIT_USAGE;
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
    for (int d = 1; d < rank; d++) /* a sample of at most 2^31 values: sizes from a file */
        if (dims[d] <= 0 || dims[d] > INT32_MAX || (*sample *= (size_t)dims[d]) > (size_t)INT32_MAX)
            return 0;
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
    else
        fprintf(stderr, "incept: %s written as ONNX to %s (%d parameter tensors)\n", o->model, o->extra,
                incept_model_param_count(m));
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
    else
        fprintf(stderr, "incept: He-initialized weights of %s (seed %llu) written to %s\n", o->model,
                o->seed, o->extra);
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
 * A model with generic (N-d) nodes is timed too (one float input and output of declared sizes);
 * it has no multiply-add count (gflops=0.0); its per-layer profile names the generic nodes' ops. */
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
    if (o->train && o->precision && strcmp(o->precision, "fp32")) {
        fprintf(stderr, "incept: bench --train runs in fp32 (training needs it)\n");
        rc = EXIT_USAGE;
        goto done;
    }
    if (!o->train && (rc = cli_set_precision(o, m, s, input, o->batch, "input sample(s) themselves (--calib gives "
                                                                        "representative ones)")))
        goto done;
    rc = 1;
    if ((!incept_model_generic_nodes(m) && incept_model_summary(m, NULL, &totals)) ||
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
        cli_fail("profile"); /* the timing still counts */
    /* a training step does about three times the multiply-adds of inference, heads included */
    double flops = 2.0 * (double)(o->train ? 3 * (totals.multiply_adds + totals.aux_multiply_adds)
                                           : totals.multiply_adds);
    printf("bench: batch=%d threads=%d median_ms=%.2f img_s=%.2f gflops=%.1f peak_rss_mb=%.1f "
           "min_ms=%.2f runs=%d mode=%s\n",
           o->batch, o->threads, median * 1e3, o->batch / median, flops * o->batch / median * 1e-9,
           peak_rss_mb(), times[0] * 1e3, reps,
           o->train                                                          ? "train"
           : o->precision && strcmp(o->precision, "fp32") ? o->precision
           : o->exact                                                        ? "exact"
                                                                             : "fast");
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

/* `train`: the recipe or plain defaults for what was not given (cli_training_defaults). */
static int train_command(const options *given)
{
    options o = *given;
    if (o.resume && cli_variant_given(&o)) {
        fprintf(stderr, "incept: --resume takes the model from the checkpoint, its variant's knobs "
                        "included: no --width, --round, --depth, --resolution or --split\n");
        return EXIT_USAGE;
    }
    cli_training_defaults(&o);
    if ((o.inputs != NULL) != (o.labels_file != NULL)) {
        fprintf(stderr, "incept: --inputs and --labels go together\n");
        return EXIT_USAGE;
    }
    return cmd_train(&o);
}

static int eval_command(const options *o)
{
    if ((o->inputs != NULL) != (o->labels_file != NULL)) {
        fprintf(stderr, "incept: --inputs and --labels go together\n");
        return EXIT_USAGE;
    }
    return cmd_eval(o);
}

static int version_command(const options *o)
{
    (void)o;
    printf("incept %s\n", INCEPT_VERSION);
    return 0;
}

static int help_command(const options *o)
{
    if (o->man) {
        cli_man(stdout);
        return 0;
    }
    if (!o->model) {
        if (o->words)
            cli_words(stdout, NULL);
        return o->words ? 0 : cli_usage(stdout);
    }
    const command *c = find_command(o->model);
    if (!c || !c->name[0]) {
        fprintf(stderr, "incept: unknown command '%s' (see incept --help)\n", o->model);
        return EXIT_USAGE;
    }
    if (o->words)
        cli_words(stdout, c);
    else
        cli_command_help(stdout, c);
    return 0;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "";
    if (!strcmp(name, "--help") || !strcmp(name, "-h"))
        return cli_usage(stdout);
    if (!strcmp(name, "--version"))
        name = "version";
    /* no command, or only options: the demo */
    int first = argc < 2 || name[0] == '-' ? 1 : 2;
    const command *c = find_command(first == 1 ? "" : name);
    if (!c || (first == 2 && !c->name[0])) {
        fprintf(stderr, "incept: unknown command '%s' (see incept --help)\n", name);
        return EXIT_USAGE;
    }
    const char **positional = calloc((size_t)argc + 1, sizeof(char *));
    if (!positional) {
        fprintf(stderr, "incept: out of memory\n");
        return 1;
    }
    options o;
    initial_options(c, &o, positional);
    int rc = parse_options(c, argc, argv, first, &o);
    if (rc < 0)
        rc = c->run(&o);
    free(positional);
    return rc;
}
