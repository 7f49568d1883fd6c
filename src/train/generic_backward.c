/* generic_backward.c — training through generic nodes (the N-d path): which values carry a
 * gradient to a parameter, each generic node's backward (its op's incept_nd_grad_fn) in the
 * training step, and the gradients of generic values, which live as tensors beside the run's.
 *
 * A generic node runs backward only where the loss reaches a parameter through it: shape
 * arithmetic, integer ops and the preprocessing of the input (a Sub of the mean before the first
 * convolution) need none. Where one is needed and its op has no backward, training fails naming
 * the node; so does a float initializer that could not become a parameter (train.c calls these
 * once per training set-up and every step). */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "nd/nd.h"
#include "ops/op.h"
#include "train/generic_backward.h"

static const char *source(const incept_session *s)
{
    return s->model->graph.source ? s->model->graph.source : "model";
}

incept_status incept_train_generic_prepare(incept_session *s)
{
    const incept_graph *g = &s->model->graph;
    free(s->needs_grad);
    free(s->runs_backward);
    s->needs_grad = incept_calloc((size_t)g->n_values + 1, 1);
    s->runs_backward = incept_calloc((size_t)g->n_nodes + 1, 1);
    if (!s->needs_grad || !s->runs_backward)
        return INCEPT_ERR_NOMEM;
    for (int v = 0; v < g->n_values; v++)
        s->needs_grad[v] = g->values[v].param >= 0;
    for (int i = 0; i < g->n_nodes; i++) { /* nodes are in topological order */
        const incept_node *n = &g->nodes[i];
        if (!n->nd) { /* the fast path's nodes: their outputs carry gradients, as before */
            s->runs_backward[i] = 1;
            s->needs_grad[n->output] = 1;
            continue;
        }
        int through = 0;
        for (int k = 0; k < n->n_inputs; k++)
            through |= n->inputs[k] >= 0 && s->needs_grad[n->inputs[k]];
        s->runs_backward[i] = (unsigned char)through;
        for (int j = 0; through && j < n->n_outputs; j++)
            if (n->outputs[j] >= 0)
                s->needs_grad[n->outputs[j]] = 1;
    }
    for (int i = 0; i < s->n_losses; i++) /* the loss writes their gradients in any case */
        s->needs_grad[s->loss_values[i]] = 1;
    return INCEPT_OK;
}

/* Whether a generic node reads only what it can train. */
static incept_status check_node(const incept_session *s, const incept_node *n)
{
    const incept_graph *g = &s->model->graph;
    for (int k = 0; k < n->n_inputs; k++) {
        const incept_value *val = n->inputs[k] >= 0 ? &g->values[n->inputs[k]] : NULL;
        if (val && val->from_initializer && val->param < 0 &&
            g->constants[val->constant].dtype == INCEPT_FLOAT32)
            return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: node '%s' (%s) reads initializer '%s', "
                               "which cannot be trained here (rank %d, or its name is taken by a "
                               "parameter of other contents)", source(s), n->name, n->onnx_op,
                               val->name, g->constants[val->constant].rank);
    }
    return INCEPT_OK;
}

incept_status incept_train_generic_check(const incept_session *s)
{
    const incept_graph *g = &s->model->graph;
    for (int p = 0; p < s->n_order; p++) {
        const incept_node *n = &g->nodes[s->order[p]];
        incept_status st = n->nd ? check_node(s, n) : INCEPT_OK;
        if (st)
            return st;
    }
    return INCEPT_OK;
}

incept_status incept_train_generic_begin(incept_session *s)
{
    const incept_graph *g = &s->model->graph;
    if (!g->n_generic)
        return INCEPT_OK;
    if (!s->nd_grads && !(s->nd_grads = incept_calloc((size_t)g->n_values, sizeof *s->nd_grads)))
        return INCEPT_ERR_NOMEM;
    const incept_nd_context ctx = {.path = source(s)};
    for (int v = 0; v < g->n_values; v++) {
        const incept_value *val = &g->values[v];
        const incept_tensor *t = &s->nd_values[v];
        if (!val->generic || val->constant >= 0 || !s->needs_grad[v] || !t->data ||
            t->dtype != INCEPT_FLOAT32)
            continue;
        incept_status st = incept_nd_array_alloc(&ctx, &s->nd_grads[v], INCEPT_FLOAT32, t->rank, t->dims);
        if (st) {
            incept_train_generic_end(s);
            return st;
        }
        if (val->c) /* NCHW-shaped: the fast nodes reading it find its gradient as a view */
            s->grad_views[v] = (incept_view){s->nd_grads[v].data, s->planned_batch, val->c, val->h,
                                             val->w, (size_t)val->c * val->h * val->w};
    }
    return INCEPT_OK;
}

