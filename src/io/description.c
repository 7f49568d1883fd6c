/* description.c — the network description format: one layer per line, readable and diffable.
 *
 *   # comment
 *   input     data 3 224 224                       channels, height, width
 *   conv      conv1 64 7x7 stride 2 pad 3 relu     pad P or pad T,L,B,R; `bn`: batch norm
 *                                                  after it (no conv bias, ReLU after the norm);
 *                                                  `relu-max 6`: ReLU6 (no bn)
 *   maxpool   pool1 3x3 stride 2 ceil              avgpool too (exclude-pad)
 *   lrn       norm1 size 5 alpha 0.0001 beta 0.75 bias 1
 *   inception inception_3a 64 96 128 16 32 32      #1x1 #3x3red #3x3 #5x5red #5x5 poolproj
 *                                                  [bn]: every conv batch-normalized
 *   batchnorm bn1 [relu]                           batch normalization on its own
 *   aux       aux1 1000                            training-only classifier on the previous layer
 *   fc        classifier 1000 [relu]
 *   also: relu, flatten, dropout NAME RATIO, softmax [axis 1|2|3] (C, H or W; default C),
 *         globalavgpool, pad NAME T,L,B,R [value V],
 *         concat NAME from A,B,...  and  output NAME
 *
 * Each layer reads the previous one unless it says `from NAME[,NAME...]`. The last layer that is
 * not an auxiliary head is the output unless `output NAME` says otherwise. Errors name the file,
 * the line and what was expected.
 *
 * Variants: `variant` lines, before the first layer, set knobs (incept_variant in incept.h says
 * what each does; the caller's variant, where it sets a knob, replaces the file's):
 *   variant width 0.5 round 8       every filter bank x0.5, to a multiple of 8 (the classifier
 *                                   keeps its classes, aux heads their classes)
 *   variant resolution 32x32        the input's height and width
 *   variant depth mixed_4b=0,mixed_5a=2
 *                                   an Inception module dropped, or built twice: mixed_5a and
 *                                   mixed_5a_2 (a later `from mixed_5a` reads mixed_5a_2)
 *   variant split 0.25:0.5:0.125:0.125,0.2:0.45:0.2:0.15
 *                                   each module's output split between 1x1, 3x3, 5x5 and pool
 *                                   projection: these shares at the first module, those at the
 *                                   last, interpolated between
 * A line may set several (`variant width 0.5 resolution 32x32`); a knob set twice is an error.
 * The parse reads the text twice: once for the variant lines and the layers' kinds and names
 * (which modules there are, which layer is the classifier), then to build.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "io/description.h"
#include "io/io.h"
#include "nets/variant.h"
#include "nets/layers.h"
#include "ops/op.h"

#define MAX_TOKENS 64
#define MAX_FROM 64

typedef struct incept_desc_line {
    const char *source;
    int line;
    char *tokens[MAX_TOKENS];
    int n_tokens;
    int used[MAX_TOKENS]; /* which tokens a layer consumed, to reject leftovers */
} line_ctx;

static incept_status syntax(const line_ctx *l, const char *fmt, const char *detail)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, detail);
    return incept_fail(INCEPT_ERR_FORMAT, "%s:%d: %s", l->source, l->line, msg);
}

static int parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < -1000000000L || v > 1000000000L)
        return 0;
    *out = (int)v;
    return 1;
}

static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end)
        return 0;
    *out = v;
    return 1;
}

/* Positional token i (after kind and name) as a non-negative integer. */
static incept_status positional_int(line_ctx *l, int i, const char *what, int min, int *out)
{
    if (i >= l->n_tokens || !parse_int(l->tokens[i], out) || *out < min) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s (an integer >= %d), got '%s'", what, min,
                 i < l->n_tokens ? l->tokens[i] : "end of line");
        return syntax(l, "expected %s", detail);
    }
    l->used[i] = 1;
    return INCEPT_OK;
}

