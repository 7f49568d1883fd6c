/* dot.c — the network as a Graphviz drawing, Inception modules as the paper's Figure 3 draws
 * them: each module a box, its branches side by side (1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | pool ->
 * 1x1) and the concatenation below; auxiliary classifiers dashed. `dot -Tsvg` renders it. */
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "ops/op.h"

static void node_label(const incept_graph *g, const incept_node *n, char *buf, size_t size)
{
    if (n->nd)
        snprintf(buf, size, "%.100s\\n(N-d)", n->onnx_op);
    else if (n->op->describe)
        n->op->describe(g, n, 1, buf, size);
    else
        snprintf(buf, size, "%s", n->op->name);
}

incept_status incept_model_dot(const incept_model *m, FILE *f)
{
    if (!m || !f)
        return incept_fail(INCEPT_ERR_ARG, "dot needs a model and a stream");
    const incept_graph *g = &m->graph;
    char label[256];
    fprintf(f, "digraph incept {\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", "
               "fillcolor=\"#eef3fb\", fontname=\"Helvetica\", fontsize=10];\n"
               "  edge [color=\"#555555\"];\n");
    for (int i = 0; i < g->n_inputs; i++) {
        const incept_value *v = &g->values[g->inputs[i]];
        if (g->inputs[i] == g->input)
            fprintf(f, "  v%d [label=\"input\\n%dx%dx%d\", shape=ellipse, fillcolor=\"#ffffff\"];\n",
                    g->inputs[i], v->c, v->h, v->w);
        else
            fprintf(f, "  v%d [label=\"%.100s\", shape=ellipse, fillcolor=\"#ffffff\"];\n", g->inputs[i],
                    v->name);
    }
    const char *open_group = NULL;
    int first_layer[8], n_first = 0; /* a module's branch heads: drawn side by side */
    for (int i = 0; i <= g->n_nodes; i++) {
        const incept_node *n = i < g->n_nodes ? &g->nodes[i] : NULL;
        if (open_group && (!n || !n->group || strcmp(n->group, open_group) != 0)) {
            if (n_first > 1) {
                fprintf(f, "    { rank=same; ");
                for (int k = 0; k < n_first; k++)
                    fprintf(f, "v%d; ", first_layer[k]);
                fprintf(f, "}\n");
            }
            fprintf(f, "  }\n");
            open_group = NULL;
            n_first = 0;
        }
        if (!n)
            break;
        if (n->group && !open_group) {
            fprintf(f, "  subgraph \"cluster_%s\" {\n    label=\"%s\"; fontname=\"Helvetica\"; "
                       "style=%s; color=\"#8899bb\";\n", n->group, n->group,
                    n->aux ? "dashed" : "rounded");
            open_group = n->group;
        }
        incept_role r = n->role;
        if (open_group && n_first < 8 && (r == INCEPT_ROLE_1X1 || r == INCEPT_ROLE_3X3_REDUCE ||
                                          r == INCEPT_ROLE_5X5_REDUCE || r == INCEPT_ROLE_POOL))
            first_layer[n_first++] = n->output;
        node_label(g, n, label, sizeof label);
        const char *color = n->op->drawing_color ? n->op->drawing_color : "#f2f2f2";
        fprintf(f, "%s  v%d [label=\"%s\", fillcolor=\"%s\"%s];\n", open_group ? "  " : "", n->output,
                label, color, n->aux ? ", style=\"rounded,filled,dashed\"" : "");
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++) {
            int from = g->nodes[i].inputs[k];
            if (from < 0 || (g->values[from].producer < 0 && g->values[from].constant >= 0))
                continue; /* omitted, or a constant (not drawn) */
            fprintf(f, "  v%d -> v%d%s;\n", from, g->nodes[i].output,
                    g->nodes[i].aux ? " [style=dashed]" : "");
        }
    fprintf(f, "}\n");
    return ferror(f) ? incept_fail(INCEPT_ERR_IO, "writing the drawing failed") : INCEPT_OK;
}
