/* test_variants.c — the knobs that make variants of a described network (incept_variant, the
 * description's `variant` lines, the CLI's --width/--round/--depth/--resolution/--split and
 * `incept variants`): the widths each knob gives, worked out here by hand from the rule; what
 * it does to parameters and multiply-adds; module copies and dropped modules; every bad value
 * refused with a message naming it; a variant trains; its description rebuilds it; the C
 * builder's GoogLeNet variants (incept_model_googlenet_variant) equal models/googlenet.incept's. */
#include <sys/wait.h>
#include <unistd.h>

#include "graph/graph.h"
#include "incept.h"
#include "test.h"

static char fashion[16384];

static incept_model *variant_of(const char *text, const incept_variant *v)
{
    incept_model *m = NULL;
    CHECK_MSG(incept_model_parse_description_variant(text, "v.incept", v, &m) == INCEPT_OK, "%s",
              incept_last_error());
    return m;
}

/* The channels of layer `name`'s output, or -1 when the model has no such layer. */
static int channels(const incept_model *m, const char *name)
{
    for (int i = 0; m && i < incept_model_layer_count(m); i++) {
        const char *layer, *op;
        int rank;
        long long dims[INCEPT_MAX_RANK];
        if (incept_model_layer(m, i, &layer, &op, &rank, dims) == INCEPT_OK && !strcmp(layer, name))
            return rank >= 2 ? (int)dims[1] : -1;
    }
    return -1;
}

/* The module's six widths (as the description orders them) and its output. */
static void check_module(const incept_model *m, const char *module, const int want[6], int line)
{
    static const char *const parts[6] = {"1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj"};
    char name[256];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "%s/%s", module, parts[i]);
        int got = channels(m, name);
        CHECK_MSG(got == want[i], "line %d: %s has %d channels, expected %d", line, name, got, want[i]);
    }
    int out = channels(m, module), sum = want[0] + want[2] + want[4] + want[5];
    CHECK_MSG(out == sum, "line %d: %s puts out %d channels, expected %d", line, module, out, sum);
}

static incept_totals totals_of(const incept_model *m)
{
    incept_totals t = {0, 0, 0, 0};
    if (m)
        CHECK_OK(incept_model_summary(m, NULL, &t));
    return t;
}

/* Layers named NAME or NAME/... */
static int layers_of(const incept_model *m, const char *module)
{
    int n = 0;
    size_t len = strlen(module);
    for (int i = 0; m && i < incept_model_layer_count(m); i++) {
        const char *layer, *op;
        int rank;
        long long dims[INCEPT_MAX_RANK];
        incept_model_layer(m, i, &layer, &op, &rank, dims);
        n += !strncmp(layer, module, len) && (layer[len] == '\0' || layer[len] == '/');
    }
    return n;
}

