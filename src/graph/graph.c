/* graph.c — building a graph: values, nodes with shape inference as they are added, and
 * parameters packed in one float array (so an optimizer is one loop and saving one write),
 * allocated once at its final size when the graph is complete: no growing copies at load. */
#include "graph/graph.h"

#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "core/checked.h"
#include "core/hash.h"
#include "core/limits.h"
#include "core/status.h"
#include "ops/op.h"

void incept_graph_init(incept_graph *g)
{
    memset(g, 0, sizeof *g);
    g->input = g->output = -1;
}

void incept_graph_free(incept_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        incept_node_release(&g->nodes[i]);
    for (int i = 0; i < g->n_constants; i++)
        incept_tensor_free(&g->constants[i]);
    free(g->constants);
    free(g->value_index);
    free(g->param_index);
    free(g->inputs);
    free(g->outputs);
    free(g->source);
    free(g->why_generic);
    for (int i = 0; i < g->n_values; i++)
        free(g->values[i].name);
    for (int i = 0; i < g->n_params; i++)
        free(g->params[i].name);
    for (int i = 0; i < g->n_folds; i++) {
        free(g->folds[i].beta);
        free(g->folds[i].scale);
        free(g->folds[i].mean_scale);
    }
    free(g->folds);
    for (int i = 0; i < g->n_bn_sources; i++)
        free(g->bn_sources[i].beta), free(g->bn_sources[i].mean_scale);
    free(g->bn_sources);
    free(g->output_name);
    free(g->nodes);
    free(g->values);
    free(g->params);
    free(g->param_data);
    incept_graph_init(g);
}

incept_attrs incept_attrs_default(void)
{
    incept_attrs a;
    memset(&a, 0, sizeof a);
    a.kernel_h = a.kernel_w = 1;
    a.stride_h = a.stride_w = 1;
    a.dilation_h = a.dilation_w = 1;
    a.groups = 1;
    a.count_include_pad = 1;
    a.size = 5;
    a.alpha = 1e-4f;
    a.beta = 0.75f;
    a.bias = 1.0f;
    a.epsilon = 1e-5f;
    a.momentum = 0.1f;
    a.running_mean = a.running_var = -1;
    a.relu_max = INFINITY;
    a.clip_min = -INFINITY;
    a.clip_max = INFINITY;
    return a;
}

/* ---- names: open-addressing tables of value and parameter indices by name (loading stays
 * linear in the graph's size). An entry whose index is past the array's count (something the
 * importer rolled back) is skipped like a tombstone. ---- */

typedef const char *(*name_at)(const incept_graph *g, int i);
static const char *value_name(const incept_graph *g, int i) { return g->values[i].name; }
static const char *param_name(const incept_graph *g, int i) { return g->params[i].name; }

static int table_find(const incept_graph *g, const int *table, size_t slots, int count, name_at at,
                      const char *name)
{
    for (size_t i = slots ? incept_name_hash(name) & (slots - 1) : 0, probes = 0; probes < slots;
         i = (i + 1) & (slots - 1), probes++) {
        int v = table[i];
        if (v < 0)
            return -1;
        if (v < count && strcmp(at(g, v), name) == 0)
            return v;
    }
    return -1;
}

static void table_put(const incept_graph *g, int *table, size_t slots, int count, name_at at, int v)
{
    size_t i = incept_name_hash(at(g, v)) & (slots - 1);
    while (table[i] >= 0 && table[i] < count)
        i = (i + 1) & (slots - 1);
    table[i] = v;
}

/* Room for one more entry (tables at most half full): rebuilt twice as large. */
static incept_status table_reserve(const incept_graph *g, int **table, size_t *slots, int count, name_at at)
{
    if ((size_t)(count + 1) * 2 <= *slots)
        return INCEPT_OK;
    size_t n = *slots ? *slots * 2 : 64;
    int *grown = incept_malloc(sizeof(int) * n);
    if (!grown)
        return INCEPT_ERR_NOMEM;
    free(*table);
    *table = grown, *slots = n;
    memset(grown, 0xff, sizeof(int) * n); /* -1: empty */
    for (int v = 0; v < count; v++)
        table_put(g, grown, n, count, at, v);
    return INCEPT_OK;
}

