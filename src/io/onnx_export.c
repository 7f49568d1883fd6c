/* onnx_export.c — writing a model as ONNX. A model built here is written as a new graph
 * (onnx_write.c); an imported model is written back as its source file
 * with each initializer's data replaced by the current parameter of the same name (Gemm weights
 * the importer transposed or scaled are turned back), so names, ops and opset stay what the
 * exporting framework made and the file loads wherever the original did. */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "io/io.h"
#include "onnx.pb-c.h"

#define ONNX_FLOAT 1

/* The parameter's values as the initializer stores them. */
static float *as_initializer(const incept_graph *g, const incept_param *p)
{
    const float *src = g->param_data + p->offset;
    float *out = incept_malloc(p->count * sizeof(float));
    if (!out)
        return NULL;
    float scale = p->onnx_scale != 0.0f ? p->onnx_scale : 1.0f;
    if (p->onnx_transposed) /* stored [M, K]; the initializer is [K, M] */
        for (int r = 0; r < p->dims[0]; r++)
            for (int c = 0; c < p->dims[1]; c++)
                out[(size_t)c * p->dims[0] + r] = src[(size_t)r * p->dims[1] + c] / scale;
    else
        for (size_t i = 0; i < p->count; i++)
            out[i] = src[i] / scale;
    return out;
}

/* The fold whose conv weight is parameter `param`; NULL if none. */
static const incept_bn_fold *fold_of_weight(const incept_graph *g, int param)
{
    for (int i = 0; i < g->n_folds; i++)
        if (g->folds[i].weight == param)
            return &g->folds[i];
    return NULL;
}

/* The fold whose norm's B is the initializer `name`; NULL if none. */
static const incept_bn_fold *fold_of_beta(const incept_graph *g, const char *name)
{
    for (int i = 0; i < g->n_folds; i++)
        if (g->folds[i].beta && strcmp(g->folds[i].beta, name) == 0)
            return &g->folds[i];
    return NULL;
}

/* The norm's B that makes conv-then-norm compute our folded conv: with the file's conv bias B0
 * (our old bias, or 0), s * B0 + (beta - mean * s) = folded bias. */
static float *unfolded_beta(const incept_graph *g, const incept_bn_fold *f)
{
    const incept_param *p = &g->params[f->bias];
    const float *folded = g->param_data + p->offset;
    const float *old = f->old_bias >= 0 ? g->param_data + g->params[f->old_bias].offset : NULL;
    float *out = incept_malloc(p->count * sizeof(float));
    for (size_t k = 0; out && k < p->count; k++)
        out[k] = folded[k] - (old ? f->scale[k] * old[k] : 0.0f) + f->mean_scale[k];
    return out;
}

/* Replaces a tensor's data with `data` (float32, raw little-endian bytes; takes it). */
static void set_tensor(Onnx__TensorProto *t, float *data, size_t count)
{
    free(t->raw_data.data); /* protobuf-c allocated these with malloc */
    free(t->float_data);
    t->float_data = NULL;
    t->n_float_data = 0;
    t->has_raw_data = 1;
    t->raw_data.data = (uint8_t *)data; /* little-endian host: the bytes ONNX wants */
    t->raw_data.len = count * sizeof(float);
    t->has_data_type = 1;
    t->data_type = ONNX_FLOAT;
}

incept_status incept_model_save_onnx_int8(const incept_model *m, const char *path)
{
    if (!m || !path)
        return incept_fail(INCEPT_ERR_ARG, "save_onnx_int8 needs a model and a path");
    return incept_onnx_write_graph(m, path, 1);
}

incept_status incept_model_save_onnx(const incept_model *m, const char *path)
{
    if (!m || !path)
        return incept_fail(INCEPT_ERR_ARG, "save_onnx needs a model and a path");
    if (!m->onnx_source)
        return incept_onnx_write_graph(m, path, 0);
    char *file;
    size_t size;
    incept_status st = incept_read_file(m->onnx_source, &file, &size);
    if (st)
        return st;
    Onnx__ModelProto *model = onnx__model_proto__unpack(NULL, size, (const uint8_t *)file);
    free(file);
    if (!model || !model->graph) {
        if (model)
            onnx__model_proto__free_unpacked(model, NULL);
        return incept_fail(INCEPT_ERR_FORMAT, "%s: the source model can no longer be read",
                           m->onnx_source);
    }
    const incept_graph *g = &m->graph;
    for (int i = 0; i < g->n_folds && !st; i++)
        if (!g->folds[i].beta)
            st = incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: '%s' has a BatchNormalization folded into "
                             "it whose B is not an initializer of its own (or a second one): it "
                             "cannot be written back", m->onnx_source,
                             g->params[g->folds[i].weight].name);
    int written_betas = 0;
    for (size_t i = 0; i < model->graph->n_initializer && !st; i++) {
        Onnx__TensorProto *t = model->graph->initializer[i];
        const incept_bn_fold *beta = t->name ? fold_of_beta(g, t->name) : NULL;
        if (beta) {
            float *data = unfolded_beta(g, beta);
            if (!data)
                st = INCEPT_ERR_NOMEM;
            else
                set_tensor(t, data, g->params[beta->bias].count), written_betas++;
            continue;
        }
        for (int k = 0; k < g->n_params; k++) {
            const incept_param *p = &g->params[k];
            if (!t->name || strcmp(t->name, p->name) != 0)
                continue;
            float *data = as_initializer(g, p);
            if (!data) {
                st = INCEPT_ERR_NOMEM;
                break;
            }
            const incept_bn_fold *fold = fold_of_weight(g, k);
            size_t row = fold ? p->count / (size_t)p->dims[0] : 0;
            for (size_t e = 0; fold && e < p->count; e++) /* the rows as the file's conv has them */
                data[e] /= fold->scale[e / row];
            set_tensor(t, data, p->count);
            break;
        }
    }
    if (!st && written_betas != g->n_folds)
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: a folded BatchNormalization's B initializer is "
                         "missing from the file", m->onnx_source);
    if (!st) {
        size_t length = onnx__model_proto__get_packed_size(model);
        uint8_t *out = incept_malloc(length ? length : 1);
        if (!out) {
            st = INCEPT_ERR_NOMEM;
        } else {
            onnx__model_proto__pack(model, out);
            st = incept_write_atomically(path, out, length);
            free(out);
        }
    }
    onnx__model_proto__free_unpacked(model, NULL);
    return st;
}
