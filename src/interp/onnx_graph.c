/* onnx_graph.c — an ONNX graph evaluated as the file writes it (interp_graph_* in interp.h; the
 * public face is a model whose sessions run it, graph/session.c):
 * loading resolves every node's op and value names once and notes where each value is read
 * last; a run walks the nodes in file order, hands each op its input arrays, and frees every
 * value after its last reader, so peak memory is the live values, not the whole graph. */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "interp/interp.h"
#include "io/onnx_file.h"

typedef struct {
    const char *name;
    interp_op run;
} op_entry;

static const op_entry ops[] = {
    {"Add", interp_add}, {"Sub", interp_sub}, {"Mul", interp_mul}, {"Div", interp_div},
    {"Sum", interp_sum}, {"Relu", interp_relu}, {"Identity", interp_identity},
    {"Dropout", interp_dropout}, {"Reshape", interp_reshape}, {"Flatten", interp_flatten},
    {"Squeeze", interp_squeeze}, {"Unsqueeze", interp_unsqueeze}, {"Concat", interp_concat},
    {"Gather", interp_gather}, {"Shape", interp_shape}, {"Constant", interp_constant},
    {"Pad", interp_pad}, {"Gemm", interp_gemm}, {"MatMul", interp_matmul}, {"Conv", interp_conv},
    {"MaxPool", interp_maxpool}, {"AveragePool", interp_averagepool},
    {"GlobalAveragePool", interp_globalaveragepool}, {"GlobalMaxPool", interp_globalmaxpool},
    {"LRN", interp_lrn}, {"BatchNormalization", interp_batchnorm}, {"Softmax", interp_softmax},
};

interp_op interp_find_op(const char *op_type)
{
    for (size_t i = 0; op_type && i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].name, op_type) == 0)
            return ops[i].run;
    return NULL;
}

typedef struct {
    const Onnx__NodeProto *proto;
    interp_op run;
    int *inputs, *outputs; /* value indices, -1 for an omitted optional one */
} node_plan;

typedef struct {
    const char *name;
    int last_reader; /* node index; n_nodes for graph outputs (never freed) */
    int constant;    /* index into constants, or -1 */
} value_info;

struct interp_graph {
    char *path;
    onnx_file file;
    int opset;
    value_info *values;
    int n_values, cap_values;
    incept_tensor *constants;
    int n_constants;
    node_plan *nodes;
    int n_nodes;
    int *inputs, n_inputs;   /* value indices of the graph's inputs */
    int *outputs, n_outputs; /* and outputs */
    const Onnx__ValueInfoProto **input_info;
    const Onnx__ValueInfoProto **output_info;
};

static int find_value(const interp_graph *g, const char *name)
{
    for (int v = 0; v < g->n_values; v++)
        if (strcmp(g->values[v].name, name) == 0)
            return v;
    return -1;
}

static incept_status add_value(interp_graph *g, const char *name, int constant, int *index)
{
    if (!name || !*name)
        return incept_fail(INCEPT_ERR_FORMAT, "%s: a value without a name", g->path);
    if (find_value(g, name) >= 0)
        return incept_fail(INCEPT_ERR_FORMAT, "%s: value '%s' is defined twice", g->path, name);
    incept_status st = incept_grow((void **)&g->values, &g->cap_values, g->n_values, sizeof *g->values);
    if (st)
        return st;
    g->values[g->n_values] = (value_info){.name = name, .last_reader = -1, .constant = constant};
    *index = g->n_values++;
    return INCEPT_OK;
}

static const char *node_name(const Onnx__NodeProto *n)
{
    return n->name && *n->name ? n->name : "?";
}