int incept_graph_find_value(const incept_graph *g, const char *name)
{
    return table_find(g, g->value_index, g->value_slots, g->n_values, value_name, name);
}

int incept_graph_find_param(const incept_graph *g, const char *name)
{
    return table_find(g, g->param_index, g->param_slots, g->n_params, param_name, name);
}

static incept_status add_value(incept_graph *g, const char *name, int c, int h, int w, int producer,
                               int *index)
{
    if (incept_graph_find_value(g, name) >= 0)
        return incept_fail(INCEPT_ERR_FORMAT, "'%s' is defined twice", name);
    size_t per_sample = 0; /* NCHW values: their count a sample fits an int everywhere after */
    if (c > 0 && h > 0 && w > 0 &&
        (!incept_mul_size((size_t)c, (size_t)h, &per_sample) ||
         !incept_mul_size(per_sample, (size_t)w, &per_sample) || per_sample > INCEPT_MAX_SAMPLE_VALUES))
        return incept_fail(INCEPT_ERR_SHAPE, "'%s' would be %dx%dx%d, more than %d values a sample "
                           "(the limit)", name, c, h, w, INCEPT_MAX_SAMPLE_VALUES);
    if (incept_grow((void **)&g->values, &g->cap_values, g->n_values, sizeof *g->values) ||
        table_reserve(g, &g->value_index, &g->value_slots, g->n_values, value_name))
        return INCEPT_ERR_NOMEM;
    char *copy = incept_strdup(name);
    if (!copy)
        return INCEPT_ERR_NOMEM;
    incept_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = copy;
    v->c = c, v->h = h, v->w = w;
    v->producer = producer;
    v->constant = -1;
    v->param = -1;
    v->alias = -1;
    v->declared_rank = -1;
    *index = g->n_values++;
    table_put(g, g->value_index, g->value_slots, g->n_values, value_name, *index);
    return INCEPT_OK;
}

/* Appends value v to a list of graph inputs or outputs. */
static incept_status list_value(int **list, int *count, int v)
{
    int *grown = realloc(*list, sizeof(int) * (size_t)(*count + 1));
    if (!grown)
        return INCEPT_ERR_NOMEM;
    grown[(*count)++] = v;
    *list = grown;
    return INCEPT_OK;
}

incept_status incept_graph_add_generic_input(incept_graph *g, const char *name, int *index)
{
    incept_status st = add_value(g, name, 0, 0, 0, -1, index);
    if (st)
        return st;
    g->values[*index].generic = 1;
    return list_value(&g->inputs, &g->n_inputs, *index);
}

incept_status incept_graph_add_constant(incept_graph *g, const char *name, incept_tensor *t, int *index)
{
    incept_tensor *grown = realloc(g->constants, sizeof *grown * (size_t)(g->n_constants + 1));
    if (!grown) {
        incept_tensor_free(t);
        return INCEPT_ERR_NOMEM;
    }
    g->constants = grown;
    g->constants[g->n_constants] = *t;
    memset(t, 0, sizeof *t);
    incept_status st = add_value(g, name, 0, 0, 0, -1, index);
    if (st) {
        incept_tensor_free(&g->constants[g->n_constants]);
        return st;
    }
    g->values[*index].generic = 1;
    g->values[*index].constant = g->n_constants++;
    return INCEPT_OK;
}

incept_status incept_graph_add_output(incept_graph *g, int v)
{
    return list_value(&g->outputs, &g->n_outputs, v);
}

