/* summary.c — the model as the paper's Table 1: one row per layer or Inception module (type,
 * patch size/stride, output size, depth, the module's branch widths, params, multiply-adds),
 * then totals, with training-only auxiliary heads counted apart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "ops/op.h"

typedef struct {
    char name[128];
    char type[32];
    char patch[32];
    char output[48];
    int depth;
    int widths[6]; /* #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj (-1 = blank) */
    long long params, macs;
} row;

/* The parameters a node reads that no node before it counted (counted: per parameter, a tied
 * weight is counted once): its weight and bias, and a generic node's trained initializers. */
static long long node_params(const incept_graph *g, const incept_node *n, unsigned char *counted)
{
    long long count = 0;
    int own[2] = {n->weight, n->bias};
    for (int k = 0; k < 2; k++)
        if (own[k] >= 0 && !counted[own[k]]) {
            counted[own[k]] = 1;
            count += (long long)g->params[own[k]].count;
        }
    for (int k = 0; n->nd && k < n->n_inputs; k++) {
        int p = n->inputs[k] >= 0 ? g->values[n->inputs[k]].param : -1;
        if (p >= 0 && !counted[p]) {
            counted[p] = 1;
            count += (long long)g->params[p].count;
        }
    }
    return count;
}

static long long node_macs(const incept_graph *g, const incept_node *n)
{
    return n->op->multiply_adds ? n->op->multiply_adds(g, n) : 0;
}

static void thousands(char *buf, size_t size, long long v)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", v), out = 0;
    for (int i = 0; i < len && out + 2 < (int)size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
}

static void short_count(char *buf, size_t size, long long v, int in_millions)
{
    if (v == 0)
        snprintf(buf, size, "%s", "");
    else if (in_millions)
        snprintf(buf, size, v >= 1000000 ? "%.0fM" : "%.1fM", (double)v / 1e6);
    else if (v < 1000)
        snprintf(buf, size, "%lld", v);
    else
        snprintf(buf, size, v < 10000 ? "%.1fK" : "%.0fK", (double)v / 1e3);
}

static void layer_row(const incept_graph *g, const incept_node *n, unsigned char *counted, row *r)
{
    const incept_value *out = &g->values[n->output];
    memset(r, 0, sizeof *r);
    for (int i = 0; i < 6; i++)
        r->widths[i] = -1;
    snprintf(r->name, sizeof r->name, "%s", n->name);
    if (n->nd) /* generic: its ONNX op, its shape known only when a run computes it */
        snprintf(r->type, sizeof r->type, "%.24s (N-d)", n->onnx_op);
    else if (n->op->describe)
        n->op->describe(g, n, 0, r->type, sizeof r->type);
    else
        snprintf(r->type, sizeof r->type, "%s", n->op->label ? n->op->label : n->op->name);
    const char *op = n->op->name;
    if (!strcmp(op, "conv") || !strcmp(op, "maxpool") || !strcmp(op, "avgpool"))
        snprintf(r->patch, sizeof r->patch, "%dx%d/%d", n->attrs.kernel_h, n->attrs.kernel_w,
                 n->attrs.stride_h);
    if (out->generic && !out->c)
        snprintf(r->output, sizeof r->output, "?");
    else if (out->h == 1 && out->w == 1)
        snprintf(r->output, sizeof r->output, "1x1x%d", out->c);
    else
        snprintf(r->output, sizeof r->output, "%dx%dx%d", out->h, out->w, out->c);
    r->depth = (!strcmp(op, "conv") || !strcmp(op, "fc")) ? 1 : 0;
    r->params = node_params(g, n, counted);
    r->macs = node_macs(g, n);
}

static void print_header(FILE *f)
{
    fprintf(f, "%-22s %-16s %-9s %-13s %5s %5s %6s %5s %6s %5s %5s %8s %6s\n", "name", "type",
            "patch", "output size", "depth", "#1x1", "#3x3r", "#3x3", "#5x5r", "#5x5", "pool", "params",
            "ops");
    fprintf(f, "%-22s %-16s %-9s %-13s %5s %5s %6s %5s %6s %5s %5s %8s %6s\n", "", "", "/stride", "",
            "", "", "reduce", "", "reduce", "", "proj", "", "");
}

static void print_row(FILE *f, const row *r)
{
    char widths[6][16], params[32], macs[32], depth[8];
    for (int i = 0; i < 6; i++) {
        widths[i][0] = '\0';
        if (r->widths[i] >= 0)
            snprintf(widths[i], sizeof widths[i], "%d", r->widths[i]);
    }
    short_count(params, sizeof params, r->params, 0);
    short_count(macs, sizeof macs, r->macs, 1);
    snprintf(depth, sizeof depth, "%d", r->depth);
    fprintf(f, "%-22s %-16s %-9s %-13s %5s %5s %6s %5s %6s %5s %5s %8s %6s\n", r->name, r->type,
            r->patch, r->output, depth, widths[0], widths[1], widths[2], widths[3], widths[4],
            widths[5], params, macs);
}

/* Marks the nodes the value `target` depends on. */
static void mark_ancestors(const incept_graph *g, int target, char *needed)
{
    char *value_needed = calloc((size_t)g->n_values, 1);
    if (!value_needed) { /* degrade to "everything" rather than fail a report */
        memset(needed, 1, (size_t)g->n_nodes);
        return;
    }
    value_needed[target] = 1;
    for (int i = 0; i < g->n_outputs; i++)
        value_needed[g->outputs[i]] = 1;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const incept_node *n = &g->nodes[i];
        int wanted = 0;
        for (int k = 0; k < incept_node_output_count(n) && !wanted; k++) {
            int v = incept_node_output_at(n, k);
            wanted = v >= 0 && value_needed[v];
        }
        if (!wanted)
            continue;
        needed[i] = 1;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                value_needed[n->inputs[k]] = 1;
    }
    free(value_needed);
}