void incept_train_generic_end(incept_session *s)
{
    const incept_graph *g = &s->model->graph;
    for (int v = 0; s->nd_grads && v < g->n_values; v++) {
        incept_tensor_free(&s->nd_grads[v]);
        if (g->values[v].generic)
            s->grad_views[v].data = NULL;
    }
    incept_session_clear_values(s);
}

/* Where the gradient of input value u goes: a generic value's tensor, a parameter's gradient in
 * its initializer's shape, an NCHW value's gradient view; NULL where none is wanted. */
static incept_tensor *input_grad(incept_session *s, int u, incept_tensor *wrapped)
{
    const incept_graph *g = &s->model->graph;
    if (u < 0 || !s->needs_grad[u] || u == g->input)
        return NULL;
    const incept_value *val = &g->values[u];
    memset(wrapped, 0, sizeof *wrapped);
    if (val->param >= 0) {
        *wrapped = g->constants[val->constant];
        wrapped->data = s->param_grads + g->params[val->param].offset;
        return wrapped;
    }
    if (val->constant >= 0)
        return NULL;
    if (val->generic)
        return s->nd_grads[u].data ? &s->nd_grads[u] : NULL;
    const incept_view *view = &s->grad_views[u];
    if (!view->data || view->batch_stride != (size_t)view->c * view->h * view->w)
        return NULL; /* never a channel slice: a concat is not its only reader */
    wrapped->dtype = INCEPT_FLOAT32;
    wrapped->rank = incept_value_shape(g, u, wrapped->dims);
    wrapped->dims[0] = view->n;
    wrapped->data = view->data;
    return wrapped;
}

incept_status incept_train_generic_backward(incept_session *s, const incept_node *n)
{
    const incept_graph *g = &s->model->graph;
    if (!s->runs_backward[n - g->nodes])
        return INCEPT_OK;
    enum { max_inputs = 64, max_outputs = 8 };
    const incept_nd_context ctx = {.path = source(s), .node = n->onnx_node, .opset = g->opset,
                                   .threads = s->threads, .rng = &s->rng};
    if (n->n_inputs > max_inputs || n->n_outputs > max_outputs)
        return incept_nd_fail(&ctx, INCEPT_ERR_UNSUPPORTED, "%d inputs and %d outputs (at most %d and %d)",
                              n->n_inputs, n->n_outputs, max_inputs, max_outputs);
    const incept_tensor *in[max_inputs], *dout[max_outputs];
    incept_tensor wrapped[max_inputs], grads[max_inputs], out[max_outputs];
    incept_tensor *din[max_inputs];
    for (int k = 0; k < n->n_inputs; k++) {
        in[k] = n->inputs[k] >= 0 ? incept_session_generic_input(s, n->inputs[k], &wrapped[k]) : NULL;
        din[k] = input_grad(s, n->inputs[k], &grads[k]);
    }
    int flows = 0; /* a float output carries a gradient (not Shape's, not integer arithmetic's) */
    for (int j = 0; j < n->n_outputs; j++) {
        int v = n->outputs[j];
        memset(&out[j], 0, sizeof out[j]);
        if (v >= 0)
            out[j] = s->nd_values[v];
        dout[j] = v >= 0 && s->nd_grads[v].data ? &s->nd_grads[v] : NULL;
        flows |= dout[j] != NULL;
    }
    if (!flows)
        return INCEPT_OK;
    incept_nd_grad_fn grad = incept_nd_find_grad(n->onnx_op);
    if (!grad)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: node '%s' (%s) runs on the generic N-d path, "
                           "where %s has no backward, and the loss reaches parameters through it",
                           source(s), n->name, n->onnx_op, n->onnx_op);
    return grad(&ctx, in, n->n_inputs, out, n->n_outputs, dout, din);
}