/* Finds `key` among the unused tokens; returns its index or -1. */
static int find_key(line_ctx *l, const char *key)
{
    for (int i = 2; i < l->n_tokens; i++)
        if (!l->used[i] && strcmp(l->tokens[i], key) == 0) {
            l->used[i] = 1;
            return i;
        }
    return -1;
}

static int has_flag(line_ctx *l, const char *flag) { return find_key(l, flag) >= 0; }

static const char *key_value(line_ctx *l, const char *key, incept_status *st)
{
    int i = find_key(l, key);
    if (i < 0)
        return NULL;
    if (i + 1 >= l->n_tokens) {
        *st = syntax(l, "'%s' needs a value", key);
        return NULL;
    }
    l->used[i + 1] = 1;
    return l->tokens[i + 1];
}

static incept_status key_int(line_ctx *l, const char *key, int min, int *out)
{
    incept_status st = INCEPT_OK;
    const char *v = key_value(l, key, &st);
    if (st || !v)
        return st;
    if (!parse_int(v, out) || *out < min) {
        char detail[256];
        snprintf(detail, sizeof detail, "'%s' expects an integer >= %d, got '%s'", key, min, v);
        return syntax(l, "%s", detail);
    }
    return INCEPT_OK;
}

static incept_status key_float(line_ctx *l, const char *key, float *out)
{
    incept_status st = INCEPT_OK;
    const char *v = key_value(l, key, &st);
    if (st || !v)
        return st;
    if (!parse_float(v, out)) {
        char detail[256];
        snprintf(detail, sizeof detail, "'%s' expects a number, got '%s'", key, v);
        return syntax(l, "%s", detail);
    }
    return INCEPT_OK;
}

/* "3x3" or "3" -> (3, 3); "1x7" -> (1, 7). */
static incept_status positional_kernel(line_ctx *l, int i, int *kh, int *kw)
{
    if (i < l->n_tokens) {
        char *x = strchr(l->tokens[i], 'x');
        if (!x && parse_int(l->tokens[i], kh) && *kh > 0) {
            *kw = *kh;
            l->used[i] = 1;
            return INCEPT_OK;
        }
        if (x) {
            *x = '\0';
            int ok = parse_int(l->tokens[i], kh) && parse_int(x + 1, kw) && *kh > 0 && *kw > 0;
            *x = 'x';
            if (ok) {
                l->used[i] = 1;
                return INCEPT_OK;
            }
        }
    }
    return syntax(l, "expected a kernel size like 3x3, got '%s'",
                  i < l->n_tokens ? l->tokens[i] : "end of line");
}

/* "P" or "T,L,B,R" (top, left, bottom, right) */
static incept_status parse_pad_spec(const line_ctx *l, const char *v, int pad[4])
{
    char buf[128];
    if (snprintf(buf, sizeof buf, "%s", v) >= (int)sizeof buf)
        return syntax(l, "padding is P or T,L,B,R (non-negative integers), got '%.40s...'", v);
    int n = 0;
    for (char *tok = buf, *comma;; tok = comma + 1) { /* every field, empty ones too (strtok skips them) */
        comma = strchr(tok, ',');
        if (comma)
            *comma = '\0';
        if (n == 4 || !*tok || !parse_int(tok, &pad[n]) || pad[n] < 0)
            return syntax(l, "padding is P or T,L,B,R (non-negative integers), got '%s'", v);
        n++;
        if (!comma)
            break;
    }
    if (n == 1)
        pad[1] = pad[2] = pad[3] = pad[0];
    else if (n != 4)
        return syntax(l, "padding is P or T,L,B,R (non-negative integers), got '%s'", v);
    return INCEPT_OK;
}

static incept_status key_pad(line_ctx *l, int pad[4])
{
    incept_status st = INCEPT_OK;
    const char *v = key_value(l, "pad", &st);
    if (st || !v)
        return st;
    return parse_pad_spec(l, v, pad);
}

/* ---- what ops' description keywords read with (description.h) ---- */