/* Width 0.5, rounded to multiples of 8 (round(c / 2 / 8) * 8, at least 8 where c > 0), and 4. */
static void test_width(void)
{
    incept_model *base = variant_of(fashion, NULL);
    incept_variant half = {.width = 0.5f};
    incept_model *m = variant_of(fashion, &half);
    CHECK(channels(m, "conv1") == 16); /* 32 / 2 */
    /* mixed_3a 32 32 48 8 16 16: halves 16 16 24 4 8 8; 4 rounds to 8 (never below 8) */
    check_module(m, "mixed_3a", (const int[6]){16, 16, 24, 8, 8, 8}, __LINE__);
    /* mixed_4a, 4b 64 48 96 12 24 24: halves 32 24 48 6 12 12; 6 -> 8, 12 -> 16 (1.5 rounds up) */
    check_module(m, "mixed_4a", (const int[6]){32, 24, 48, 8, 16, 16}, __LINE__);
    check_module(m, "mixed_4b", (const int[6]){32, 24, 48, 8, 16, 16}, __LINE__);
    CHECK(channels(m, "classifier") == 10); /* the classifier keeps its classes */
    incept_totals t = totals_of(m), b = totals_of(base);
    CHECK_MSG(t.multiply_adds < b.multiply_adds / 2 && t.params < b.params / 2,
              "%lld vs %lld multiply-adds, %lld vs %lld parameters", t.multiply_adds, b.multiply_adds,
              t.params, b.params);
    incept_model_free(m);

    incept_variant by4 = {.width = 0.5f, .round_to = 4};
    m = variant_of(fashion, &by4);
    check_module(m, "mixed_3a", (const int[6]){16, 16, 24, 4, 8, 8}, __LINE__);
    check_module(m, "mixed_4a", (const int[6]){32, 24, 48, 8, 12, 12}, __LINE__); /* 6/4 = 1.5 -> 8 */
    incept_model_free(m);
    incept_variant exact = {.width = 0.5f, .round_to = 1};
    m = variant_of(fashion, &exact);
    check_module(m, "mixed_4a", (const int[6]){32, 24, 48, 6, 12, 12}, __LINE__);
    incept_model_free(m);
    incept_variant thin = {.width = 0.1f}; /* every bank at least one multiple of 8 */
    m = variant_of(fashion, &thin);
    CHECK(channels(m, "conv1") == 8);
    check_module(m, "mixed_4a", (const int[6]){8, 8, 8, 8, 8, 8}, __LINE__);
    incept_model_free(m);
    incept_variant wide = {.width = 2.0f};
    m = variant_of(fashion, &wide);
    check_module(m, "mixed_4a", (const int[6]){128, 96, 192, 24, 48, 48}, __LINE__);
    incept_model_free(m);
    incept_variant same = {.width = 1.0f, .round_to = 16}; /* width 1: as written, not rounded */
    m = variant_of(fashion, &same);
    check_module(m, "mixed_4a", (const int[6]){64, 48, 96, 12, 24, 24}, __LINE__);
    CHECK(totals_of(m).params == totals_of(base).params);
    incept_model_free(m);
    incept_model_free(base);

    /* an fc that is not the output is scaled, the one the output shows is not; the same for a
     * convolutional classifier behind pooling and flatten */
    m = variant_of("input x 3 8 8\nflatten f\nfc hidden 64 relu\ndropout d 0.5\nfc out 10\nsoftmax s\n", &half);
    CHECK(channels(m, "hidden") == 32 && channels(m, "out") == 10);
    incept_model_free(m);
    m = variant_of("input x 3 8 8\nconv a 16 3x3 relu\nconv cls 10 1x1\nglobalavgpool g\nflatten f\n", &half);
    CHECK(channels(m, "a") == 8 && channels(m, "cls") == 10);
    incept_model_free(m);
    m = variant_of("input x 3 8 8\nconv a 16 3x3\naux head 7\nfc out 10\nconv tail 32 1x1 from a\noutput out\n",
                   &half);
    CHECK(channels(m, "out") == 10 && channels(m, "tail") == 16 && channels(m, "head/classifier") == 7);
    CHECK(channels(m, "head/conv") == 64 && channels(m, "head/fc") == 512);
    incept_model_free(m);

    /* GoogLeNet: the aux heads' 128 and 1024 scale, their classes and the classifier's do not */
    const char *googlenet = incept_builtin_description("googlenet");
    m = variant_of(googlenet, &half);
    CHECK(channels(m, "aux1/conv") == 64 && channels(m, "aux1/fc") == 512);
    CHECK(channels(m, "aux2/classifier") == 1000 && channels(m, "classifier") == 1000);
    CHECK(channels(m, "conv1") == 32 && channels(m, "inception_5b") == 512); /* (384+384+128+128)/2 */
    incept_model_free(m);
}

static void test_resolution(void)
{
    incept_model *base = variant_of(fashion, NULL);
    incept_variant v = {.input_h = 32, .input_w = 40};
    incept_model *m = variant_of(fashion, &v);
    int c, h, w;
    incept_model_input_dims(m, &c, &h, &w);
    CHECK(c == 1 && h == 32 && w == 40);
    incept_totals t = totals_of(m), b = totals_of(base);
    /* a globally pooled net: the same parameters, more multiply-adds */
    CHECK_MSG(t.params == b.params && t.multiply_adds > b.multiply_adds, "%lld/%lld %lld/%lld",
              t.params, b.params, t.multiply_adds, b.multiply_adds);
    incept_model_free(m);
    incept_variant tall = {.input_h = 56}; /* a 0 keeps that side as written */
    m = variant_of(fashion, &tall);
    incept_model_input_dims(m, &c, &h, &w);
    CHECK(h == 56 && w == 28);
    incept_model_free(m);
    incept_model_free(base);
}

