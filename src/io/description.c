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
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "io/description.h"
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
    int previous; /* value the next layer reads by default */
    int output;   /* explicit output, or -1 */
} parse_state;

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
        int v = incept_graph_find_value(ps->graph, tok);
        if (v < 0)
            return syntax(l, "'from' names '%s', which is not defined above", tok);
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
        if ((st = incept_graph_set_input(ps->graph, name, c, h, w)))
            return incept_fail_prefix(st, "%s:%d: ", l->source, l->line);
        ps->previous = ps->graph->input;
        return INCEPT_OK;
    }
    if (strcmp(kind, "output") == 0) {
        int v = incept_graph_find_value(ps->graph, name);
        if (v < 0)
            return syntax(l, "'output' names '%s', which is not defined above", name);
        ps->output = v;
        return INCEPT_OK;
    }

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
        st = incept_build_inception(&b, name, x, &w, &out);
    } else if (strcmp(kind, "aux") == 0) {
        int classes;
        if ((st = positional_int(l, 2, "number of classes", 1, &classes)))
            return st;
        st = incept_build_aux_classifier(&b, name, x, classes, &out);
    } else if (strcmp(kind, "fc") == 0) {
        int features;
        if ((st = positional_int(l, 2, "output features", 1, &features)))
            return st;
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

static incept_status parse_text(const char *text, const char *source, incept_graph *g)
{
    parse_state ps = {g, -1, -1};
    size_t len = strlen(text);
    char *copy = incept_malloc(len + 1);
    if (!copy)
        return INCEPT_ERR_NOMEM;
    memcpy(copy, text, len + 1);
    incept_status st = INCEPT_OK;
    line_ctx l;
    char *cursor = copy;
    for (int line = 1; cursor && !st; line++) {
        char *next = strchr(cursor, '\n');
        if (next)
            *next++ = '\0';
        char *hash = strchr(cursor, '#');
        if (hash)
            *hash = '\0';
        memset(&l, 0, sizeof l);
        l.source = source;
        l.line = line;
        for (char *save, *tok = strtok_r(cursor, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
            if (l.n_tokens == MAX_TOKENS) {
                st = syntax(&l, "%s", "too many words on one line");
                break;
            }
            l.tokens[l.n_tokens++] = tok;
        }
        if (!st && l.n_tokens > 0)
            st = parse_layer(&l, &ps);
        cursor = next;
    }
    if (!st && g->input < 0)
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: no 'input' line", source);
    if (!st && ps.previous == g->input)
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: no layers after the input", source);
    if (!st)
        g->output = ps.output >= 0 ? ps.output : ps.previous;
    free(copy);
    return st;
}

incept_status incept_model_parse_description(const char *text, const char *source_name,
                                             incept_model **out)
{
    if (!text || !out)
        return incept_fail(INCEPT_ERR_ARG, "parse_description needs text and an output handle");
    *out = NULL;
    incept_graph g;
    incept_graph_init(&g);
    incept_status st = parse_text(text, source_name ? source_name : "<description>", &g);
    if (st) {
        incept_graph_free(&g);
        return st;
    }
    if ((st = incept_model_wrap(&g, out)))
        return st;
    if (!((*out)->description = incept_strdup(text))) { /* kept for checkpoints */
        incept_model_free(*out);
        *out = NULL;
        return INCEPT_ERR_NOMEM;
    }
    incept_model_init_weights(*out, 0);
    return INCEPT_OK;
}
