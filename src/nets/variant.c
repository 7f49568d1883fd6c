/* variant.c — the knobs of a network variant (a width multiplier, which Inception modules are
 * dropped or repeated, the input resolution, the split of a module's channels between its
 * branches): read from the caller's incept_variant or from a description's `variant` lines,
 * checked with a message naming the knob, and turned into the widths each layer is built with.
 * The description parser (description.c) applies them line by line. */
#include "nets/variant.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/io.h"

/* Widths above this fail instead of overflowing an int further on. */
#define MAX_CHANNELS 1000000000.0

void incept_knobs_init(incept_knobs *k)
{
    memset(k, 0, sizeof *k);
    k->width = 1.0f;
    k->round_to = INCEPT_VARIANT_DEFAULT_ROUND;
}

static void free_depth(incept_knobs *k)
{
    for (int i = 0; i < k->n_depth; i++)
        free(k->depth[i].module);
    free(k->depth);
    k->depth = NULL;
    k->n_depth = 0;
}

void incept_knobs_free(incept_knobs *k)
{
    free_depth(k);
    incept_knobs_init(k);
}

int incept_knobs_any(const incept_knobs *k)
{
    return k->width_from || k->round_from || k->resolution_from || k->depth_from || k->split_from;
}

/* Where a message says the knob came from: "variant: " for the caller's, nothing for a line
 * (the parser puts the file and line before it). */
static const char *origin(int from) { return from == INCEPT_KNOB_FROM_CALLER ? "variant: " : "variant "; }

static incept_status bad_value(int from) { return from == INCEPT_KNOB_FROM_CALLER ? INCEPT_ERR_ARG : INCEPT_ERR_FORMAT; }

static int parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