incept_status incept_graph_add_generic(incept_graph *g, const char *name, const char *onnx_op,
                                       incept_nd_fn nd, const void *onnx_node, const int *inputs,
                                       int n_inputs, const char *const *output_names, int n_outputs,
                                       int *node_index)
{
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i] < -1 || inputs[i] >= g->n_values)
            return incept_fail(INCEPT_ERR_ARG, "%s: input %d does not exist", name, i);
    if (incept_grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes, sizeof *g->nodes))
        return INCEPT_ERR_NOMEM;
    incept_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = &incept_op_generic;
    n->attrs = incept_attrs_default();
    n->weight = n->bias = -1;
    n->output = -1;
    n->nd = nd;
    n->onnx_node = onnx_node;
    n->onnx_op = onnx_op;
    n->name = incept_strdup(name);
    n->inputs = incept_malloc(sizeof(int) * (size_t)(n_inputs + 1));
    n->outputs = incept_malloc(sizeof(int) * (size_t)(n_outputs + 1));
    incept_status st = INCEPT_ERR_NOMEM;
    if (!n->name || !n->inputs || !n->outputs)
        goto fail;
    memcpy(n->inputs, inputs, sizeof(int) * (size_t)n_inputs);
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    for (int k = 0; k < n_outputs; k++) {
        n->outputs[k] = -1;
        if (output_names[k] && (st = add_value(g, output_names[k], 0, 0, 0, g->n_nodes, &n->outputs[k])))
            goto fail;
        if (output_names[k])
            g->values[n->outputs[k]].generic = 1;
    }
    n->output = n_outputs ? n->outputs[0] : -1;
    if (node_index)
        *node_index = g->n_nodes;
    g->n_nodes++;
    g->n_generic++;
    return INCEPT_OK;
fail:
    free(n->name);
    free(n->inputs);
    free(n->outputs);
    return st;
}

incept_status incept_graph_set_input(incept_graph *g, const char *name, int c, int h, int w)
{
    if (g->input >= 0)
        return incept_fail(INCEPT_ERR_FORMAT, "a second input '%s' (only one is supported)", name);
    if (c <= 0 || h <= 0 || w <= 0)
        return incept_fail(INCEPT_ERR_SHAPE, "input '%s' has dims %dx%dx%d; all must be positive",
                           name, c, h, w);
    incept_status st = add_value(g, name, c, h, w, -1, &g->input);
    return st ? st : list_value(&g->inputs, &g->n_inputs, g->input);
}


incept_status incept_graph_add_param(incept_graph *g, const char *name, int ndim, const int *dims,
                                     int *index)
{
    size_t count = 1, total, limit = incept_limit(INCEPT_LIMIT_PARAMETERS);
    if (ndim < 1 || ndim > 4)
        return incept_fail(INCEPT_ERR_SHAPE, "parameter '%s' has %d dims (1 to 4 supported)", name, ndim);
    for (int i = 0; i < ndim; i++) {
        if (dims[i] <= 0)
            return incept_fail(INCEPT_ERR_SHAPE, "parameter '%s' has a dim of %d", name, dims[i]);
        if (!incept_mul_size(count, (size_t)dims[i], &count) || count > limit)
            return incept_fail(INCEPT_ERR_SHAPE, "parameter '%s' has more than %zu values (the limit, "
                               "INCEPT_LIMIT_PARAMETERS)", name, limit);
    }
    if (!incept_add_size(g->param_floats, count, &total) || total > limit)
        return incept_fail(INCEPT_ERR_SHAPE, "parameter '%s' takes the model past %zu parameters (the "
                           "limit, INCEPT_LIMIT_PARAMETERS)", name, limit);
    if (incept_graph_find_param(g, name) >= 0)
        return incept_fail(INCEPT_ERR_FORMAT, "parameter '%s' is defined twice", name);
    if (incept_grow((void **)&g->params, &g->cap_params, g->n_params, sizeof *g->params) ||
        table_reserve(g, &g->param_index, &g->param_slots, g->n_params, param_name))
        return INCEPT_ERR_NOMEM;
    if (g->param_data)
        return incept_fail(INCEPT_ERR_ARG, "parameter '%s' added after the parameters were allocated",
                           name);
    char *copy = incept_strdup(name);
    if (!copy)
        return INCEPT_ERR_NOMEM;
    incept_param *p = &g->params[g->n_params];
    memset(p, 0, sizeof *p);
    p->name = copy;
    p->ndim = ndim;
    memcpy(p->dims, dims, sizeof(int) * ndim);
    p->offset = g->param_floats;
    p->count = count;
    g->param_floats += count;
    *index = g->n_params++;
    table_put(g, g->param_index, g->param_slots, g->n_params, param_name, *index);
    return INCEPT_OK;
}

incept_status incept_graph_allocate_params(incept_graph *g)
{
    if (g->param_data)
        return INCEPT_OK;
    g->param_data = incept_alloc_floats(g->param_floats);
    if (!g->param_data)
        return INCEPT_ERR_NOMEM;
    memset(g->param_data, 0, g->param_floats * sizeof(float));
    return INCEPT_OK;
}