incept_status incept_desc_int(line_ctx *l, const char *key, int min, int *out) { return key_int(l, key, min, out); }

incept_status incept_desc_float(line_ctx *l, const char *key, float *out) { return key_float(l, key, out); }

incept_status incept_desc_positional_float(line_ctx *l, int i, const char *what, float *out)
{
    i += 2; /* after kind and name */
    if (i >= l->n_tokens || l->used[i] || !parse_float(l->tokens[i], out)) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s (a number), got '%s'", what,
                 i < l->n_tokens ? l->tokens[i] : "end of line");
        return syntax(l, "expected %s", detail);
    }
    l->used[i] = 1;
    return INCEPT_OK;
}

incept_status incept_desc_positional_pads(line_ctx *l, int i, int pad[4])
{
    i += 2;
    if (i >= l->n_tokens || l->used[i])
        return syntax(l, "%s", "expected padding T,L,B,R (or one number)");
    l->used[i] = 1;
    return parse_pad_spec(l, l->tokens[i], pad);
}

incept_status incept_desc_error(const line_ctx *l, const char *message) { return syntax(l, "%s", message); }

typedef struct {
    incept_graph *graph;
    const incept_knobs *knobs;
    int previous;        /* value the next layer reads by default */
    int output;          /* explicit output, or -1 */
    int module, modules; /* Inception modules built so far, of how many */
    int classifier_line; /* the layer that keeps its width under the width knob, or 0 */
} parse_state;

/* The value `name` in a layer's `from` or `output` (what) names: a module the variant builds
 * several times is its last copy, and a dropped one is an error that says so. */
static incept_status find_layer(line_ctx *l, const parse_state *ps, const char *what,
                                const char *name, int *value)
{
    char module[512], last[600], detail[500];
    snprintf(module, sizeof module, "%s", name);
    char *slash = strchr(module, '/'); /* a layer inside a module: NAME/3x3 */
    if (slash)
        *slash = '\0';
    if (incept_knobs_copies(ps->knobs, module) == 0) {
        snprintf(detail, sizeof detail, "'%s' names '%.200s', which the variant drops (depth "
                 "%.200s=0)", what, name, module);
        return syntax(l, "%s", detail);
    }
    int copies = incept_knobs_copies(ps->knobs, name);
    if (copies > 1)
        snprintf(last, sizeof last, "%s_%d", name, copies);
    *value = incept_graph_find_value(ps->graph, copies > 1 ? last : name);
    if (*value >= 0)
        return INCEPT_OK;
    snprintf(detail, sizeof detail, "'%s' names '%.400s', which is not defined above", what, name);
    return syntax(l, "%s", detail);
}

/* Resolves `from A,B` (or the previous layer) into value indices. */
static incept_status resolve_inputs(line_ctx *l, parse_state *ps, int *inputs, int *n_inputs)
{
    incept_status st = INCEPT_OK;
    const char *from = key_value(l, "from", &st);
    if (st)
        return st;
    if (!from) {
        if (ps->previous < 0)
            return syntax(l, "%s", "the first layer must be 'input NAME C H W'");
        inputs[0] = ps->previous;
        *n_inputs = 1;
        return INCEPT_OK;
    }
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", from);
    *n_inputs = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int v;
        if ((st = find_layer(l, ps, "from", tok, &v)))
            return st;
        if (*n_inputs == MAX_FROM)
            return syntax(l, "%s", "too many inputs in 'from'");
        inputs[(*n_inputs)++] = v;
    }
    return INCEPT_OK;
}

