/* passes.h — rewrites of a complete graph, run once it is built (incept_model_wrap), whatever it
 * was lowered from (a description, a C builder, ONNX). Each pass is one file. Internal. */
#ifndef INCEPT_PASSES_H
#define INCEPT_PASSES_H

#include "core/status.h"
#include "graph/graph.h"

/* What the passes share: the value a name stands for after earlier rewrites (through aliases),
 * and whether a value is one the graph's user sees (an input or output: never rewritten away). */
static inline int incept_pass_resolve(const incept_graph *g, int v)
{
    while (v >= 0 && g->values[v].alias >= 0)
        v = g->values[v].alias;
    return v;
}

static inline int incept_pass_is_graph_value(const incept_graph *g, int v)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return 1;
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] == v)
            return 1;
    return v == g->input || v == g->output;
}

/* A node the pass removes leaves its output's name to value u: an alias of u (the name a user
 * asks for stays valid), computed by nothing, u standing for it among the graph's outputs (the
 * main output keeping its name), and its range (a quantized model's) u's, which now holds its
 * values. Fails only for want of memory, before changing anything. */
static inline incept_status incept_pass_forward_value(incept_graph *g, int out, int u)
{
    if (g->output == out && !g->output_name && !(g->output_name = incept_strdup(g->values[out].name)))
        return INCEPT_ERR_NOMEM;
    if (g->output == out)
        g->output = u;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == out)
            g->outputs[i] = u;
    g->values[out].alias = u;
    g->values[out].producer = -1;
    const incept_value *from = &g->values[out];
    incept_value *to = &g->values[u];
    if (from->has_range) { /* u holds what out held now (a quantized model's range of it) */
        to->range_lo = to->has_range && to->range_lo < from->range_lo ? to->range_lo : from->range_lo;
        to->range_hi = to->has_range && to->range_hi > from->range_hi ? to->range_hi : from->range_hi;
        to->has_range = 1;
    }
    return INCEPT_OK;
}

/* The nodes a pass removed dropped, every input read through the aliases first. */
static inline void incept_pass_drop_nodes(incept_graph *g, const unsigned char *removed)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            g->nodes[i].inputs[k] = incept_pass_resolve(g, g->nodes[i].inputs[k]);
    incept_graph_remove_nodes(g, removed);
}

/* ReLU and ReLU6 into the node before: a relu node, or a clip whose lower bound is 0, whose
 * input comes from an op that applies activations itself (conv, fc: fuses_activation) and is
 * read by nothing else becomes that node's fused activation; the activation's output name
 * stays an alias of the node's (fuse_activations.c). */
incept_status incept_pass_fuse_activations(incept_graph *g);

/* Inference batch norms (the affine nodes the ONNX importer lists in g->bn_sources) into the
 * convolution before them, where nothing else reads its output or shares its parameters; each
 * fold recorded in g->folds for export (fold_batchnorm.c). Runs before the activation fusion. */
incept_status incept_pass_fold_batchnorm(incept_graph *g);

#endif
