/* onnx_write.c — a model written as a new ONNX file (opset 11): the inference graph (auxiliary
 * heads left out), each node as its op's to_onnx hook writes it (the op files, through
 * io/onnx_writer.h), fused ReLUs as Relu nodes after them, parameters as initializers under their
 * names, and a dynamic batch axis. Every piece is allocated from one list and freed together once
 * the message is packed. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "io/io.h"
#include "io/onnx_writer.h"
#include "kernels/qgemm.h"
#include "onnx.pb-c.h"
#include "ops/op.h"

#define OPSET INCEPT_ONNX_WRITE_OPSET
#define ONNX_FLOAT INCEPT_ONNX_FLOAT

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

typedef struct incept_onnx_writer {
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

/* ---- what ops' exports write with (onnx_writer.h) ---- */

Onnx__AttributeProto *incept_onnx_put_int(writer *w, const char *name, int64_t v) { return attr_int(w, name, v); }

Onnx__AttributeProto *incept_onnx_put_ints(writer *w, const char *name, const int64_t *v, int n)
{
    return attr_ints(w, name, v, n);
}

Onnx__AttributeProto *incept_onnx_put_float(writer *w, const char *name, float v) { return attr_float(w, name, v); }

int incept_onnx_put_node(writer *w, const char *op, const char *name, const char *const *inputs,
                         const char *output, Onnx__AttributeProto *const *attrs)
{
    return add_node(w, op, name, inputs, output, attrs);
}

int incept_onnx_put_param(writer *w, const incept_graph *g, int index) { return add_param(w, g, index); }

int incept_onnx_put_initializer(writer *w, const char *name, int data_type, const int64_t *dims, int ndim,
                                const void *data, size_t bytes)
{
    return add_initializer(w, name, data_type, dims, ndim, data, bytes);
}

void *incept_onnx_put_scratch(writer *w, size_t size) { return take(w->mem, size); }

int incept_onnx_put_window(writer *w, const incept_attrs *a, int dilations, Onnx__AttributeProto **attrs)
{
    const int64_t kernel[2] = {a->kernel_h, a->kernel_w}, strides[2] = {a->stride_h, a->stride_w};
    const int64_t pads[4] = {a->pad_top, a->pad_left, a->pad_bottom, a->pad_right};
    const int64_t dilation[2] = {a->dilation_h, a->dilation_w};
    int k = 0;
    attrs[k++] = attr_ints(w, "kernel_shape", kernel, 2);
    attrs[k++] = attr_ints(w, "strides", strides, 2);
    attrs[k++] = attr_ints(w, "pads", pads, 4);
    if (dilations)
        attrs[k++] = attr_ints(w, "dilations", dilation, 2);
    return k;
}

/* QuantizeLinear and DequantizeLinear of `from` under v's code, into `to`. */
static incept_status write_output_code(writer *w, const incept_node *n, const incept_value *v,
                                       const char *from, const char *to)
{
    const incept_quant code = incept_quant_range(v->range_lo, v->range_hi);
    const unsigned char zero = (unsigned char)code.zero_point;
    const int64_t none = 0;
    char scale[1100], zero_name[1100], quantized[1100], dequantized[1100];
    snprintf(scale, sizeof scale, "%s/y_scale", n->name);
    snprintf(dequantized, sizeof dequantized, "%s/y_dequantized", n->name);
    snprintf(zero_name, sizeof zero_name, "%s/y_zero_point", n->name);
    snprintf(quantized, sizeof quantized, "%s/y_quantized", n->name);
    const char *q_ins[] = {from, scale, zero_name, NULL}, *dq_ins[] = {quantized, scale, zero_name, NULL};
    int ok = add_initializer(w, scale, ONNX_FLOAT, &none, 0, &code.scale, sizeof(float)) &&
             add_initializer(w, zero_name, INCEPT_ONNX_UINT8, &none, 0, &zero, 1) &&
             add_node(w, "QuantizeLinear", quantized, q_ins, quantized, NULL) &&
             add_node(w, "DequantizeLinear", dequantized, dq_ins, to, NULL);
    return ok ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* One of our nodes as its op writes it, and the Relu a fused ReLU becomes; `rank` tracks which
 * values ONNX sees as 2-D. */
static incept_status write_node(writer *w, const incept_graph *g, const incept_node *n, int *rank,
                                const char *path, int int8)
{
    const char *out = g->values[n->output].name;
    char pre[1200], relu_name[1100];
    if (!n->op->to_onnx)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: node '%s': op '%s' has no ONNX export",
                           path, n->name, n->nd ? n->onnx_op : n->op->name);
    rank[n->output] = 4;
    /* a quantized export codes the output of a node with an int8 form (after its activation):
     * the node writes NAME/float, QuantizeLinear and DequantizeLinear of its range make NAME */
    const incept_value *result = &g->values[n->output];
    const int coded = int8 && n->op->quantize && !n->aux && result->has_range;
    char floats[1100];
    snprintf(floats, sizeof floats, "%s/float", out);
    const char *final = out;
    if (coded)
        out = floats;
    snprintf(pre, sizeof pre, "%s/pre_relu", out); /* the op writes NAME/pre_relu, a Relu NAME */
    const incept_onnx_export e = {w, g, n, g->values[n->inputs[0]].name, n->attrs.relu ? pre : out,
                                  rank, path, int8 ? INCEPT_ONNX_WRITE_OPSET_INT8 : OPSET, int8};
    incept_status st = n->op->to_onnx(&e);
    if (!st && n->attrs.relu && !(n->attrs.relu_max < INFINITY)) {
        const char *ins[] = {pre, NULL};
        snprintf(relu_name, sizeof relu_name, "%s/relu", n->name);
        if (!add_node(w, "Relu", relu_name, ins, out, NULL))
            st = INCEPT_ERR_NOMEM;
    } else if (!st && n->attrs.relu) { /* ReLU6: Clip(0, hi), the bounds as inputs (opset 11) */
        char lo_name[1100], hi_name[1100];
        const float lo = 0.0f, hi = n->attrs.relu_max;
        const int64_t none = 0;
        snprintf(relu_name, sizeof relu_name, "%s/clip", n->name);
        snprintf(lo_name, sizeof lo_name, "%s/clip_min", n->name);
        snprintf(hi_name, sizeof hi_name, "%s/clip_max", n->name);
        const char *ins[] = {pre, lo_name, hi_name, NULL};
        if (!add_initializer(w, lo_name, ONNX_FLOAT, &none, 0, &lo, sizeof lo) ||
            !add_initializer(w, hi_name, ONNX_FLOAT, &none, 0, &hi, sizeof hi) ||
            !add_node(w, "Clip", relu_name, ins, out, NULL))
            st = INCEPT_ERR_NOMEM;
    }
    if (!st && coded)
        st = write_output_code(w, n, result, floats, final);
    return st || w->mem->failed ? (st ? st : INCEPT_ERR_NOMEM) : INCEPT_OK;
}

incept_status incept_onnx_write_graph(const incept_model *m, const char *path, int int8)
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
            st = write_node(&w, g, &g->nodes[i], rank, path, int8);
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
    opset->has_version = 1, opset->version = int8 ? INCEPT_ONNX_WRITE_OPSET_INT8 : OPSET;
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