static incept_status parse_layer(line_ctx *l, parse_state *ps)
{
    const char *kind = l->tokens[0];
    incept_builder b = {ps->graph, NULL, 0, 0};
    incept_status st;
    if (l->n_tokens < 2)
        return syntax(l, "'%s' needs a name", kind);
    const char *name = l->tokens[1];
    l->used[0] = l->used[1] = 1;

    if (strcmp(kind, "input") == 0) {
        int c, h, w;
        if ((st = positional_int(l, 2, "channels", 1, &c)) || (st = positional_int(l, 3, "height", 1, &h)) ||
            (st = positional_int(l, 4, "width", 1, &w)))
            return st;
        h = ps->knobs->input_h ? ps->knobs->input_h : h;
        w = ps->knobs->input_w ? ps->knobs->input_w : w;
        if ((st = incept_graph_set_input(ps->graph, name, c, h, w)))
            return incept_fail_prefix(st, "%s:%d: ", l->source, l->line);
        ps->previous = ps->graph->input;
        return INCEPT_OK;
    }
    if (strcmp(kind, "output") == 0)
        return find_layer(l, ps, "output", name, &ps->output);

    int inputs[MAX_FROM], n_inputs = 0, out = -1;
    if ((st = resolve_inputs(l, ps, inputs, &n_inputs)))
        return st;
    const incept_op *reads = incept_op_find(kind);
    if ((!reads || reads->max_inputs == 1) && n_inputs != 1)
        return syntax(l, "'%s' reads exactly one layer", kind);
    int x = inputs[0];
    int pad[4] = {0, 0, 0, 0};
    incept_attrs a = incept_attrs_default();
    const incept_op *op;

    if (strcmp(kind, "conv") == 0 || strcmp(kind, "inception") == 0 || strcmp(kind, "aux") == 0)
        b.batchnorm = has_flag(l, "bn");
    if (strcmp(kind, "conv") == 0) {
        int channels, kh, kw, stride = 1;
        if ((st = positional_int(l, 2, "output channels", 1, &channels)) ||
            (st = positional_kernel(l, 3, &kh, &kw)) || (st = key_int(l, "stride", 1, &stride)) ||
            (st = key_pad(l, pad)))
            return st;
        float relu_max = INFINITY; /* relu-max V: a ReLU clamped at V too (ReLU6: 6) */
        if ((st = key_float(l, "relu-max", &relu_max)))
            return st;
        if (relu_max < INFINITY && b.batchnorm)
            return syntax(l, "%s", "relu-max applies to a conv without bn");
        if (!(relu_max > 0.0f))
            return syntax(l, "%s", "relu-max must be positive");
        if (l->line != ps->classifier_line)
            st = incept_knobs_scale(ps->knobs, name, channels, &channels);
        if (!st)
            st = incept_build_conv(&b, name, x, channels, kh, kw, stride, pad,
                                   has_flag(l, "relu") || relu_max < INFINITY, INCEPT_ROLE_NONE, &out);
        if (!st && relu_max < INFINITY)
            ps->graph->nodes[ps->graph->values[out].producer].attrs.relu_max = relu_max;
    } else if (strcmp(kind, "maxpool") == 0 || strcmp(kind, "avgpool") == 0) {
        int kh, kw, stride = 1;
        if ((st = positional_kernel(l, 2, &kh, &kw)) || (st = key_int(l, "stride", 1, &stride)) ||
            (st = key_pad(l, pad)))
            return st;
        if (kh != kw)
            return syntax(l, "%s", "pooling windows must be square");
        int ceil_mode = has_flag(l, "ceil");
        int exclude = strcmp(kind, "avgpool") == 0 && has_flag(l, "exclude-pad");
        st = incept_build_pool(&b, kind, name, x, kh, stride, pad, ceil_mode, INCEPT_ROLE_NONE, &out);
        if (!st && exclude)
            ps->graph->nodes[ps->graph->n_nodes - 1].attrs.count_include_pad = 0;
    } else if (strcmp(kind, "inception") == 0) {
        int v[6];
        static const char *what[6] = {"#1x1", "#3x3 reduce", "#3x3", "#5x5 reduce", "#5x5", "pool proj"};
        for (int i = 0; i < 6; i++)
            if ((st = positional_int(l, 2 + i, what[i], 0, &v[i])))
                return st;
        incept_inception_widths w = {v[0], v[1], v[2], v[3], v[4], v[5]};
        st = incept_knobs_build_module(ps->knobs, &b, name, x, &w, &ps->module, ps->modules, &out);
    } else if (strcmp(kind, "aux") == 0) {
        int classes;
        if ((st = positional_int(l, 2, "number of classes", 1, &classes)))
            return st;
        st = incept_knobs_build_aux(ps->knobs, &b, name, x, classes, &out);
    } else if (strcmp(kind, "fc") == 0) {
        int features;
        if ((st = positional_int(l, 2, "output features", 1, &features)))
            return st;
        if (l->line != ps->classifier_line)
            st = incept_knobs_scale(ps->knobs, name, features, &features);
        if (!st)
            st = incept_build_fc(&b, name, x, features, has_flag(l, "relu"), &out);
    } else if (strcmp(kind, "batchnorm") == 0) {
        st = incept_build_batchnorm(&b, name, x, has_flag(l, "relu"), NULL, &out);
    } else if ((op = incept_op_find(kind)) && op->from_description) { /* its keyword is its name */
        if ((st = op->from_description(l, &a)))
            return st; /* its message names the line */
        st = incept_build_op(&b, kind, name, inputs, n_inputs, &a, INCEPT_ROLE_NONE, &out);
    } else {
        return syntax(l, "unknown layer kind '%s' (expected input, conv, maxpool, avgpool, "
                         "globalavgpool, lrn, relu, clip, inception, aux, fc, flatten, dropout, "
                         "softmax, pad, batchnorm, concat or output)", kind);
    }
    if (st)
        return incept_fail_prefix(st, "%s:%d: ", l->source, l->line);
    for (int i = 0; i < l->n_tokens; i++)
        if (!l->used[i])
            return syntax(l, "unexpected '%s'", l->tokens[i]);
    if (strcmp(kind, "aux") != 0)
        ps->previous = out;
    return INCEPT_OK;
}