static int parse_count(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

static incept_status set_width(incept_knobs *k, double width, int from)
{
    if (!(width > 0.0 && width <= INCEPT_VARIANT_MAX_WIDTH))
        return incept_fail(bad_value(from), "%swidth must be in (0, %g], got %g", origin(from),
                           (double)INCEPT_VARIANT_MAX_WIDTH, width);
    k->width = (float)width;
    k->width_from = from;
    return INCEPT_OK;
}

static incept_status set_round(incept_knobs *k, long round_to, int from)
{
    if (round_to < 1 || round_to > INCEPT_VARIANT_MAX_ROUND)
        return incept_fail(bad_value(from), "%sround must be an integer from 1 to %d, got %ld",
                           origin(from), INCEPT_VARIANT_MAX_ROUND, round_to);
    k->round_to = (int)round_to;
    k->round_from = from;
    return INCEPT_OK;
}

static incept_status set_resolution(incept_knobs *k, long h, long w, int from)
{
    if (h < 0 || h > INCEPT_VARIANT_MAX_RESOLUTION || w < 0 || w > INCEPT_VARIANT_MAX_RESOLUTION ||
        (from != INCEPT_KNOB_FROM_CALLER && (h == 0 || w == 0)))
        return incept_fail(bad_value(from), "%sresolution: height and width must be from 1 to %d, "
                           "got %ldx%ld", origin(from), INCEPT_VARIANT_MAX_RESOLUTION, h, w);
    k->input_h = (int)h;
    k->input_w = (int)w;
    k->resolution_from = from;
    return INCEPT_OK;
}

/* "NAME=N,NAME=N,..." */
static incept_status set_depth(incept_knobs *k, const char *text, int from)
{
    size_t len = strlen(text);
    char *copy = incept_malloc(len + 1);
    if (!copy)
        return INCEPT_ERR_NOMEM;
    memcpy(copy, text, len + 1);
    free_depth(k);
    incept_status st = INCEPT_OK;
    int capacity = 0;
    char *entry = copy;
    while (!st) {
        char *comma = strchr(entry, ',');
        if (comma)
            *comma = '\0';
        char *eq = strrchr(entry, '=');
        long copies = 0;
        if (!eq || eq == entry || !parse_count(eq + 1, 0, INCEPT_VARIANT_MAX_COPIES, &copies)) {
            st = incept_fail(bad_value(from), "%sdepth: expected MODULE=COUNT[,MODULE=COUNT...] with "
                             "counts from 0 (dropped) to %d, got '%s'", origin(from),
                             INCEPT_VARIANT_MAX_COPIES, entry);
            break;
        }
        *eq = '\0';
        for (int i = 0; i < k->n_depth && !st; i++)
            if (!strcmp(k->depth[i].module, entry))
                st = incept_fail(bad_value(from), "%sdepth names '%s' twice", origin(from), entry);
        if (st || (st = incept_grow((void **)&k->depth, &capacity, k->n_depth, sizeof *k->depth)))
            break;
        if (!(k->depth[k->n_depth].module = incept_strdup(entry))) {
            st = INCEPT_ERR_NOMEM;
            break;
        }
        k->depth[k->n_depth++].copies = (int)copies;
        if (!comma)
            break;
        entry = comma + 1;
    }
    free(copy);
    if (st)
        free_depth(k);
    else
        k->depth_from = from;
    return st;
}

/* "A:B:C:D" or "A:B:C:D,E:F:G:H"; each set is kept normalized to a sum of 1. */
static incept_status set_split(incept_knobs *k, const char *text, int from)
{
    char buf[512];
    int sets = 0, ok = snprintf(buf, sizeof buf, "%s", text) < (int)sizeof buf;
    float split[2][4];
    for (char *set = buf; ok; sets++) {
        char *comma = strchr(set, ',');
        if (comma)
            *comma = '\0';
        double sum = 0.0, share[4];
        int n = 0;
        for (char *field = set; ok; n++) {
            char *colon = strchr(field, ':');
            if (colon)
                *colon = '\0';
            ok = n < 4 && parse_number(field, &share[n]) && share[n] >= 0.0;
            sum += ok ? share[n] : 0.0;
            if (!colon)
                break;
            field = colon + 1;
        }
        ok = ok && n == 3 && sets < 2 && sum > 0.0 && isfinite(sum);
        for (int i = 0; ok && i < 4; i++)
            split[sets][i] = (float)(share[i] / sum);
        if (!comma)
            break;
        set = comma + 1;
    }
    if (!ok)
        return incept_fail(bad_value(from), "%ssplit: expected A:B:C:D or A:B:C:D,E:F:G:H (the "
                           "shares of the 1x1, 3x3, 5x5 and pool-projection branches at the first "
                           "module and at the last: non-negative numbers, each set with a positive "
                           "sum), got '%.200s'", origin(from), text);
    for (int set = 0; set <= sets; set++)
        if (!(split[set][3] > 0.0f)) /* a pool branch of width 0 would pass its input through */
            return incept_fail(bad_value(from), "%ssplit: the pool-projection share must be above 0 "
                               "(a module always has its pool branch, and one of width 0 would pass "
                               "the module's whole input through), got '%.200s'", origin(from), text);
    memcpy(k->split, split, sizeof split);
    k->n_split = sets + 1;
    k->split_from = from;
    return INCEPT_OK;
}

incept_status incept_knobs_from_variant(incept_knobs *k, const incept_variant *v)
{
    const int from = INCEPT_KNOB_FROM_CALLER;
    incept_status st = INCEPT_OK;
    if (!v)
        return INCEPT_OK;
    if (v->width != 0.0f && (st = set_width(k, v->width, from)))
        return st;
    if (v->round_to != 0 && (st = set_round(k, v->round_to, from)))
        return st;
    if ((v->input_h || v->input_w) && (st = set_resolution(k, v->input_h, v->input_w, from)))
        return st;
    if (v->depth && (st = set_depth(k, v->depth, from)))
        return st;
    return v->split ? set_split(k, v->split, from) : INCEPT_OK;
}

/* "HxW" or "N" (square). */
static incept_status set_resolution_text(incept_knobs *k, const char *text, int line)
{
    char buf[64];
    long h = -1, w = -1;
    if (snprintf(buf, sizeof buf, "%s", text) < (int)sizeof buf) {
        char *x = strchr(buf, 'x');
        if (x)
            *x = '\0';
        if (!parse_count(buf, 1, INCEPT_VARIANT_MAX_RESOLUTION, &h) ||
            !parse_count(x ? x + 1 : buf, 1, INCEPT_VARIANT_MAX_RESOLUTION, &w))
            h = w = -1;
    }
    if (h < 0)
        return incept_fail(INCEPT_ERR_FORMAT, "variant resolution: expected HxW (each from 1 to "
                           "%d), got '%.64s'", INCEPT_VARIANT_MAX_RESOLUTION, text);
    return set_resolution(k, h, w, line);
}

incept_status incept_knobs_set(incept_knobs *k, const char *key, const char *value, int line)
{
    static const char *const keys[] = {"width", "round", "resolution", "depth", "split"};
    int *const froms[] = {&k->width_from, &k->round_from, &k->resolution_from, &k->depth_from,
                          &k->split_from};
    int which = -1;
    for (int i = 0; i < 5; i++)
        which = strcmp(key, keys[i]) ? which : i;
    if (which < 0)
        return incept_fail(INCEPT_ERR_FORMAT, "variant: unknown knob '%s' (expected width, round, "
                           "resolution, depth or split)", key);
    if (*froms[which])
        return incept_fail(INCEPT_ERR_FORMAT, "variant %s is set twice (first on line %d)", key,
                           *froms[which]);
    double x;
    long n;
    switch (which) {
    case 0:
        if (!parse_number(value, &x))
            return incept_fail(INCEPT_ERR_FORMAT, "variant width expects a number, got '%s'", value);
        return set_width(k, x, line);
    case 1:
        if (!parse_count(value, -1000000000L, 1000000000L, &n))
            return incept_fail(INCEPT_ERR_FORMAT, "variant round expects an integer, got '%s'", value);
        return set_round(k, n, line);
    case 2:
        return set_resolution_text(k, value, line);
    case 3:
        return set_depth(k, value, line);
    default:
        return set_split(k, value, line);
    }
}

void incept_knobs_override(incept_knobs *k, incept_knobs *over)
{
    if (over->width_from)
        k->width = over->width, k->width_from = over->width_from;
    if (over->round_from)
        k->round_to = over->round_to, k->round_from = over->round_from;
    if (over->resolution_from) { /* a dimension the caller leaves at 0 stays as written */
        k->input_h = over->input_h ? over->input_h : k->input_h;
        k->input_w = over->input_w ? over->input_w : k->input_w;
        k->resolution_from = over->resolution_from;
    }
    if (over->depth_from) {
        free_depth(k);
        k->depth = over->depth, k->n_depth = over->n_depth, k->depth_from = over->depth_from;
        over->depth = NULL, over->n_depth = 0;
    }
    if (over->split_from) {
        memcpy(k->split, over->split, sizeof k->split);
        k->n_split = over->n_split, k->split_from = over->split_from;
    }
}

incept_status incept_knobs_check_modules(const incept_knobs *k, const char *const *modules,
                                         int n_modules, const char *source)
{
    for (int i = 0; i < k->n_depth; i++) {
        int found = 0;
        for (int m = 0; m < n_modules && !found; m++)
            found = !strcmp(modules[m], k->depth[i].module);
        if (found)
            continue;
        char list[1024] = "";
        size_t used = 0;
        for (int m = 0; m < n_modules && used + 1 < sizeof list; m++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", m ? ", " : "", modules[m]);
        char where[512];
        if (k->depth_from == INCEPT_KNOB_FROM_CALLER)
            snprintf(where, sizeof where, "variant: depth");
        else
            snprintf(where, sizeof where, "%s:%d: variant depth", source, k->depth_from);
        return incept_fail(bad_value(k->depth_from), "%s names '%s', which is not an Inception "
                           "module of %s (%s%s)", where, k->depth[i].module, source,
                           n_modules ? "its modules: " : "it has none", list);
    }
    return INCEPT_OK;
}

int incept_knobs_copies(const incept_knobs *k, const char *module)
{
    for (int i = 0; i < k->n_depth; i++)
        if (!strcmp(k->depth[i].module, module))
            return k->depth[i].copies;
    return 1;
}

/* x rounded to the nearest multiple of `multiple`: 0 stays 0, anything above 0 gives at least
 * one multiple. */
static double round_channels(double x, int multiple)
{
    if (!(x > 0.0))
        return 0.0;
    double rounded = floor(x / multiple + 0.5) * multiple;
    return rounded < multiple ? multiple : rounded;
}

static incept_status checked_width(const char *layer, double channels, int *out)
{
    if (channels > MAX_CHANNELS)
        return incept_fail(INCEPT_ERR_ARG, "%s: the variant makes it %.0f channels wide (at most "
                           "%.0f)", layer, channels, MAX_CHANNELS);
    *out = (int)channels;
    return INCEPT_OK;
}

incept_status incept_knobs_scale(const incept_knobs *k, const char *layer, int channels, int *out)
{
    if (k->width == 1.0f || channels <= 0) {
        *out = channels;
        return INCEPT_OK;
    }
    return checked_width(layer, round_channels((double)channels * k->width, k->round_to), out);
}

incept_status incept_knobs_module(const incept_knobs *k, const char *name, int index, int count,
                                  incept_inception_widths *w)
{
    const incept_inception_widths written = *w;
    int *const bank[6] = {&w->n1x1, &w->n3x3_reduce, &w->n3x3, &w->n5x5_reduce, &w->n5x5, &w->pool_proj};
    incept_status st;
    for (int i = 0; i < 6; i++)
        if ((st = incept_knobs_scale(k, name, *bank[i], bank[i])))
            return st;
    if (!k->n_split)
        return INCEPT_OK;
    /* the outputs (1x1, 3x3, 5x5, pool projection) share the module's total */
    int *const output[4] = {&w->n1x1, &w->n3x3, &w->n5x5, &w->pool_proj};
    double total = 0.0, along = count > 1 ? (double)index / (count - 1) : 0.0;
    for (int i = 0; i < 4; i++)
        total += *output[i];
    for (int i = 0; i < 4; i++) {
        double share = k->split[0][i];
        if (k->n_split == 2)
            share += (k->split[1][i] - k->split[0][i]) * along;
        if ((st = checked_width(name, round_channels(total * share, k->round_to), output[i])))
            return st;
    }
    /* each reduction keeps its ratio to its convolution as written (none stays none) */
    const int written_reduce[2] = {written.n3x3_reduce, written.n5x5_reduce};
    const int written_conv[2] = {written.n3x3, written.n5x5};
    int *const reduce[2] = {&w->n3x3_reduce, &w->n5x5_reduce};
    const int conv[2] = {w->n3x3, w->n5x5};
    for (int b = 0; b < 2; b++) {
        double ratio = written_conv[b] > 0 ? (double)written_reduce[b] / written_conv[b] : 0.0;
        if ((st = checked_width(name, round_channels(conv[b] * ratio, k->round_to), reduce[b])))
            return st;
    }
    return INCEPT_OK;
}

incept_status incept_knobs_build_module(const incept_knobs *k, incept_builder *b, const char *name,
                                        int input, const incept_inception_widths *written,
                                        int *index, int count, int *out)
{
    *out = input;
    for (int copy = 1, copies = incept_knobs_copies(k, name); copy <= copies; copy++) {
        char copy_name[600];
        if (copy == 1)
            snprintf(copy_name, sizeof copy_name, "%s", name);
        else
            snprintf(copy_name, sizeof copy_name, "%s_%d", name, copy);
        incept_inception_widths w = *written;
        incept_status st = incept_knobs_module(k, copy_name, (*index)++, count, &w);
        if (st || (st = incept_build_inception(b, copy_name, *out, &w, out)))
            return st;
    }
    return INCEPT_OK;
}

incept_status incept_knobs_build_aux(const incept_knobs *k, incept_builder *b, const char *name,
                                     int input, int classes, int *out)
{
    int conv_channels = 0, fc_features = 0;
    incept_status st;
    if ((st = incept_knobs_scale(k, name, INCEPT_AUX_CONV_CHANNELS, &conv_channels)) ||
        (st = incept_knobs_scale(k, name, INCEPT_AUX_FC_FEATURES, &fc_features)))
        return st;
    return incept_build_aux_classifier(b, name, input, conv_channels, fc_features, classes, out);
}

/* Appends printf-formatted text to b. */
static incept_status put_text(incept_bytes *b, const char *fmt, ...) INCEPT_PRINTF(2, 3);
static incept_status put_text(incept_bytes *b, const char *fmt, ...)
{
    char piece[1024];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(piece, sizeof piece, fmt, args);
    va_end(args);
    return incept_bytes_put(b, piece, n < 0 ? 0 : (size_t)n < sizeof piece ? (size_t)n : sizeof piece - 1);
}

char *incept_knobs_lines(const incept_knobs *k, int input_h, int input_w)
{
    incept_bytes b = {0};
    incept_status st = INCEPT_OK;
    if (k->width_from || k->round_from) {
        st = put_text(&b, "variant");
        if (!st && k->width_from)
            st = put_text(&b, " width %.9g", (double)k->width);
        if (!st && k->round_from)
            st = put_text(&b, " round %d", k->round_to);
        if (!st)
            st = put_text(&b, "\n");
    }
    if (!st && k->resolution_from)
        st = put_text(&b, "variant resolution %dx%d\n", input_h, input_w);
    for (int i = 0; !st && i < k->n_depth; i++)
        st = put_text(&b, "%s%s=%d%s", i ? "" : "variant depth ", k->depth[i].module,
                      k->depth[i].copies, i + 1 < k->n_depth ? "," : "\n");
    for (int s = 0; !st && s < k->n_split; s++)
        st = put_text(&b, "%s%.9g:%.9g:%.9g:%.9g%s", s ? "," : "variant split ",
                      (double)k->split[s][0], (double)k->split[s][1], (double)k->split[s][2],
                      (double)k->split[s][3], s + 1 < k->n_split ? "" : "\n");
    if (!st)
        st = incept_bytes_put(&b, "", 1); /* the terminating NUL */
    if (st) {
        free(b.data);
        return NULL;
    }
    return (char *)b.data;
}