static void test_depth(void)
{
    incept_model *base = variant_of(fashion, NULL);
    int total = incept_model_layer_count(base), module = layers_of(base, "mixed_4b");
    CHECK(module > 5);
    incept_variant drop = {.depth = "mixed_4b=0"};
    incept_model *m = variant_of(fashion, &drop);
    CHECK_MSG(incept_model_layer_count(m) == total - module, "%d layers", incept_model_layer_count(m));
    CHECK(layers_of(m, "mixed_4b") == 0 && channels(m, "pool3") == 208); /* pool3 reads mixed_4a */
    incept_model_free(m);
    incept_variant twice = {.depth = "mixed_4b=2,mixed_3a=3"};
    m = variant_of(fashion, &twice);
    CHECK(incept_model_layer_count(m) == total + module + 2 * layers_of(base, "mixed_3a"));
    CHECK(layers_of(m, "mixed_4b_2") == module && layers_of(m, "mixed_3a_3") == module);
    CHECK(layers_of(m, "mixed_4b_3") == 0 && layers_of(m, "mixed_3a_4") == 0);
    CHECK(channels(m, "mixed_3a_2/1x1") == 32 && channels(m, "mixed_4b_2") == 208);
    incept_model_free(m);
    incept_model_free(base);

    /* `from` and `output` naming a repeated module read its last copy, a dropped one fails */
    const char *text = "input x 3 8 8\ninception m 4 4 4 4 4 4\nconv c 4 1x1\nconcat j from m,c\n";
    incept_variant three = {.depth = "m=3"};
    m = variant_of(text, &three);
    CHECK(channels(m, "j") == 20 && channels(m, "m_3") == 16);
    CHECK(m && m->graph.nodes[m->graph.values[incept_graph_find_value(&m->graph, "j")].producer].inputs[0] ==
                   incept_graph_find_value(&m->graph, "m_3"));
    incept_model_free(m);
    m = variant_of("input x 3 8 8\ninception m 4 4 4 4 4 4\nconv c 4 1x1\noutput m\n", &three);
    CHECK(m && !strcmp(incept_model_output_name(m, 0), "m_3"));
    incept_model_free(m);
    incept_variant none = {.depth = "m=0"};
    const char *dropped[] = {text, "input x 3 8 8\ninception m 4 4 4 4 4 4\nconv c 4 1x1\noutput m\n",
                             "input x 3 8 8\ninception m 4 4 4 4 4 4\nconv c 4 1x1 from m/3x3\n"};
    for (int i = 0; i < 3; i++) {
        m = (incept_model *)&m;
        incept_status st = incept_model_parse_description_variant(dropped[i], "d.incept", &none, &m);
        CHECK_MSG(st == INCEPT_ERR_FORMAT && m == NULL && strstr(incept_last_error(), "d.incept:") &&
                      strstr(incept_last_error(), "which the variant drops (depth m=0)"),
                  "%d: %s", st, incept_last_error());
    }
    /* a dropped module passes on what it read: here its `from` */
    m = variant_of("input x 3 8 8\nconv a 5 1x1\nconv b 6 1x1\ninception m 4 4 4 4 4 4 from a\nconv c 4 1x1\n"
                   "output c\n", &none);
    CHECK(m && m->graph.nodes[m->graph.values[m->graph.output].producer].inputs[0] ==
                   incept_graph_find_value(&m->graph, "a"));
    incept_model_free(m);
}

/* The shares from first to last module, in fashion.incept's three modules (totals 112, 208,
 * 208), each width rounded to 8, reductions at the description's ratio (2/3 and 1/2 in 3a, 1/2
 * in 4a and 4b). */