/* The next line of the text (cut off in place), or NULL after the last. */
static char *next_line(char **cursor)
{
    char *line = *cursor;
    if (!line)
        return NULL;
    char *end = strchr(line, '\n');
    if (end)
        *end++ = '\0';
    *cursor = end;
    return line;
}

/* One line's words into l, its comment cut off (in place). */
static incept_status split_words(char *text, const char *source, int line, line_ctx *l)
{
    char *hash = strchr(text, '#');
    if (hash)
        *hash = '\0';
    memset(l, 0, sizeof *l);
    l->source = source;
    l->line = line;
    for (char *save, *tok = strtok_r(text, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
        if (l->n_tokens == MAX_TOKENS)
            return syntax(l, "%s", "too many words on one line");
        l->tokens[l->n_tokens++] = tok;
    }
    return INCEPT_OK;
}

/* `variant KNOB VALUE [KNOB VALUE...]` */
static incept_status variant_line(const line_ctx *l, incept_knobs *k)
{
    if (l->n_tokens < 3)
        return syntax(l, "%s", "expected 'variant KNOB VALUE [KNOB VALUE...]' (knobs: width, round, "
                               "resolution, depth, split)");
    for (int i = 1; i < l->n_tokens; i += 2) {
        if (i + 1 == l->n_tokens)
            return syntax(l, "variant %s needs a value", l->tokens[i]);
        incept_status st = incept_knobs_set(k, l->tokens[i], l->tokens[i + 1], l->line);
        if (st)
            return incept_fail_prefix(st, "%s:%d: ", l->source, l->line);
    }
    return INCEPT_OK;
}

/* What the first reading keeps of each layer line (pointing into its copy of the text). */
typedef struct {
    const char *kind, *name, *from; /* from: its `from` value, or NULL */
    int line;
} layer_line;

typedef struct {
    char *text; /* the copy the words point into */
    layer_line *layers;
    int n_layers, capacity;
} scanned_text;

/* The first reading: the variant lines into k, and each layer's kind, name and `from`. */
static incept_status scan(const char *text, const char *source, incept_knobs *k, scanned_text *out)
{
    if (!(out->text = incept_strdup(text)))
        return INCEPT_ERR_NOMEM;
    incept_status st = INCEPT_OK;
    line_ctx l;
    char *cursor = out->text, *line_text;
    for (int line = 1; !st && (line_text = next_line(&cursor)); line++) {
        if ((st = split_words(line_text, source, line, &l)) || !l.n_tokens)
            continue;
        if (strcmp(l.tokens[0], "variant") == 0) {
            st = out->n_layers ? syntax(&l, "%s", "variant lines go at the top, before the first layer")
                               : variant_line(&l, k);
            continue;
        }
        if ((st = incept_grow((void **)&out->layers, &out->capacity, out->n_layers, sizeof *out->layers)))
            break;
        layer_line *layer = &out->layers[out->n_layers++];
        *layer = (layer_line){l.tokens[0], l.n_tokens > 1 ? l.tokens[1] : "", NULL, line};
        for (int i = 2; i + 1 < l.n_tokens; i++)
            if (!strcmp(l.tokens[i], "from"))
                layer->from = l.tokens[i + 1];
    }
    return st;
}

/* Layers whose output has the channels of their input. */
static int keeps_channels(const char *kind)
{
    static const char *const kinds[] = {"relu", "clip", "dropout", "flatten", "softmax", "globalavgpool",
                                        "avgpool", "maxpool", "lrn", "batchnorm", "pad"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kind, kinds[i]))
            return 1;
    return 0;
}