float *incept_graph_param_data(const incept_graph *g, int index)
{
    return g->param_data + g->params[index].offset;
}

incept_status incept_graph_add_node(incept_graph *g, const char *op_name, const char *name,
                                    const int *inputs, int n_inputs, const incept_attrs *attrs,
                                    int weight, int bias, const char *output_name, int *node_index)
{
    const incept_op *op = incept_op_find(op_name);
    if (!op)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: unknown op '%s'", name, op_name);
    if (n_inputs < op->min_inputs || (op->max_inputs && n_inputs > op->max_inputs))
        return incept_fail(INCEPT_ERR_FORMAT, "%s: %s takes %d to %d inputs, got %d", name, op_name,
                           op->min_inputs, op->max_inputs ? op->max_inputs : 1 << 20, n_inputs);
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i] < 0 || inputs[i] >= g->n_values)
            return incept_fail(INCEPT_ERR_ARG, "%s: input %d does not exist", name, i);
    if (incept_grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes, sizeof *g->nodes))
        return INCEPT_ERR_NOMEM;
    incept_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->attrs = *attrs;
    n->weight = weight;
    n->bias = bias;
    n->output = -1;
    n->name = incept_strdup(name);
    n->inputs = incept_malloc(sizeof(int) * (size_t)n_inputs);
    incept_status st = INCEPT_ERR_NOMEM;
    if (!n->name || !n->inputs)
        goto fail;
    memcpy(n->inputs, inputs, sizeof(int) * (size_t)n_inputs);
    n->n_inputs = n_inputs;
    int c = 0, h = 0, w = 0;
    st = op->infer(g, n, &c, &h, &w);
    if (st) {
        incept_fail_prefix(st, "%s (%s): ", name, op_name);
        goto fail;
    }
    st = add_value(g, output_name ? output_name : name, c, h, w, g->n_nodes, &n->output);
    if (st)
        goto fail;
    if (node_index)
        *node_index = g->n_nodes;
    g->n_nodes++;
    return INCEPT_OK;
fail:
    free(n->name);
    free(n->inputs);
    return st;
}

void incept_node_release(incept_node *n)
{
    free(n->name), free(n->inputs), free(n->outputs), free(n->group);
}

void incept_graph_remove_nodes(incept_graph *g, const unsigned char *removed)
{
    int kept = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        incept_node *n = &g->nodes[i];
        for (int k = 0; k < incept_node_output_count(n); k++) {
            int v = incept_node_output_at(n, k);
            if (v >= 0)
                g->values[v].producer = removed[i] ? -1 : kept;
        }
        if (removed[i]) {
            g->n_generic -= n->nd != NULL;
            incept_node_release(n);
            continue;
        }
        g->nodes[kept++] = *n;
    }
    g->n_nodes = kept;
}

int incept_graph_prune_generic(incept_graph *g)
{
    int removed = 0;
    for (int changed = 1; changed;) { /* a node may be unread only once a later one is gone */
        changed = 0;
        unsigned char *read = incept_calloc((size_t)g->n_values + 1, 1);
        unsigned char *unread = incept_calloc((size_t)g->n_nodes + 1, 1);
        if (!read || !unread) { /* nothing pruned: the graph stays as it was, and correct */
            free(read), free(unread);
            return removed;
        }
        for (int i = 0; i < g->n_nodes; i++)
            for (int k = 0; k < g->nodes[i].n_inputs; k++)
                if (g->nodes[i].inputs[k] >= 0)
                    read[g->nodes[i].inputs[k]] = 1;
        for (int i = 0; i < g->n_outputs; i++)
            read[g->outputs[i]] = 1;
        for (int i = 0; i < g->n_nodes; i++) {
            const incept_node *n = &g->nodes[i];
            int used = !n->nd;
            for (int k = 0; k < n->n_outputs && !used; k++)
                used = n->outputs[k] >= 0 && read[n->outputs[k]];
            unread[i] = !used;
            removed += !used, changed |= !used;
        }
        if (changed)
            incept_graph_remove_nodes(g, unread);
        free(read);
        free(unread);
    }
    return removed;
}
