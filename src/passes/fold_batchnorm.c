/* fold_batchnorm.c — an inference BatchNormalization (imported as a per-channel affine node,
 * y = x * s + t with s = gamma / sqrt(var + eps), t = beta - mean * s) folds into the
 * convolution before it: the conv's weight rows times s, its bias b * s + t. One node and one
 * pass over memory fewer per norm (torchvision's GoogLeNet has 57). It folds where the conv's
 * output feeds the norm alone and the conv's weight and bias are read by nothing else (tied
 * weights stay as they are); a second norm after the first folds too. Each fold is recorded
 * (incept_bn_fold) so that export can write the file's conv weights and the norm's B back such
 * that the file computes what the model does. The importer says which affine nodes came from a
 * norm (incept_graph.bn_sources); descriptions' batch norms train and are never folded. */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ops/op.h"
#include "passes/passes.h"



/* Folds source `b` into its conv when it can; 1 if it did (the affine node then goes). */
static int fold_one(incept_graph *g, const incept_bn_source *b, const int *readers, const int *users,
                    incept_status *st)
{
    int node = b->value >= 0 ? g->values[b->value].producer : -1;
    if (node < 0 || g->nodes[node].op != &incept_op_affine || g->nodes[node].weight < 0 ||
        g->nodes[node].bias < 0)
        return 0;
    const incept_node *affine = &g->nodes[node];
    int u = incept_pass_resolve(g, affine->inputs[0]), p = u >= 0 ? g->values[u].producer : -1;
    if (p < 0 || readers[u] != 1 || incept_pass_is_graph_value(g, u))
        return 0;
    incept_node *conv = &g->nodes[p];
    const int c = conv->attrs.out_channels;
    if (conv->nd || conv->op != &incept_op_conv || conv->attrs.relu || conv->aux != affine->aux ||
        conv->weight < 0 || users[conv->weight] != 1 || (conv->bias >= 0 && users[conv->bias] != 1) ||
        g->params[affine->weight].count != (size_t)c || g->params[affine->bias].count != (size_t)c)
        return 0;
    const float *scale = incept_graph_param_data(g, affine->weight);
    float *shift = incept_graph_param_data(g, affine->bias); /* becomes the conv's bias */
    float *w = incept_graph_param_data(g, conv->weight);
    const float *old = conv->bias >= 0 ? incept_graph_param_data(g, conv->bias) : NULL;
    /* export writes the norm's B back: only for a plain B initializer read by this norm alone,
     * and only for the first norm folded into the conv (a second's has no place in the file) */
    int first = 1;
    for (int i = 0; i < g->n_folds; i++)
        first &= g->folds[i].weight != conv->weight;
    incept_bn_fold f = {conv->weight, affine->bias, conv->bias, NULL, NULL, NULL};
    f.scale = incept_malloc(sizeof(float) * (size_t)c);
    f.mean_scale = incept_malloc(sizeof(float) * (size_t)c);
    incept_bn_fold *grown = realloc(g->folds, sizeof *grown * (size_t)(g->n_folds + 1));
    if (!f.scale || !f.mean_scale || !grown || (first && b->beta && !(f.beta = incept_strdup(b->beta)))) {
        free(f.scale), free(f.mean_scale), free(f.beta);
        if (grown)
            g->folds = grown;
        *st = INCEPT_ERR_NOMEM;
        return 0;
    }
    g->folds = grown;
    memcpy(f.scale, scale, sizeof(float) * (size_t)c);
    memcpy(f.mean_scale, b->mean_scale, sizeof(float) * (size_t)c);
    g->folds[g->n_folds++] = f;
    const size_t per_row = g->params[conv->weight].count / (size_t)c;
    for (int k = 0; k < c; k++) {
        for (size_t j = 0; j < per_row; j++)
            w[(size_t)k * per_row + j] *= scale[k];
        if (old)
            shift[k] += old[k] * scale[k];
    }
    conv->bias = affine->bias;
    g->params[affine->bias].frozen = 0; /* the folded bias trains, as the conv's own would */
    return 1;
}

incept_status incept_pass_fold_batchnorm(incept_graph *g)
{
    if (!g->n_bn_sources)
        return INCEPT_OK;
    int *readers = incept_calloc((size_t)g->n_values + 1, sizeof(int));
    int *users = incept_calloc((size_t)g->n_params + 1, sizeof(int));
    unsigned char *removed = incept_calloc((size_t)g->n_nodes + 1, 1);
    incept_status st = readers && users && removed ? INCEPT_OK : INCEPT_ERR_NOMEM;
    for (int i = 0; !st && i < g->n_nodes; i++) {
        const incept_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (v < 0)
                continue;
            readers[incept_pass_resolve(g, v)]++;
            if (g->values[v].param >= 0) /* a generic node reading it as an initializer */
                users[g->values[v].param]++;
        }
        if (n->weight >= 0)
            users[n->weight]++;
        if (n->bias >= 0)
            users[n->bias]++;
    }
    int folded = 0;
    for (int i = 0; !st && i < g->n_bn_sources; i++) { /* in graph order: a second norm after a first */
        const incept_bn_source *b = &g->bn_sources[i];
        if (!fold_one(g, b, readers, users, &st))
            continue;
        const int node = g->values[b->value].producer;
        const incept_node *affine = &g->nodes[node];
        int out = affine->output, u = incept_pass_resolve(g, affine->inputs[0]);
        users[affine->weight]--;
        /* the norm's output is the conv's now: its name an alias, its readers the conv's */
        if ((st = incept_pass_forward_value(g, out, u)))
            break;
        readers[u] = readers[out];
        removed[node] = 1;
        folded++;
    }
    if (!st && folded)
        incept_pass_drop_nodes(g, removed);
    for (int i = 0; i < g->n_bn_sources; i++)
        free(g->bn_sources[i].beta), free(g->bn_sources[i].mean_scale);
    free(g->bn_sources);
    g->bn_sources = NULL;
    g->n_bn_sources = 0;
    free(readers), free(users), free(removed);
    return st;
}