/* The layer that layers[at] reads (its one `from`, or the layer above that is no auxiliary
 * head), or -1. */
static int source_of(const layer_line *layers, int at)
{
    const char *from = layers[at].from;
    if (from && strchr(from, ','))
        return -1;
    for (int i = at - 1; i >= 0; i--)
        if (strcmp(layers[i].kind, "output") != 0 &&
            (from ? !strcmp(layers[i].name, from) : strcmp(layers[i].kind, "aux") != 0))
            return i;
    return -1;
}

/* The classifier: the fc or conv whose channels the output shows, through layers that keep
 * channels (and dropped modules, which pass their input on). The width knob leaves it as
 * written, so the model keeps its classes. Returns its line, or 0 when there is none. */
static int classifier_line(const layer_line *layers, int n, const incept_knobs *k)
{
    int at = -1;
    const char *output = NULL;
    for (int i = 0; i < n; i++)
        if (!strcmp(layers[i].kind, "output"))
            output = layers[i].name;
    for (int i = n - 1; i >= 0 && at < 0; i--)
        if (strcmp(layers[i].kind, "output") != 0 &&
            (output ? !strcmp(layers[i].name, output) : strcmp(layers[i].kind, "aux") != 0))
            at = i;
    for (int steps = 0; at >= 0 && steps < n; steps++) {
        const char *kind = layers[at].kind;
        if (!strcmp(kind, "fc") || !strcmp(kind, "conv"))
            return layers[at].line;
        int dropped = !strcmp(kind, "inception") && incept_knobs_copies(k, layers[at].name) == 0;
        if (!dropped && !keeps_channels(kind))
            return 0;
        at = source_of(layers, at);
    }
    return 0;
}

/* The knobs against the layers: depth names modules there are; how many modules are built. */
static incept_status count_modules(const scanned_text *t, const incept_knobs *k, const char *source,
                                   int *built)
{
    const char **modules = incept_malloc(sizeof *modules * (size_t)(t->n_layers + 1));
    if (!modules)
        return INCEPT_ERR_NOMEM;
    int n = 0;
    *built = 0;
    for (int i = 0; i < t->n_layers; i++)
        if (!strcmp(t->layers[i].kind, "inception")) {
            modules[n++] = t->layers[i].name;
            *built += incept_knobs_copies(k, t->layers[i].name);
        }
    incept_status st = incept_knobs_check_modules(k, modules, n, source);
    free(modules);
    return st;
}

/* The text kept with the model (for checkpoints): as given, or, for a caller's variant, the
 * knobs in force as variant lines and the text with its own variant lines made comments. */