static incept_status plan_node(interp_graph *g, int k)
{
    const Onnx__NodeProto *n = g->file.graph->node[k];
    node_plan *plan = &g->nodes[k];
    plan->proto = n;
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx") != 0)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: node '%s' (%s): the op domain '%s'", g->path,
                           node_name(n), n->op_type ? n->op_type : "?", n->domain);
    if (!(plan->run = interp_find_op(n->op_type)))
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: node '%s': op %s is not supported by the ONNX "
                           "graph evaluator", g->path, node_name(n), n->op_type ? n->op_type : "?");
    plan->inputs = incept_calloc(n->n_input + 1, sizeof(int));
    plan->outputs = incept_calloc(n->n_output + 1, sizeof(int));
    if (!plan->inputs || !plan->outputs)
        return INCEPT_ERR_NOMEM;
    for (size_t i = 0; i < n->n_input; i++) {
        plan->inputs[i] = -1;
        if (!n->input[i] || !*n->input[i])
            continue; /* an omitted optional input */
        int v = find_value(g, n->input[i]);
        if (v < 0)
            return incept_fail(INCEPT_ERR_FORMAT, "%s: node '%s' (%s) reads '%s', which no earlier node, "
                               "input or initializer defines", g->path, node_name(n), n->op_type,
                               n->input[i]);
        plan->inputs[i] = v;
        g->values[v].last_reader = k;
    }
    for (size_t i = 0; i < n->n_output; i++) {
        plan->outputs[i] = -1;
        incept_status st;
        if (n->output[i] && *n->output[i] && (st = add_value(g, n->output[i], -1, &plan->outputs[i])))
            return st;
    }
    return INCEPT_OK;
}

static incept_status plan_graph(interp_graph *g)
{
    const Onnx__GraphProto *graph = g->file.graph;
    incept_status st;
    g->opset = incept_onnx_file_opset(&g->file);
    if (g->opset < 1)
        return incept_fail(INCEPT_ERR_FORMAT, "%s: no default-domain opset_import", g->path);
    if (!(g->constants = incept_calloc(g->file.n_initializers + 1, sizeof *g->constants)))
        return INCEPT_ERR_NOMEM;
    g->n_constants = (int)g->file.n_initializers;
    for (int i = 0; i < g->n_constants; i++) {
        const onnx_initializer *init = &g->file.initializers[i];
        int v;
        if ((st = interp_array_from_tensor(g->path, init->tensor, init->payload, init->payload_len,
                                           &g->constants[i])) ||
            (st = add_value(g, init->tensor->name, i, &v)))
            return st;
        incept_onnx_file_release(&g->file, init);
    }
    g->inputs = incept_calloc(graph->n_input + 1, sizeof(int));
    g->input_info = incept_calloc(graph->n_input + 1, sizeof *g->input_info);
    g->outputs = incept_calloc(graph->n_output + 1, sizeof(int));
    g->output_info = incept_calloc(graph->n_output + 1, sizeof *g->output_info);
    g->nodes = incept_calloc(graph->n_node + 1, sizeof *g->nodes);
    if (!g->inputs || !g->input_info || !g->outputs || !g->output_info || !g->nodes)
        return INCEPT_ERR_NOMEM;
    for (size_t i = 0; i < graph->n_input; i++) {
        const Onnx__ValueInfoProto *info = graph->input[i];
        if (info->name && find_value(g, info->name) >= 0)
            continue; /* an initializer listed as an input: a default the caller cannot override here */
        if ((st = add_value(g, info->name, -1, &g->inputs[g->n_inputs])))
            return st;
        g->input_info[g->n_inputs++] = info;
    }
    g->n_nodes = (int)graph->n_node;
    for (int k = 0; k < g->n_nodes; k++)
        if ((st = plan_node(g, k)))
            return st;
    if (graph->n_output < 1)
        return incept_fail(INCEPT_ERR_FORMAT, "%s: the graph has no output", g->path);
    for (size_t i = 0; i < graph->n_output; i++) {
        int v = graph->output[i]->name ? find_value(g, graph->output[i]->name) : -1;
        if (v < 0)
            return incept_fail(INCEPT_ERR_FORMAT, "%s: output '%s' is computed by no node", g->path,
                               graph->output[i]->name ? graph->output[i]->name : "?");
        g->output_info[g->n_outputs] = graph->output[i];
        g->outputs[g->n_outputs++] = v;
        g->values[v].last_reader = g->n_nodes;
    }
    return INCEPT_OK;
}

incept_status interp_graph_load(const char *path, interp_graph **out)
{
    if (!path || !out)
        return incept_fail(INCEPT_ERR_ARG, "graph load needs a path and an output handle");
    *out = NULL;
    interp_graph *g = incept_calloc(1, sizeof *g);
    if (!g)
        return INCEPT_ERR_NOMEM;
    if (!(g->path = incept_strdup(path))) {
        free(g);
        return INCEPT_ERR_NOMEM;
    }
    incept_status st = incept_onnx_file_open(path, &g->file);
    if (st) {
        free(g->path);
        free(g);
        return st;
    }
    if ((st = plan_graph(g))) {
        interp_graph_free(g);
        return st;
    }
    *out = g;
    return INCEPT_OK;
}

