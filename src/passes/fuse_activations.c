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


incept_status incept_pass_fuse_activations(incept_graph *g)
{
    int *readers = incept_calloc((size_t)g->n_values + 1, sizeof(int));
    unsigned char *removed = incept_calloc((size_t)g->n_nodes + 1, 1);
    if (!readers || !removed) {
        free(readers), free(removed);
        return INCEPT_ERR_NOMEM;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] >= 0)
                readers[g->nodes[i].inputs[k]]++;
    incept_status st = INCEPT_OK;
    int fused = 0;
    for (int r = 0; r < g->n_nodes && !st; r++) {
        const incept_node *act = &g->nodes[r];
        float hi;
        if (!activation_bound(act, &hi))
            continue;
        int u = incept_pass_resolve(g, act->inputs[0]), p = g->values[u].producer, out = act->output;
        if (p < 0 || g->nodes[p].nd || !g->nodes[p].op->fuses_activation || g->nodes[p].attrs.relu ||
            g->nodes[p].aux != act->aux || readers[u] != 1 || incept_pass_is_graph_value(g, u))
            continue;
        int secondary = 0; /* a graph output but the main one keeps its own name: leave it */
        for (int i = 1; i < g->n_outputs; i++)
            secondary |= g->outputs[i] == out;
        if (secondary)
            continue;
        if ((st = incept_pass_forward_value(g, out, u))) /* the activation's name names the node's value */
            break;
        g->nodes[p].attrs.relu = 1;
        g->nodes[p].attrs.relu_max = hi;
        readers[u] = readers[out];
        removed[r] = 1;
        fused++;
    }
    if (!st && fused)
        incept_pass_drop_nodes(g, removed);
    free(readers);
    free(removed);
    return st;
}