static void test_split(void)
{
    incept_variant v = {.split = "0.25:0.5:0.125:0.125,0.2:0.45:0.2:0.15"};
    incept_model *m = variant_of(fashion, &v);
    /* 3a at the first shares: 28 56 14 14 of 112 -> 32 56 16 16; 3x3 reduce 56*2/3 = 37.3 -> 40 */
    check_module(m, "mixed_3a", (const int[6]){32, 40, 56, 8, 16, 16}, __LINE__);
    /* 4a half-way (.225 .475 .1625 .1375): 46.8 98.8 33.8 28.6 of 208 -> 48 96 32 32 */
    check_module(m, "mixed_4a", (const int[6]){48, 48, 96, 16, 32, 32}, __LINE__);
    /* 4b at the last: 41.6 93.6 41.6 31.2 -> 40 96 40 32; 5x5 reduce 40/2 = 20 -> 24 */
    check_module(m, "mixed_4b", (const int[6]){40, 48, 96, 24, 40, 32}, __LINE__);
    incept_model_free(m);
    /* one set: everywhere; with width, the total is the scaled one (fashion 4a: 112 at 0.5) */
    incept_variant even = {.width = 0.5f, .split = "1:1:1:1"};
    m = variant_of(fashion, &even);
    check_module(m, "mixed_4a", (const int[6]){32, 16, 32, 16, 32, 32}, __LINE__);
    incept_model_free(m);
    /* a share of 0: no such branch (no reduction either) */
    incept_variant no5 = {.split = "1:1:0:1"};
    m = variant_of(fashion, &no5);
    CHECK(channels(m, "mixed_4a/5x5") == -1 && channels(m, "mixed_4a/5x5_reduce") == -1 &&
          channels(m, "mixed_4a/1x1") == 72); /* 208 / 3 = 69.3 -> 72 */
    incept_model_free(m);
}

static void rejects(const char *text, const incept_variant *v, incept_status expected, const char *fragment)
{
    incept_model *m = (incept_model *)&m;
    incept_status st = incept_model_parse_description_variant(text, "bad.incept", v, &m);
    CHECK_MSG(st == expected && m == NULL, "status %d (%s), expected %d for:\n%s", st,
              incept_last_error(), expected, text);
    CHECK_MSG(strstr(incept_last_error(), fragment) != NULL, "message '%s' lacks '%s'",
              incept_last_error(), fragment);
}