static incept_status kept_text(const char *text, const incept_knobs *given, const incept_knobs *knobs,
                               const incept_graph *g, char **kept)
{
    if (!incept_knobs_any(given))
        return (*kept = incept_strdup(text)) ? INCEPT_OK : INCEPT_ERR_NOMEM;
    const incept_value *in = &g->values[g->input];
    char *lines = incept_knobs_lines(knobs, in->h, in->w);
    incept_bytes b = {0};
    incept_status st = lines ? incept_bytes_put(&b, lines, strlen(lines)) : INCEPT_ERR_NOMEM;
    free(lines);
    for (const char *line = text; !st && *line;) {
        size_t len = strcspn(line, "\n");
        const char *word = line + strspn(line, " \t\r");
        if (!strncmp(word, "variant", 7) && strchr(" \t\r\n#", word[7]))
            st = incept_bytes_put(&b, "#", 1);
        if (!st)
            st = incept_bytes_put(&b, line, len + (line[len] == '\n'));
        line += len + (line[len] == '\n');
    }
    if (!st)
        st = incept_bytes_put(&b, "", 1);
    if (st) {
        free(b.data);
        return st;
    }
    *kept = (char *)b.data;
    return INCEPT_OK;
}

static incept_status parse_text(const char *text, const char *source, incept_knobs *given,
                                incept_graph *g, char **kept)
{
    incept_knobs knobs;
    incept_knobs_init(&knobs);
    scanned_text scanned = {NULL, NULL, 0, 0};
    parse_state ps = {g, &knobs, -1, -1, 0, 0, 0};
    char *copy = NULL;
    incept_status st = scan(text, source, &knobs, &scanned);
    if (!st) {
        incept_knobs_override(&knobs, given);
        st = count_modules(&scanned, &knobs, source, &ps.modules);
    }
    if (!st && !(copy = incept_strdup(text)))
        st = INCEPT_ERR_NOMEM;
    ps.classifier_line = st ? 0 : classifier_line(scanned.layers, scanned.n_layers, &knobs);
    line_ctx l;
    char *cursor = copy, *line_text;
    for (int line = 1; !st && (line_text = next_line(&cursor)); line++)
        if (!(st = split_words(line_text, source, line, &l)) && l.n_tokens > 0 &&
            strcmp(l.tokens[0], "variant") != 0)
            st = parse_layer(&l, &ps);
    if (!st && g->input < 0)
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: no 'input' line", source);
    if (!st && ps.previous == g->input)
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: no layers after the input", source);
    if (!st) {
        g->output = ps.output >= 0 ? ps.output : ps.previous;
        st = kept_text(text, given, &knobs, g, kept);
    }
    free(copy);
    free(scanned.text);
    free(scanned.layers);
    incept_knobs_free(&knobs);
    return st;
}

incept_status incept_model_parse_description_variant(const char *text, const char *source_name,
                                                     const incept_variant *variant, incept_model **out)
{
    if (!text || !out)
        return incept_fail(INCEPT_ERR_ARG, "parse_description needs text and an output handle");
    *out = NULL;
    incept_knobs given;
    incept_knobs_init(&given);
    incept_graph g;
    incept_graph_init(&g);
    char *kept = NULL;
    incept_status st = incept_knobs_from_variant(&given, variant);
    if (!st)
        st = parse_text(text, source_name ? source_name : "<description>", &given, &g, &kept);
    incept_knobs_free(&given);
    if (st) {
        incept_graph_free(&g);
        return st;
    }
    if ((st = incept_model_wrap(&g, out))) {
        free(kept);
        return st;
    }
    (*out)->description = kept; /* kept for checkpoints */
    incept_model_init_weights(*out, 0);
    return INCEPT_OK;
}

incept_status incept_model_parse_description(const char *text, const char *source_name,
                                             incept_model **out)
{
    return incept_model_parse_description_variant(text, source_name, NULL, out);
}