/* Collects consecutive nodes of one Inception module (same group, not aux) into a row. */
static int module_row(const incept_graph *g, const char *needed, unsigned char *counted, int start,
                      row *r)
{
    const char *group = g->nodes[start].group;
    int i = start, concat = -1;
    row layer;
    memset(r, 0, sizeof *r);
    for (int k = 0; k < 6; k++)
        r->widths[k] = 0;
    r->depth = 2;
    snprintf(r->name, sizeof r->name, "%s", group);
    snprintf(r->type, sizeof r->type, "inception");
    for (; i < g->n_nodes && g->nodes[i].group && strcmp(g->nodes[i].group, group) == 0; i++) {
        const incept_node *n = &g->nodes[i];
        if (!needed[i])
            continue;
        layer_row(g, n, counted, &layer);
        r->params += layer.params;
        r->macs += layer.macs;
        int width = n->attrs.out_channels;
        switch (n->role) {
        case INCEPT_ROLE_1X1: r->widths[0] = width; break;
        case INCEPT_ROLE_3X3_REDUCE: r->widths[1] = width; break;
        case INCEPT_ROLE_3X3: r->widths[2] = width; break;
        case INCEPT_ROLE_5X5_REDUCE: r->widths[3] = width; break;
        case INCEPT_ROLE_5X5: r->widths[4] = width; break;
        case INCEPT_ROLE_POOL_PROJ: r->widths[5] = width; break;
        case INCEPT_ROLE_CONCAT: concat = i; break;
        default: break;
        }
    }
    if (concat >= 0) {
        layer_row(g, &g->nodes[concat], counted, &layer);
        snprintf(r->output, sizeof r->output, "%s", layer.output);
    }
    return i;
}

incept_status incept_model_summary(const incept_model *m, FILE *f, incept_totals *totals)
{
    if (!m)
        return incept_fail(INCEPT_ERR_ARG, "summary needs a model");
    const incept_graph *g = &m->graph;
    char *needed = incept_calloc((size_t)g->n_nodes + 1, 1);
    unsigned char *counted = incept_calloc((size_t)g->n_params + 1, 1);
    if (!needed || !counted) {
        free(needed);
        free(counted);
        return INCEPT_ERR_NOMEM;
    }
    mark_ancestors(g, g->output, needed);
    incept_totals t = {0, 0, 0, 0};
    const incept_value none = {0}, *in = g->input >= 0 ? &g->values[g->input] : &none;
    if (f) {
        for (int i = 0; i < g->n_inputs; i++) {
            const incept_value *v = &g->values[g->inputs[i]];
            if (g->inputs[i] == g->input)
                fprintf(f, "input: %s %dx%dx%d\n", v->name, v->h, v->w, v->c);
            else
                fprintf(f, "input: %s (N-d, type %d, rank %d)\n", v->name, v->declared_dtype,
                        v->declared_rank);
        }
        fprintf(f, "\n");
        print_header(f);
    }
    row r;
    for (int i = 0; i < g->n_nodes;) {
        const incept_node *n = &g->nodes[i];
        if (!needed[i]) {
            i++;
            continue;
        }
        if (n->group && !n->aux) {
            i = module_row(g, needed, counted, i, &r);
        } else {
            layer_row(g, n, counted, &r);
            i++;
        }
        t.params += r.params;
        t.multiply_adds += r.macs;
        if (f)
            print_row(f, &r);
    }
    char buf[64], buf2[64];
    if (f) {
        thousands(buf, sizeof buf, t.params);
        thousands(buf2, sizeof buf2, t.multiply_adds);
        fprintf(f, "\ntotal: %s parameters, %s multiply-adds per %dx%dx%d input\n", buf, buf2,
                in->h, in->w, in->c);
    }
    /* training-only heads: each named group of aux nodes not needed by the output */
    for (int i = 0; i < g->n_nodes; i++) {
        const incept_node *n = &g->nodes[i];
        if (needed[i] || !n->aux || !n->group)
            continue;
        int seen_before = 0;
        for (int k = 0; k < i && !seen_before; k++)
            seen_before = g->nodes[k].aux && g->nodes[k].group && !needed[k] &&
                          strcmp(g->nodes[k].group, n->group) == 0;
        if (seen_before)
            continue;
        long long params = 0, macs = 0;
        for (int k = i; k < g->n_nodes; k++)
            if (g->nodes[k].aux && g->nodes[k].group && !needed[k] &&
                strcmp(g->nodes[k].group, n->group) == 0) {
                params += node_params(g, &g->nodes[k], counted);
                macs += node_macs(g, &g->nodes[k]);
            }
        t.aux_params += params;
        t.aux_multiply_adds += macs;
        if (f) {
            thousands(buf, sizeof buf, params);
            thousands(buf2, sizeof buf2, macs);
            fprintf(f, "auxiliary classifier %s (training only, on %s): %s parameters, %s "
                       "multiply-adds\n", n->group, g->values[n->inputs[0]].name, buf, buf2);
        }
    }
    free(needed);
    free(counted);
    if (totals)
        *totals = t;
    return INCEPT_OK;
}
