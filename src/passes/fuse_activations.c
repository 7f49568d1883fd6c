/* fuse_activations.c — a ReLU (or a Clip(0, hi): ReLU6) after a conv or fc moves into that node's
 * output pass: one pass over memory instead of two, and one activation fewer in the arena. The
 * importer and the description lower each ONNX node or layer as it is; this pass fuses, so ONNX
 * graphs, descriptions with separate relu lines and C builders all get it. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ops/op.h"
#include "passes/passes.h"

/* How many nodes read value v (an input listed twice counts twice), and whether it is a graph
 * output or input. */
static int readers_of(const incept_graph *g, int v)
{
    int count = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            count += g->nodes[i].inputs[k] == v;
    return count;
}

static int is_graph_value(const incept_graph *g, int v)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return 1;
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] == v)
            return 1;
    return v == g->input || v == g->output;
}

/* The upper bound node n clamps at when it is a ReLU or a ReLU6-like clip (inf: none); 0 when it
 * is neither. */
static int activation_bound(const incept_node *n, float *hi)
{
    if (n->nd)
        return 0;
    if (n->op == &incept_op_relu) {
        *hi = INFINITY;
        return 1;
    }
    if (n->op == &incept_op_clip && n->attrs.clip_min == 0.0f && n->attrs.clip_max > 0.0f) {
        *hi = n->attrs.clip_max >= FLT_MAX ? INFINITY : n->attrs.clip_max;
        return 1;
    }
    return 0;
}

/* Removes node r, whose output value now stands for value `into`. */
static void remove_node(incept_graph *g, int r, int into)
{
    int out = g->nodes[r].output;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] == out)
                g->nodes[i].inputs[k] = into;
    g->values[out].alias = into;
    g->values[out].producer = -1;
    incept_node *n = &g->nodes[r];
    free(n->name), free(n->inputs), free(n->outputs), free(n->group);
    memmove(&g->nodes[r], &g->nodes[r + 1], sizeof *g->nodes * (size_t)(g->n_nodes - r - 1));
    g->n_nodes--;
    for (int i = r; i < g->n_nodes; i++) { /* every later node moved down one place */
        incept_node *m = &g->nodes[i];
        for (int k = 0; k < (m->nd ? m->n_outputs : 1); k++) {
            int v = m->nd ? m->outputs[k] : m->output;
            if (v >= 0)
                g->values[v].producer = i;
        }
    }
}

incept_status incept_pass_fuse_activations(incept_graph *g)
{
    for (int r = 0; r < g->n_nodes; r++) {
        const incept_node *act = &g->nodes[r];
        float hi;
        if (!activation_bound(act, &hi))
            continue;
        int u = act->inputs[0], p = g->values[u].producer;
        if (p < 0 || g->nodes[p].nd || !g->nodes[p].op->fuses_activation || g->nodes[p].attrs.relu ||
            g->nodes[p].aux != act->aux || readers_of(g, u) != 1 || is_graph_value(g, u))
            continue;
        int out = act->output;
        int secondary = 0; /* a graph output but the main one keeps its own name: leave it */
        for (int i = 1; i < g->n_outputs; i++)
            secondary |= g->outputs[i] == out;
        if (secondary)
            continue;
        if (g->output == out && !g->output_name && !(g->output_name = incept_strdup(g->values[out].name)))
            return INCEPT_ERR_NOMEM; /* the model's output keeps the name it had */
        g->nodes[p].attrs.relu = 1;
        g->nodes[p].attrs.relu_max = hi;
        if (g->output == out)
            g->output = u;
        for (int i = 0; i < g->n_outputs; i++)
            if (g->outputs[i] == out)
                g->outputs[i] = u;
        remove_node(g, r, u);
        r--; /* the next node is now at r */
    }
    return INCEPT_OK;
}