static void test_refused(void)
{
    const incept_variant bad[] = {
        {.width = -1.0f}, {.width = 16.5f}, {.width = NAN}, {.round_to = -1}, {.round_to = 1025},
        {.input_h = -1}, {.input_w = 65537}, {.depth = "mixed_4b"}, {.depth = "mixed_4b=17"},
        {.depth = "mixed_4b=-1"}, {.depth = "=1"}, {.depth = ""}, {.depth = "mixed_4b=1,mixed_4b=0"},
        {.depth = "mixed_9z=0"}, {.depth = "pool1=0"}, {.split = "1:2:3"}, {.split = "0:0:0:0"},
        {.split = "-1:1:1:1"}, {.split = "1:1:1:1,1:1:1:1,1:1:1:1"}, {.split = "a:b:c:d"},
        {.split = "1:1:1:1:1"}, {.split = ""}, {.split = "1:1:1:inf"}, {.split = "1:1:1:1,1:1:1:0"}};
    const char *named[] = {"width", "width", "width", "round", "round", "resolution", "resolution",
                           "depth", "depth", "depth", "depth", "depth", "twice", "'mixed_9z', which is "
                           "not an Inception module of bad.incept (its modules: mixed_3a, mixed_4a, "
                           "mixed_4b)", "'pool1'", "split", "split", "split", "split", "split", "split",
                           "split", "split", "pool-projection share must be above 0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rejects(fashion, &bad[i], INCEPT_ERR_ARG, named[i]);
        CHECK_MSG(!strncmp(incept_last_error(), "variant: ", 9), "%zu: %s", i, incept_last_error());
    }
    /* a width that no int holds */
    incept_variant wide = {.width = 16.0f};
    rejects("input x 3 8 8\nconv c 100000000 1x1\nfc out 10\n", &wide, INCEPT_ERR_ARG, "bad.incept:2: c: the variant makes it");

    /* the description's lines: a syntax error naming the line */
    static const struct { const char *text, *fragment; } lines[] = {
        {"variant width abc\ninput x 3 8 8\nconv c 4 1x1\n", "bad.incept:1: variant width expects a number"},
        {"# first\nvariant width 0\ninput x 3 8 8\nconv c 4 1x1\n", "bad.incept:2: variant width must be in (0, 16]"},
        {"variant\ninput x 3 8 8\nconv c 4 1x1\n", "bad.incept:1: expected 'variant KNOB VALUE"},
        {"variant width 0.5 round\ninput x 3 8 8\nconv c 4 1x1\n", "bad.incept:1: variant round needs a value"},
        {"variant speed 2\ninput x 3 8 8\nconv c 4 1x1\n", "bad.incept:1: variant: unknown knob 'speed'"},
        {"variant round 0\ninput x 3 8 8\nconv c 4 1x1\n", "bad.incept:1: variant round must be"},
        {"variant round 4x\ninput x 3 8 8\nconv c 4 1x1\n", "bad.incept:1: variant round expects an integer"},
        {"variant resolution 32by32\ninput x 3 8 8\nconv c 4 1x1\n", "bad.incept:1: variant resolution: expected HxW"},
        {"variant resolution 0x8\ninput x 3 8 8\nconv c 4 1x1\n", "bad.incept:1: variant resolution"},
        {"variant split 1:1\ninput x 3 8 8\nconv c 4 1x1\n", "bad.incept:1: variant split: expected"},
        {"variant depth m=x\ninput x 3 8 8\nconv c 4 1x1\n", "bad.incept:1: variant depth: expected"},
        {"variant width 0.5\nvariant width 0.25\ninput x 3 8 8\nconv c 4 1x1\n",
         "bad.incept:2: variant width is set twice (first on line 1)"},
        {"input x 3 8 8\nvariant width 0.5\nconv c 4 1x1\n", "bad.incept:2: variant lines go at the top"},
        {"\nvariant depth m=0\ninput x 3 8 8\nconv c 4 1x1\n",
         "bad.incept:2: variant depth names 'm', which is not an Inception module of bad.incept (it has none)"},
        {"variant depth m=0\ninput x 3 8 8\ninception m 4 4 4 4 4 4\n", "no layers after the input"},
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        rejects(lines[i].text, NULL, INCEPT_ERR_FORMAT, lines[i].fragment);
    /* a dropped module's line is still read: its mistakes are still errors */
    incept_variant none = {.depth = "m=0"};
    rejects("input x 3 8 8\ninception m 4 4 4 4 4\nconv c 4 1x1\n", &none, INCEPT_ERR_FORMAT, "bad.incept:2: expected pool proj");
    rejects("input x 3 8 8\ninception m 4 4 4 4 4 4 fast\nconv c 4 1x1\n", &none, INCEPT_ERR_FORMAT, "unexpected 'fast'");

    incept_model *m = (incept_model *)&m;
    CHECK(incept_model_load_description_variant("models/missing.incept", &wide, &m) == INCEPT_ERR_IO && !m);
    CHECK(incept_model_parse_description_variant(NULL, "x", &wide, &m) == INCEPT_ERR_ARG);
}

/* The file's variant lines, the caller's knobs over them, and the description a variant keeps
 * (checkpoints rebuild the model from it). */
static void test_lines(void)
{
    char text[20000];
    snprintf(text, sizeof text, "# knobs\nvariant width 0.5 round 8\nvariant depth mixed_4b=0\n"
             "variant resolution 32x32\nvariant split 1:1:1:1\n%s", fashion);
    incept_model *m = variant_of(text, NULL);
    int c, h, w;
    incept_model_input_dims(m, &c, &h, &w);
    CHECK(h == 32 && w == 32 && layers_of(m, "mixed_4b") == 0);
    check_module(m, "mixed_4a", (const int[6]){32, 16, 32, 16, 32, 32}, __LINE__);
    CHECK(m && !strcmp(m->description, text)); /* no caller's knobs: the text as it is */
    incept_model_free(m);

    incept_variant over = {.width = 0.25f, .input_w = 40, .depth = "mixed_3a=2", .split = "0:2:0:1"};
    m = variant_of(text, &over);
    incept_model_input_dims(m, &c, &h, &w);
    CHECK(h == 32 && w == 40);                                      /* h from the file, w given */
    CHECK(layers_of(m, "mixed_4b") > 0 && layers_of(m, "mixed_3a_2") > 0); /* depth replaced */
    /* 4a at 0.25 has 16+24+8+8 = 56 channels: 2/3 (37.3 -> 40) and 1/3 (18.7 -> 16) of them */
    CHECK(channels(m, "conv1") == 8 && channels(m, "mixed_4a/3x3") == 40 &&
          channels(m, "mixed_4a/pool_proj") == 16 && channels(m, "mixed_4a/1x1") == -1);
    if (m) {
        incept_model *again = variant_of(m->description, NULL);
        CHECK(strstr(m->description, "variant width 0.25 round 8\n") && strstr(m->description, "#variant width 0.5"));
        CHECK(again && incept_model_layer_count(again) == incept_model_layer_count(m) &&
              totals_of(again).params == totals_of(m).params &&
              totals_of(again).multiply_adds == totals_of(m).multiply_adds);
        incept_model_free(again);
    }
    incept_model_free(m);
}

/* A variant trains: one step, a finite loss. */
static void test_train_step(void)
{
    incept_variant v = {.width = 0.25f, .input_h = 32, .input_w = 32, .depth = "mixed_4b=2",
                        .split = "0.25:0.5:0.125:0.125,0.2:0.45:0.2:0.15"};
    incept_model *m = variant_of(fashion, &v);
    incept_session *s = NULL;
    if (!m)
        return;
    CHECK_OK(incept_session_new(m, &s));
    enum { BATCH = 4 };
    static float input[BATCH * 32 * 32];
    int labels[BATCH] = {0, 3, 7, 9};
    for (size_t i = 0; i < sizeof input / sizeof input[0]; i++)
        input[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    float loss = NAN;
    CHECK_OK(incept_session_train_step(s, input, labels, BATCH, &loss));
    CHECK_MSG(isfinite(loss) && loss > 0.0f, "loss %g", (double)loss);
    incept_session_free(s);
    incept_model_free(m);
}

/* Runs `incept ARGS`; its stdout and stderr into out; returns the exit code. */
static int cli(const char *args, char *out, size_t size)
{
    const char *exe = getenv("INCEPT_CLI");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1 </dev/null", exe ? exe : "build/incept", args);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, size - 1, p) : 0;
    out[n] = '\0';
    int status = p ? pclose(p) : -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_cli(void)
{
    char out[32768];
    CHECK_MSG(cli("variants models/fashion.incept --width 0.25,0.5,0.75,1", out, sizeof out) == 0, "%s", out);
    CHECK_MSG(strstr(out, "models/fashion.incept as written: 168362 parameters") && strstr(out, "x madds"),
              "%s", out);
    int lines = 0;
    for (const char *p = strchr(out, '\n'); p; p = strchr(p + 1, '\n'))
        lines++;
    CHECK_MSG(lines == 6, "%d lines:\n%s", lines, out);
    const char *last = strstr(out, "\n1 ");
    char round_to[16], input[16];
    long long params = 0, madds = 0;
    double x_params = 0.0, x_madds = 0.0;
    CHECK_MSG(last && sscanf(last + 3, "%15s %15s %lld %lld %lf %lf", round_to, input, &params, &madds,
                             &x_params, &x_madds) == 6 && !strcmp(input, "28x28") && params == 168362 &&
                  madds == 11207008 && x_params == 1.0 && x_madds == 1.0,
              "%s", out);
    CHECK(cli("variants models/fashion.incept --width 0.5 --resolution 28x28,56 --depth mixed_4b=0 "
              "--split 1:1:1:1", out, sizeof out) == 0 && strstr(out, "56x56") && strstr(out, "mixed_4b=0") &&
          strstr(out, "1:1:1:1"));
    CHECK(cli("variants models/fashion.incept --width 0,5", out, sizeof out) == 2 && strstr(out, "--width"));
    CHECK(cli("variants models/fashion.incept --depth nowhere=0", out, sizeof out) == 1 &&
          strstr(out, "'nowhere', which is not an Inception module"));
    CHECK(cli("variants tests/fixtures/opset13_fold_reshape.onnx --width 0.5", out, sizeof out) == 2 &&
          strstr(out, "not of ONNX files"));
    CHECK(cli("summary tests/fixtures/opset13_fold_reshape.onnx --depth m=0", out, sizeof out) == 2 &&
          strstr(out, "variants of network descriptions, not of ONNX files"));
    CHECK(cli("summary models/fashion.incept --width 0.5 --resolution 32x32", out, sizeof out) == 0 &&
          strstr(out, "per 32x32x1 input"));
    CHECK(cli("summary models/fashion.incept --width 0.5,1", out, sizeof out) == 2 && strstr(out, "lists"));
    CHECK(cli("summary models/fashion.incept --resolution 0x9", out, sizeof out) == 2 && strstr(out, "--resolution"));
    CHECK(cli("summary models/fashion.incept --round 2000", out, sizeof out) == 2);
    CHECK(cli("bench tests/fixtures/opset13_fold_reshape.onnx --width 0.25", out, sizeof out) == 2 &&
          strstr(out, "not of ONNX files"));
    CHECK(cli("export models/fashion.incept /tmp/incept_variant.onnx --width 0.25", out, sizeof out) == 0);
    incept_model *exported = NULL;
    CHECK_OK(incept_model_load_onnx("/tmp/incept_variant.onnx", &exported));
    CHECK(channels(exported, "conv1") == 8);
    incept_model_free(exported);
    unlink("/tmp/incept_variant.onnx");
    CHECK(cli("train --resume /tmp/none.ckpt --width 0.5", out, sizeof out) == 2 && strstr(out, "--resume"));
    CHECK(cli("help variants", out, sizeof out) == 0 && strstr(out, "usage: incept variants MODEL") &&
          strstr(out, "--resolution HxW[,HxW...]"));
    CHECK(cli("help --man", out, sizeof out) == 0 && strstr(out, "incept variants"));
    CHECK(cli("help summary", out, sizeof out) == 0 && strstr(out, "--split"));
    /* the demo's GoogLeNet takes the knobs too */
    CHECK_MSG(cli("--width 0.25 --resolution 96 --threads 1", out, sizeof out) == 0 &&
              strstr(out, "(a variant)") && strstr(out, "per 96x96x3 input"), "%s", out);
    CHECK(cli("--depth mixed_4b=0", out, sizeof out) == 1 && strstr(out, "mixed_4b"));
}

/* The same knobs through the C builder and through the shipped description: the same layers,
 * the same parameters (names and shapes, so the same He-initialized values for a seed) and the
 * same outputs, bit for bit. */
static void test_googlenet_builder(void)
{
    const char *text = incept_builtin_description("googlenet");
    const incept_variant cases[] = {
        {.width = 0.25f, .input_h = 96, .input_w = 96},
        {.width = 0.25f, .input_h = 80, .input_w = 112, .depth = "inception_4a=0,inception_5a=2"},
        {.width = 0.125f, .round_to = 4, .input_h = 96, .input_w = 96, .depth = "inception_4d=2",
         .split = "0.25:0.5:0.125:0.125,0.2:0.45:0.2:0.15"},
    };
    CHECK(text != NULL);
    for (size_t i = 0; text && i < sizeof cases / sizeof cases[0]; i++) {
        incept_model *built = NULL, *described = variant_of(text, &cases[i]);
        CHECK_MSG(incept_model_googlenet_variant(1000, 5, &cases[i], &built) == INCEPT_OK, "%s",
                  incept_last_error());
        if (!built || !described) {
            incept_model_free(built);
            incept_model_free(described);
            continue;
        }
        char *a = summary_text(built, NULL), *b = summary_text(described, NULL);
        CHECK_MSG(a && b && !strcmp(a, b), "case %zu: the C builder and the description print "
                  "different summaries:\n%s\n---\n%s", i, a ? a : "", b ? b : "");
        free(a);
        free(b);
        int n = incept_model_param_count(built);
        CHECK_MSG(n == incept_model_param_count(described), "case %zu: %d against %d parameters", i,
                  n, incept_model_param_count(described));
        for (int p = 0; p < n && n == incept_model_param_count(described); p++) {
            const char *na, *nb;
            int ra, rb, da[4], db[4];
            float *va, *vb;
            incept_model_param(built, p, &na, &ra, da, &va);
            incept_model_param(described, p, &nb, &rb, db, &vb);
            CHECK_MSG(!strcmp(na, nb) && ra == rb && !memcmp(da, db, sizeof da), "case %zu: "
                      "parameter %d is %s in C, %s in the description", i, p, na, nb);
            if (!strcmp(na, nb) && ra == rb && !memcmp(da, db, sizeof da)) /* same values */
                memcpy(vb, va, sizeof(float) * (size_t)da[0] * (ra > 1 ? da[1] : 1) *
                                   (ra > 2 ? da[2] : 1) * (ra > 3 ? da[3] : 1));
        }
        int c, h, w;
        incept_model_input_dims(built, &c, &h, &w);
        CHECK(c == 3 && h == cases[i].input_h && w == cases[i].input_w);
        float *x = malloc(sizeof(float) * (size_t)(c * h * w)), ya[1000], yb[1000];
        for (int j = 0; j < c * h * w; j++)
            x[j] = (float)((j * 7919) % 255) / 255.0f - 0.5f;
        incept_session *sa = NULL, *sb = NULL;
        CHECK_OK(incept_session_new(built, &sa));
        CHECK_OK(incept_session_new(described, &sb));
        if (sa && sb) {
            CHECK_OK(incept_session_forward(sa, x, 1, ya));
            CHECK_OK(incept_session_forward(sb, x, 1, yb));
            CHECK_MSG(!memcmp(ya, yb, sizeof ya), "case %zu: outputs differ", i);
        }
        incept_session_free(sa);
        incept_session_free(sb);
        free(x);
        incept_model_free(built);
        incept_model_free(described);
    }
    /* the classes stay classes under the width knob; a bad knob names itself */
    incept_model *m = NULL;
    incept_variant half = {.width = 0.5f};
    CHECK_OK(incept_model_googlenet_variant(10, 1, &half, &m));
    CHECK(channels(m, "classifier") == 10 && channels(m, "conv1") == 32 && channels(m, "inception_3a") == 128);
    incept_model_free(m);
    incept_variant bad_depth = {.depth = "mixed_4b=0"}, bad_width = {.width = 20.0f};
    m = (incept_model *)&m;
    CHECK(incept_model_googlenet_variant(1000, 1, &bad_depth, &m) == INCEPT_ERR_ARG && m == NULL);
    CHECK_MSG(strstr(incept_last_error(), "mixed_4b") && strstr(incept_last_error(), "inception_5b"),
              "%s", incept_last_error());
    CHECK(incept_model_googlenet_variant(1000, 1, &bad_width, &m) == INCEPT_ERR_ARG &&
          strstr(incept_last_error(), "width"));
}

int main(void)
{
    FILE *f = fopen("models/fashion.incept", "r");
    size_t len = f ? fread(fashion, 1, sizeof fashion - 1, f) : 0;
    if (f)
        fclose(f);
    fashion[len] = '\0';
    CHECK(len > 0);
    test_width();
    test_resolution();
    test_depth();
    test_split();
    test_refused();
    test_lines();
    test_train_step();
    test_cli();
    test_googlenet_builder();
    return test_summary("test_variants");
}
