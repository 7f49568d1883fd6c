/* variants.c — `incept variants MODEL`: what a description's variants cost. One line per
 * combination of the --width and --resolution lists (the other knobs the same on every line):
 * the knobs, the parameters and multiply-adds of inference, and their ratio to the model as the
 * file describes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "incept.h"
#include "options.h"

#define MAX_LIST 64

/* The comma-separated items of `text` (NULL: one item, NULL) into items[] (pointing into buf). */
static int split_list(const char *text, const char *flag, char *buf, size_t size,
                      const char **items, int *n)
{
    *n = 0;
    if (!text) {
        items[(*n)++] = NULL;
        return 0;
    }
    if (snprintf(buf, size, "%s", text) >= (int)size) {
        fprintf(stderr, "incept: %s: the list is too long\n", flag);
        return EXIT_USAGE;
    }
    for (char *item = buf;;) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = '\0';
        if (*n == MAX_LIST) {
            fprintf(stderr, "incept: %s: at most %d values\n", flag, MAX_LIST);
            return EXIT_USAGE;
        }
        items[(*n)++] = item;
        if (!comma)
            break;
        item = comma + 1;
    }
    return 0;
}

static void print_header(const options *o)
{
    printf("%-6s %5s %-11s %12s %15s %8s %8s%s%s\n", "width", "round", "input", "parameters",
           "multiply-adds", "x params", "x madds", o->depth ? "  depth" : "", o->split ? "  split" : "");
}

/* One variant's line; 0, or 1 after a message naming its knobs when it does not build. */
static int print_variant(const options *o, const incept_variant *v, const char *width,
                         const incept_totals *base)
{
    incept_model *m;
    incept_totals t;
    char input[32];
    if (incept_model_load_description_variant(o->model, v, &m)) {
        fflush(stdout); /* the lines before it first */
        char resolution[64] = "";
        if (v->input_h)
            snprintf(resolution, sizeof resolution, ", resolution %dx%d", v->input_h, v->input_w);
        fprintf(stderr, "incept: %s, width %s%s: %s\n", o->model, width ? width : "as written",
                resolution, incept_last_error());
        return 1;
    }
    int c, h, w, rc = 0;
    incept_model_input_dims(m, &c, &h, &w);
    snprintf(input, sizeof input, "%dx%d", h, w);
    char round_to[16] = "-";
    if (o->round_to)
        snprintf(round_to, sizeof round_to, "%d", o->round_to);
    if (incept_model_summary(m, NULL, &t))
        rc = cli_fail("summary");
    else
        printf("%-6s %5s %-11s %12lld %15lld %8.3f %8.3f%s%s%s%s\n", width ? width : "-", round_to,
               input, t.params, t.multiply_adds, (double)t.params / (double)base->params,
               (double)t.multiply_adds / (double)base->multiply_adds, o->depth ? "  " : "",
               o->depth ? o->depth : "", o->split ? "  " : "", o->split ? o->split : "");
    incept_model_free(m);
    return rc;
}

int cmd_variants(const options *o)
{
    if (!o->model) {
        fprintf(stderr, "incept: variants needs a MODEL (a network description)\n");
        return EXIT_USAGE;
    }
    if (cli_is_onnx(o->model)) {
        fprintf(stderr, "incept: %s: variants are made of network descriptions, not of ONNX files\n",
                o->model);
        return EXIT_USAGE;
    }
    char width_buf[4096], resolution_buf[4096];
    const char *widths[MAX_LIST], *resolutions[MAX_LIST];
    int n_widths, n_resolutions, rc;
    if ((rc = split_list(o->width, "--width", width_buf, sizeof width_buf, widths, &n_widths)) ||
        (rc = split_list(o->resolution, "--resolution", resolution_buf, sizeof resolution_buf,
                         resolutions, &n_resolutions)))
        return rc;
    incept_variant v = {0.0f, o->round_to, 0, 0, o->depth, o->split};
    /* every value checked before the first line */
    for (int i = 0; i < n_widths; i++)
        if (widths[i] && !cli_parse_width(widths[i], &v.width))
            return EXIT_USAGE;
    for (int i = 0; i < n_resolutions; i++)
        if (resolutions[i] && !cli_parse_resolution(resolutions[i], &v.input_h, &v.input_w))
            return EXIT_USAGE;
    incept_model *base;
    incept_totals base_totals;
    if (incept_model_load_description(o->model, &base))
        return cli_fail("loading the model");
    int c, h, w;
    incept_model_input_dims(base, &c, &h, &w);
    rc = incept_model_summary(base, NULL, &base_totals) ? cli_fail("summary") : 0;
    incept_model_free(base);
    if (rc)
        return rc;
    printf("%s as written: %lld parameters, %lld multiply-adds per %dx%dx%d input (inference; "
           "auxiliary heads apart)\n", o->model, base_totals.params, base_totals.multiply_adds, c, h, w);
    print_header(o);
    for (int i = 0; i < n_widths; i++)
        for (int r = 0; r < n_resolutions; r++) {
            v.width = 0.0f;
            v.input_h = v.input_w = 0;
            if (widths[i])
                cli_parse_width(widths[i], &v.width);
            if (resolutions[r])
                cli_parse_resolution(resolutions[r], &v.input_h, &v.input_w);
            rc |= print_variant(o, &v, widths[i], &base_totals);
        }
    return rc;
}
