/* onnx_write.c — a model built from a description written as a new ONNX file (opset 11): the
 * inference graph (auxiliary heads left out) with one ONNX node per op, fused ReLUs as Relu
 * nodes, parameters as initializers under their names, and a dynamic batch axis. Every piece is
 * allocated from one list and freed together once the message is packed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "io/io.h"
#include "onnx.pb-c.h"
#include "ops/op.h"

#define OPSET 11
#define ONNX_FLOAT 1
#define ONNX_INT64 7

typedef struct {
    void **blocks;
    int count, capacity;
    int failed;
} pool;

static void *take(pool *p, size_t size)
{
    if (p->failed || incept_grow((void **)&p->blocks, &p->capacity, p->count, sizeof(void *))) {
        p->failed = 1;
        return NULL;
    }
    void *block = incept_calloc(1, size ? size : 1);
    if (!block) {
        p->failed = 1;
        return NULL;
    }
    p->blocks[p->count++] = block;
    return block;
}

static char *text(pool *p, const char *s)
{
    char *copy = take(p, strlen(s) + 1);
    if (copy)
        strcpy(copy, s);
    return copy;
}

typedef struct {
    pool *mem;
    Onnx__NodeProto **nodes;
    int n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    int n_inits, cap_inits;
    int counter;
} writer;

/* An attribute of the given name and type, its value still to set; NULL when out of memory. */
static Onnx__AttributeProto *attr_new(writer *w, const char *name, Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = take(w->mem, sizeof *a);
    if (!a)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = text(w->mem, name);
    a->has_type = 1, a->type = type;
    return a;
}