void interp_graph_free(interp_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_constants; i++)
        incept_tensor_free(&g->constants[i]);
    for (int k = 0; g->nodes && k < g->n_nodes; k++)
        free(g->nodes[k].inputs), free(g->nodes[k].outputs);
    free(g->constants);
    free(g->nodes);
    free(g->values);
    free(g->inputs);
    free(g->input_info);
    free(g->output_info);
    free(g->outputs);
    incept_onnx_file_close(&g->file);
    free(g->path);
    free(g);
}

int interp_graph_inputs(const interp_graph *g) { return g ? g->n_inputs : 0; }
int interp_graph_outputs(const interp_graph *g) { return g ? g->n_outputs : 0; }

const char *interp_graph_input_name(const interp_graph *g, int i)
{
    return g && i >= 0 && i < g->n_inputs ? g->values[g->inputs[i]].name : NULL;
}

const char *interp_graph_output_name(const interp_graph *g, int i)
{
    return g && i >= 0 && i < g->n_outputs ? g->values[g->outputs[i]].name : NULL;
}

int interp_graph_value_shape(const interp_graph *g, int input, int i, incept_dtype *dtype,
                             long long dims[INCEPT_MAX_RANK])
{
    if (!g || i < 0 || i >= (input ? g->n_inputs : g->n_outputs))
        return -1;
    const Onnx__TypeProto *type = (input ? g->input_info : g->output_info)[i]->type;
    if (!type || type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return -1;
    const Onnx__TypeProto__Tensor *tensor = type->tensor_type;
    if (dtype) /* int32 is held as int64 */
        *dtype = tensor->elem_type == 6 ? INCEPT_INT64 : (incept_dtype)tensor->elem_type;
    if (!tensor->shape || tensor->shape->n_dim > INCEPT_MAX_RANK)
        return -1;
    const Onnx__TensorShapeProto *shape = tensor->shape;
    for (size_t d = 0; d < shape->n_dim; d++)
        dims[d] = shape->dim[d]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                      ? (long long)shape->dim[d]->dim_value : -1;
    return (int)shape->n_dim;
}

int interp_graph_nodes(const interp_graph *g) { return g ? g->n_nodes : 0; }

const char *interp_graph_node_name(const interp_graph *g, int k)
{
    const Onnx__NodeProto *n = g->nodes[k].proto;
    return n->name && *n->name ? n->name : n->n_output ? n->output[0] : "";
}

const char *interp_graph_node_op(const interp_graph *g, int k) { return g->nodes[k].proto->op_type; }

/* The caller's array i against the graph's declaration of it (type and fixed sizes). */
static incept_status check_input(const interp_graph *g, int i, const incept_tensor *a)
{
    const Onnx__ValueInfoProto *info = g->input_info[i];
    const char *name = g->values[g->inputs[i]].name;
    if (!a->data && incept_tensor_count(a) > 0)
        return incept_fail(INCEPT_ERR_ARG, "%s: input '%s' has no data", g->path, name);
    if (a->rank < 0 || a->rank > INCEPT_MAX_RANK ||
        (a->dtype != INCEPT_FLOAT32 && a->dtype != INCEPT_UINT8 && a->dtype != INCEPT_INT64 &&
         a->dtype != INCEPT_BOOL))
        return incept_fail(INCEPT_ERR_ARG, "%s: input '%s' has rank %d and type %d", g->path, name,
                           a->rank, a->dtype);
    const Onnx__TypeProto *type = info->type;
    if (!type || type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: input '%s' is not a tensor (sequences, maps and "
                           "optionals are not supported)", g->path, name);
    const Onnx__TypeProto__Tensor *tensor = type->tensor_type;
    int declared = tensor->elem_type == 6 ? INCEPT_INT64 : tensor->elem_type; /* int32 is held as int64 */
    if (tensor->has_elem_type && declared != (int)a->dtype)
        return incept_fail(INCEPT_ERR_ARG, "%s: input '%s' is declared of ONNX type %d, given %d",
                           g->path, name, tensor->elem_type, a->dtype);
    if (!tensor->shape)
        return INCEPT_OK;
    if ((int)tensor->shape->n_dim != a->rank)
        return incept_fail(INCEPT_ERR_SHAPE, "%s: input '%s' is declared of rank %zu, given rank %d",
                           g->path, name, tensor->shape->n_dim, a->rank);
    for (int d = 0; d < a->rank; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tensor->shape->dim[d];
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
            dim->dim_value != a->dims[d])
            return incept_fail(INCEPT_ERR_SHAPE, "%s: input '%s' has %lld along axis %d where the graph "
                               "declares %lld", g->path, name, a->dims[d], d, (long long)dim->dim_value);
    }
    return INCEPT_OK;
}

/* Evaluates the nodes; values[] holds each value's array, owned[] whether the run allocated it. */
static incept_status evaluate(const interp_graph *g, int threads, incept_rng *rng,
                              incept_tensor *values, unsigned char *owned)
{
    interp_context ctx = {.path = g->path, .opset = g->opset, .threads = threads, .rng = rng};
    const incept_tensor *in_arrays[64];
    incept_tensor results[8];
    for (int k = 0; k < g->n_nodes; k++) {
        const node_plan *plan = &g->nodes[k];
        const Onnx__NodeProto *n = plan->proto;
        ctx.node = n;
        if (n->n_input > 64 || n->n_output > 8)
            return interp_fail(&ctx, INCEPT_ERR_UNSUPPORTED, "%zu inputs and %zu outputs (at most 64 and 8)",
                               n->n_input, n->n_output);
        in_arrays[0] = NULL;
        for (size_t i = 0; i < n->n_input; i++)
            in_arrays[i] = plan->inputs[i] >= 0 ? &values[plan->inputs[i]] : NULL;
        memset(results, 0, sizeof results);
        incept_status st = plan->run(&ctx, in_arrays, (int)n->n_input, results, (int)n->n_output);
        for (size_t j = 0; !st && j < n->n_output; j++)
            if (plan->outputs[j] >= 0 && !results[j].data)
                st = interp_fail(&ctx, INCEPT_ERR_UNSUPPORTED, "output %zu ('%s') is not produced", j,
                                 n->output[j]);
        for (size_t j = 0; j < n->n_output; j++) {
            if (st || plan->outputs[j] < 0 || g->values[plan->outputs[j]].last_reader < 0) {
                incept_tensor_free(&results[j]);
                continue;
            }
            values[plan->outputs[j]] = results[j];
            owned[plan->outputs[j]] = 1;
        }
        if (st)
            return st;
        for (size_t i = 0; i < n->n_input; i++) { /* values read for the last time */
            int v = plan->inputs[i];
            if (v >= 0 && owned[v] && g->values[v].last_reader == k) {
                incept_tensor_free(&values[v]);
                owned[v] = 0;
            }
        }
    }
    return INCEPT_OK;
}

incept_status interp_graph_run(const interp_graph *g, int threads, incept_rng *rng,
                               const incept_tensor *inputs, incept_tensor *outputs)
{
    if (!g || (!inputs && g->n_inputs) || !outputs)
        return incept_fail(INCEPT_ERR_ARG, "graph run needs a graph, its inputs and room for its "
                           "outputs");
    incept_status st;
    for (int i = 0; i < g->n_inputs; i++)
        if ((st = check_input(g, i, &inputs[i])))
            return st;
    incept_tensor *values = incept_calloc((size_t)g->n_values + 1, sizeof *values);
    unsigned char *owned = incept_calloc((size_t)g->n_values + 1, 1);
    if (!values || !owned) {
        free(values), free(owned);
        return INCEPT_ERR_NOMEM;
    }
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].constant >= 0)
            values[v] = g->constants[g->values[v].constant]; /* borrowed */
    for (int i = 0; i < g->n_inputs; i++)
        values[g->inputs[i]] = inputs[i]; /* borrowed */
    memset(outputs, 0, sizeof *outputs * (size_t)g->n_outputs);
    interp_context ctx = {.path = g->path};
    st = evaluate(g, threads, rng, values, owned);
    for (int i = 0; !st && i < g->n_outputs; i++) {
        int v = g->outputs[i];
        if (owned[v]) { /* handed over */
            outputs[i] = values[v];
            owned[v] = 0;
        } else
            st = interp_array_copy(&ctx, &outputs[i], &values[v]); /* an input, constant or repeat */
    }
    for (int v = 0; v < g->n_values; v++)
        if (owned[v])
            incept_tensor_free(&values[v]);
    if (st)
        for (int i = 0; i < g->n_outputs; i++)
            incept_tensor_free(&outputs[i]);
    free(values);
    free(owned);
    return st;
}