static Onnx__AttributeProto *attr_ints(writer *w, const char *name, const int64_t *v, int n)
{
    Onnx__AttributeProto *a = attr_new(w, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *ints = take(w->mem, sizeof(int64_t) * (size_t)n);
    if (!a || !ints)
        return NULL;
    memcpy(ints, v, sizeof(int64_t) * (size_t)n);
    a->ints = ints, a->n_ints = (size_t)n;
    return a;
}

static Onnx__AttributeProto *attr_int(writer *w, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr_new(w, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a)
        a->has_i = 1, a->i = v;
    return a;
}

static Onnx__AttributeProto *attr_float(writer *w, const char *name, float v)
{
    Onnx__AttributeProto *a = attr_new(w, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a)
        a->has_f = 1, a->f = v;
    return a;
}

/* Adds a node; inputs and attributes are NULL-terminated lists. */
static int add_node(writer *w, const char *op, const char *name, const char *const *inputs,
                    const char *output, Onnx__AttributeProto *const *attrs)
{
    Onnx__NodeProto *n = take(w->mem, sizeof *n);
    int n_in = 0, n_attr = 0;
    while (inputs[n_in])
        n_in++;
    while (attrs && attrs[n_attr])
        n_attr++;
    char **ins = take(w->mem, sizeof(char *) * (size_t)(n_in + 1));
    char **outs = take(w->mem, sizeof(char *));
    Onnx__AttributeProto **as = take(w->mem, sizeof(*as) * (size_t)(n_attr + 1));
    if (!n || !ins || !outs || !as || incept_grow((void **)&w->nodes, &w->cap_nodes, w->n_nodes,
                                                  sizeof *w->nodes))
        return 0;
    onnx__node_proto__init(n);
    for (int i = 0; i < n_in; i++)
        ins[i] = text(w->mem, inputs[i]);
    for (int i = 0; i < n_attr; i++)
        as[i] = attrs[i];
    outs[0] = text(w->mem, output);
    n->op_type = text(w->mem, op);
    n->name = text(w->mem, name);
    n->input = ins, n->n_input = (size_t)n_in;
    n->output = outs, n->n_output = 1;
    n->attribute = as, n->n_attribute = (size_t)n_attr;
    w->nodes[w->n_nodes++] = n;
    return !w->mem->failed;
}

static int add_initializer(writer *w, const char *name, int data_type, const int64_t *dims, int ndim,
                           const void *data, size_t bytes)
{
    Onnx__TensorProto *t = take(w->mem, sizeof *t);
    int64_t *d = take(w->mem, sizeof(int64_t) * (size_t)(ndim ? ndim : 1));
    uint8_t *raw = take(w->mem, bytes);
    if (!t || !d || !raw ||
        incept_grow((void **)&w->inits, &w->cap_inits, w->n_inits, sizeof *w->inits))
        return 0;
    onnx__tensor_proto__init(t);
    memcpy(d, dims, sizeof(int64_t) * (size_t)ndim);
    memcpy(raw, data, bytes); /* little-endian host, as ONNX stores raw_data */
    t->name = text(w->mem, name);
    t->dims = d, t->n_dims = (size_t)ndim;
    t->has_data_type = 1, t->data_type = data_type;
    t->has_raw_data = 1, t->raw_data.data = raw, t->raw_data.len = bytes;
    w->inits[w->n_inits++] = t;
    return !w->mem->failed;
}

static int add_param(writer *w, const incept_graph *g, int index)
{
    const incept_param *p = &g->params[index];
    int64_t dims[4];
    for (int d = 0; d < p->ndim; d++)
        dims[d] = p->dims[d];
    return add_initializer(w, p->name, ONNX_FLOAT, dims, p->ndim, g->param_data + p->offset,
                           p->count * sizeof(float));
}

static Onnx__ValueInfoProto *value_info(writer *w, const char *name, const int64_t *dims, int rank)
{
    Onnx__ValueInfoProto *v = take(w->mem, sizeof *v);
    Onnx__TypeProto *type = take(w->mem, sizeof *type);
    Onnx__TypeProto__Tensor *tensor = take(w->mem, sizeof *tensor);
    Onnx__TensorShapeProto *shape = take(w->mem, sizeof *shape);
    Onnx__TensorShapeProto__Dimension **dim = take(w->mem, sizeof(*dim) * (size_t)rank);
    if (!v || !type || !tensor || !shape || !dim)
        return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(type);
    onnx__type_proto__tensor__init(tensor);
    onnx__tensor_shape_proto__init(shape);
    for (int i = 0; i < rank; i++) {
        dim[i] = take(w->mem, sizeof **dim);
        if (!dim[i])
            return NULL;
        onnx__tensor_shape_proto__dimension__init(dim[i]);
        if (i == 0) {
            dim[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim[i]->dim_param = text(w->mem, "N");
        } else {
            dim[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim[i]->dim_value = dims[i];
        }
    }
    shape->dim = dim, shape->n_dim = (size_t)rank;
    tensor->has_elem_type = 1, tensor->elem_type = ONNX_FLOAT;
    tensor->shape = shape;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tensor;
    v->name = text(w->mem, name);
    v->type = type;
    return w->mem->failed ? NULL : v;
}

/* One of our nodes as ONNX nodes; `rank` tracks which values ONNX sees as 2-D. */
static incept_status write_node(writer *w, const incept_graph *g, const incept_node *n, int *rank,
                                const char *path)
{
    const incept_attrs *a = &n->attrs;
    const char *op = n->op->name, *out = g->values[n->output].name;
    const char *in = g->values[n->inputs[0]].name;
    char pre[1100], extra[1100];
    const int64_t kernel[2] = {a->kernel_h, a->kernel_w}, strides[2] = {a->stride_h, a->stride_w};
    const int64_t pads[4] = {a->pad_top, a->pad_left, a->pad_bottom, a->pad_right};
    const int64_t dilations[2] = {a->dilation_h, a->dilation_w};
    int ok = 1;
    rank[n->output] = 4;
    /* fused ReLU: the op writes NAME/pre_relu, a Relu node writes NAME */
    snprintf(pre, sizeof pre, "%s/pre_relu", out);
    const char *target = a->relu ? pre : out;
    if (!strcmp(op, "conv")) {
        const char *ins[] = {in, g->params[n->weight].name, n->bias >= 0 ? g->params[n->bias].name : NULL,
                             NULL};
        Onnx__AttributeProto *attrs[] = {attr_ints(w, "kernel_shape", kernel, 2),
                                         attr_ints(w, "strides", strides, 2),
                                         attr_ints(w, "pads", pads, 4),
                                         attr_ints(w, "dilations", dilations, 2),
                                         attr_int(w, "group", a->groups), NULL};
        ok = add_param(w, g, n->weight) && (n->bias < 0 || add_param(w, g, n->bias)) &&
             add_node(w, "Conv", n->name, ins, target, attrs);
    } else if (!strcmp(op, "fc")) {
        if (rank[n->inputs[0]] != 2) { /* Gemm wants 2-D: flatten first */
            snprintf(extra, sizeof extra, "%s/flat", out);
            const char *fin[] = {in, NULL};
            Onnx__AttributeProto *fa[] = {attr_int(w, "axis", 1), NULL};
            ok = add_node(w, "Flatten", extra, fin, extra, fa);
            in = extra;
        }
        const char *ins[] = {in, g->params[n->weight].name, n->bias >= 0 ? g->params[n->bias].name : NULL,
                             NULL};
        Onnx__AttributeProto *attrs[] = {attr_int(w, "transB", 1), NULL};
        ok = ok && add_param(w, g, n->weight) && (n->bias < 0 || add_param(w, g, n->bias)) &&
             add_node(w, "Gemm", n->name, ins, target, attrs);
        rank[n->output] = 2;
    } else if (!strcmp(op, "maxpool") || !strcmp(op, "avgpool")) {
        const char *ins[] = {in, NULL};
        Onnx__AttributeProto *attrs[] = {attr_ints(w, "kernel_shape", kernel, 2),
                                         attr_ints(w, "strides", strides, 2),
                                         attr_ints(w, "pads", pads, 4),
                                         attr_int(w, "ceil_mode", a->ceil_mode),
                                         op[0] == 'a' ? attr_int(w, "count_include_pad",
                                                                 a->count_include_pad) : NULL,
                                         NULL};
        ok = add_node(w, op[0] == 'm' ? "MaxPool" : "AveragePool", n->name, ins, out, attrs);
    } else if (!strcmp(op, "lrn")) {
        const char *ins[] = {in, NULL};
        Onnx__AttributeProto *attrs[] = {attr_int(w, "size", a->size), attr_float(w, "alpha", a->alpha),
                                         attr_float(w, "beta", a->beta),
                                         attr_float(w, "bias", a->bias), NULL};
        ok = add_node(w, "LRN", n->name, ins, out, attrs);
    } else if (!strcmp(op, "concat")) {
        const char **ins = take(w->mem, sizeof(char *) * (size_t)(n->n_inputs + 1));
        if (!ins)
            return INCEPT_ERR_NOMEM;
        for (int i = 0; i < n->n_inputs; i++)
            ins[i] = g->values[n->inputs[i]].name;
        Onnx__AttributeProto *attrs[] = {attr_int(w, "axis", 1), NULL};
        ok = add_node(w, "Concat", n->name, ins, out, attrs);
    } else if (!strcmp(op, "relu") || !strcmp(op, "globalavgpool") || !strcmp(op, "flatten") ||
               !strcmp(op, "dropout")) {
        const char *ins[] = {in, NULL};
        const char *type = !strcmp(op, "relu") ? "Relu" : !strcmp(op, "globalavgpool")
                           ? "GlobalAveragePool" : !strcmp(op, "flatten") ? "Flatten" : "Dropout";
        Onnx__AttributeProto *attrs[] = {!strcmp(op, "flatten") ? attr_int(w, "axis", 1)
                                         : !strcmp(op, "dropout") ? attr_float(w, "ratio", a->ratio)
                                                                  : NULL, NULL};
        ok = add_node(w, type, n->name, ins, out, attrs);
        rank[n->output] = !strcmp(op, "flatten") ? 2 : rank[n->inputs[0]];
    } else if (!strcmp(op, "softmax")) {
        /* opset 11 flattens at `axis`: one axis only when every axis after it has size 1 */
        const incept_value *v = &g->values[n->inputs[0]];
        int axis = a->softmax_over_chw || a->softmax_axis <= 1 ? 1 : a->softmax_axis;
        int after = axis == 1 ? v->h * v->w : axis == 2 ? v->w : 1;
        if (!a->softmax_over_chw && after > 1)
            return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: node '%s': a softmax over one axis with "
                               "larger axes after it has no opset %d form", path, n->name, OPSET);
        const char *ins[] = {in, NULL};
        Onnx__AttributeProto *attrs[] = {attr_int(w, "axis", axis), NULL};
        ok = add_node(w, "Softmax", n->name, ins, out, attrs);
        rank[n->output] = rank[n->inputs[0]];
    } else if (!strcmp(op, "batchnorm")) { /* inference form: the running statistics */
        const char *ins[] = {in, g->params[n->weight].name, g->params[n->bias].name,
                             g->params[a->running_mean].name, g->params[a->running_var].name, NULL};
        Onnx__AttributeProto *attrs[] = {attr_float(w, "epsilon", a->epsilon),
                                         attr_float(w, "momentum", 1.0f - a->momentum), NULL};
        ok = add_param(w, g, n->weight) && add_param(w, g, n->bias) &&
             add_param(w, g, a->running_mean) && add_param(w, g, a->running_var) &&
             add_node(w, "BatchNormalization", n->name, ins, target, attrs);
        rank[n->output] = rank[n->inputs[0]];
    } else if (!strcmp(op, "pad")) {
        const int64_t amounts[8] = {0, 0, a->pad_top, a->pad_left, 0, 0, a->pad_bottom, a->pad_right};
        const int64_t eight = 8, none = 0;
        char pads_name[1100], value_name[1100];
        snprintf(pads_name, sizeof pads_name, "%s/pads", n->name);
        snprintf(value_name, sizeof value_name, "%s/value", n->name);
        const char *ins[] = {in, pads_name, value_name, NULL};
        ok = add_initializer(w, pads_name, ONNX_INT64, &eight, 1, amounts, sizeof amounts) &&
             add_initializer(w, value_name, ONNX_FLOAT, &none, 0, &a->value, sizeof a->value) &&
             add_node(w, "Pad", n->name, ins, out, NULL);
    } else if (!strcmp(op, "clip")) { /* opset 11: the bounds are scalar inputs */
        const int64_t none = 0;
        char lo_name[1100], hi_name[1100];
        snprintf(lo_name, sizeof lo_name, "%s/min", n->name);
        snprintf(hi_name, sizeof hi_name, "%s/max", n->name);
        const char *ins[] = {in, lo_name, hi_name, NULL};
        ok = add_initializer(w, lo_name, ONNX_FLOAT, &none, 0, &a->clip_min, sizeof a->clip_min) &&
             add_initializer(w, hi_name, ONNX_FLOAT, &none, 0, &a->clip_max, sizeof a->clip_max) &&
             add_node(w, "Clip", n->name, ins, out, NULL);
        rank[n->output] = rank[n->inputs[0]];
    } else if (!strcmp(op, "reshape")) { /* Reshape to [0, C, H, W] cut to its rank */
        const int64_t target[4] = {0, a->shape[1], a->shape[2], a->shape[3]}, count = a->shape[0];
        char shape_name[1100];
        snprintf(shape_name, sizeof shape_name, "%s/shape", n->name);
        const char *ins[] = {in, shape_name, NULL};
        ok = add_initializer(w, shape_name, ONNX_INT64, &count, 1, target,
                             sizeof(int64_t) * (size_t)count) &&
             add_node(w, "Reshape", n->name, ins, out, NULL);
        rank[n->output] = (int)count;
    } else {
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: node '%s': op '%s' has no ONNX export",
                           path, n->name, op);
    }
    if (ok && a->relu && (!strcmp(op, "conv") || !strcmp(op, "fc") || !strcmp(op, "batchnorm"))) {
        const char *ins[] = {pre, NULL};
        snprintf(extra, sizeof extra, "%s/relu", n->name);
        ok = add_node(w, "Relu", extra, ins, out, NULL);
    }
    return ok ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

incept_status incept_onnx_write_graph(const incept_model *m, const char *path)
{
    const incept_graph *g = &m->graph;
    pool mem = {0};
    writer w = {&mem, NULL, 0, 0, NULL, 0, 0, 0};
    incept_status st = INCEPT_OK;
    char *needed = incept_calloc((size_t)g->n_nodes + 1, 1);
    char *value_needed = incept_calloc((size_t)g->n_values + 1, 1);
    int *rank = incept_calloc((size_t)g->n_values + 1, sizeof(int));
    uint8_t *bytes = NULL;
    if (!needed || !value_needed || !rank) {
        st = INCEPT_ERR_NOMEM;
        goto done;
    }
    value_needed[g->output] = 1; /* the inference graph: what the main output depends on */
    for (int i = g->n_nodes - 1; i >= 0; i--)
        if (value_needed[g->nodes[i].output]) {
            needed[i] = 1;
            for (int k = 0; k < g->nodes[i].n_inputs; k++)
                value_needed[g->nodes[i].inputs[k]] = 1;
        }
    rank[g->input] = 4;
    for (int i = 0; i < g->n_nodes && !st; i++)
        if (needed[i])
            st = write_node(&w, g, &g->nodes[i], rank, path);
    if (st)
        goto done;
    const incept_value *in = &g->values[g->input], *out = &g->values[g->output];
    const int64_t in_dims[4] = {0, in->c, in->h, in->w};
    const int64_t out_dims[4] = {0, out->c, out->h, out->w};
    Onnx__ValueInfoProto *input = value_info(&w, in->name, in_dims, 4);
    Onnx__ValueInfoProto *output = value_info(&w, out->name, out_dims, rank[g->output] == 2 ? 2 : 4);
    Onnx__GraphProto *graph = take(&mem, sizeof *graph);
    Onnx__ModelProto *model = take(&mem, sizeof *model);
    Onnx__OperatorSetIdProto *opset = take(&mem, sizeof *opset);
    Onnx__OperatorSetIdProto **opsets = take(&mem, sizeof *opsets);
    Onnx__ValueInfoProto **inputs = take(&mem, sizeof *inputs), **outputs = take(&mem, sizeof *outputs);
    if (!input || !output || !graph || !model || !opset || !opsets || !inputs || !outputs) {
        st = INCEPT_ERR_NOMEM;
        goto done;
    }
    onnx__graph_proto__init(graph);
    onnx__model_proto__init(model);
    onnx__operator_set_id_proto__init(opset);
    opset->domain = text(&mem, "");
    opset->has_version = 1, opset->version = OPSET;
    opsets[0] = opset;
    inputs[0] = input, outputs[0] = output;
    graph->name = text(&mem, "incept");
    graph->node = w.nodes, graph->n_node = (size_t)w.n_nodes;
    graph->initializer = w.inits, graph->n_initializer = (size_t)w.n_inits;
    graph->input = inputs, graph->n_input = 1;
    graph->output = outputs, graph->n_output = 1;
    model->has_ir_version = 1, model->ir_version = 6;
    model->producer_name = text(&mem, "incept");
    model->producer_version = text(&mem, INCEPT_VERSION);
    model->opset_import = opsets, model->n_opset_import = 1;
    model->graph = graph;
    if (mem.failed) {
        st = INCEPT_ERR_NOMEM;
        goto done;
    }
    size_t length = onnx__model_proto__get_packed_size(model);
    if (!(bytes = incept_malloc(length ? length : 1))) {
        st = INCEPT_ERR_NOMEM;
        goto done;
    }
    onnx__model_proto__pack(model, bytes);
    st = incept_write_atomically(path, bytes, length);
done:
    free(bytes);
    free(needed);
    free(value_needed);
    free(rank);
    free(w.nodes);
    free(w.inits);
    for (int i = 0; i < mem.count; i++)
        free(mem.blocks[i]);
    free(mem.blocks);
    return st;
}
