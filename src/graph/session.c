/* session.c — sessions: the state of running a model (its plan, arenas, profile), running the
 * planned forward pass, inputs and outputs by name as N-d tensors, and the per-layer profile.
 * Training's state and steps are in train/train.c; the plan itself in plan.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "core/status.h"
#include "graph/graph.h"
#include "nd/nd.h"
#include "ops/op.h"

incept_status incept_session_new(incept_model *model, incept_session **out)
{
    if (!model || !out)
        return incept_fail(INCEPT_ERR_ARG, "session_new needs a model and an output handle");
    incept_session *s = incept_calloc(1, sizeof *s);
    if (!(*out = s))
        return INCEPT_ERR_NOMEM;
    s->model = model;
    s->threads = 1;
    s->aux_weight = 0.3f;
    s->nonfinite_param = -1;
    incept_rng_seed(&s->rng, 0x1ce9);
    return INCEPT_OK;
}

void incept_session_free(incept_session *s)
{
    if (!s)
        return;
    if (s->average_in_use) /* the model gets its trained weights back */
        incept_session_use_average(s, 0);
    incept_session_drop_plan(s);
    incept_session_free_precision(s);
    free(s->node_seconds);
    free(s->param_grads);
    free(s->momentum);
    free(s->average);
    free(s->loss_values);
    free(s->loss_weights);
    free(s->needs_grad);
    free(s->runs_backward);
    free(s);
}

incept_model *incept_session_model(const incept_session *s) { return s ? s->model : NULL; }

incept_status incept_session_set_threads(incept_session *s, int threads)
{
    if (!s || threads < 1 || threads > 1024)
        return incept_fail(INCEPT_ERR_ARG, "threads must be between 1 and 1024, got %d", threads);
    s->threads = threads;
    return INCEPT_OK;
}

double incept_now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

incept_status incept_session_set_exact(incept_session *s, int exact)
{
    if (!s)
        return incept_fail(INCEPT_ERR_ARG, "no session");
    if (s->exact != (exact != 0))
        incept_session_drop_plan(s); /* the plan depends on the algorithms chosen */
    s->exact = exact != 0;
    return INCEPT_OK;
}

incept_status incept_session_set_profiling(incept_session *s, int on)
{
    if (!s)
        return incept_fail(INCEPT_ERR_ARG, "no session");
    if (on && !s->node_seconds) {
        s->node_seconds = incept_calloc(2 * (size_t)s->model->graph.n_nodes + 1, sizeof(double));
        if (!s->node_seconds)
            return INCEPT_ERR_NOMEM;
    }
    if (on && s->node_seconds)
        memset(s->node_seconds, 0, sizeof(double) * 2 * (size_t)s->model->graph.n_nodes);
    s->profiled_passes = 0;
    s->profiled_backward_passes = 0;
    s->profiling = on != 0;
    return INCEPT_OK;
}

incept_status incept_session_profile_report(const incept_session *s, FILE *out)
{
    if (!s || !out || !s->node_seconds || !s->profiled_passes || !s->planned_batch)
        return incept_fail(INCEPT_ERR_ARG, "no profile: switch profiling on and run forward first");
    const incept_graph *g = &s->model->graph;
    const double *backward = s->node_seconds + g->n_nodes; /* per node, when training was timed */
    const int passes = s->profiled_passes, back_passes = s->profiled_backward_passes;
    double total = 0.0;
    for (int p = 0; p < s->n_order; p++) {
        total += s->node_seconds[s->order[p]] / passes;
        if (back_passes)
            total += backward[s->order[p]] / back_passes;
    }
    if (back_passes)
        fprintf(out, "%-28s %-14s %10s %10s %9s %7s\n", "layer", "op", "fwd ms", "bwd ms",
                "GFLOP/s", "share");
    else
        fprintf(out, "%-28s %-14s %10s %9s %7s\n", "layer", "op", "ms/pass", "GFLOP/s", "share");
    double forward_total = 0.0, backward_total = 0.0;
    for (int p = 0; p < s->n_order; p++) {
        const incept_node *n = &g->nodes[s->order[p]];
        double fwd = s->node_seconds[s->order[p]] / passes;
        double bwd = back_passes ? backward[s->order[p]] / back_passes : 0.0;
        forward_total += fwd, backward_total += bwd;
        long long macs = n->op->multiply_adds ? n->op->multiply_adds(g, n) : 0;
        char op_name[64];
        snprintf(op_name, sizeof op_name, "%s", n->nd ? n->onnx_op : n->op->name);
        if (s->stacked[p]) /* its time and work are its stack leader's */
            macs = 0, snprintf(op_name, sizeof op_name, "%.40s (stacked)", n->op->name);
        for (int q = s->stack_next[p]; q >= 0 && !s->stacked[p]; q = s->stack_next[q]) {
            const incept_node *member = &g->nodes[s->order[q]];
            macs += member->op->multiply_adds ? member->op->multiply_adds(g, member) : 0;
            snprintf(op_name, sizeof op_name, "%.40s + stacked", n->op->name);
        }
        char rate[32] = "", back[32] = "";
        /* a training step does the forward's multiply-adds three times (forward, dX, dW) */
        int work = back_passes ? 3 : 1;
        if (macs && fwd + bwd > 0)
            snprintf(rate, sizeof rate, "%.1f",
                     2.0 * work * (double)macs * s->planned_batch / (fwd + bwd) * 1e-9);
        if (back_passes)
            snprintf(back, sizeof back, " %10.3f", bwd * 1e3);
        fprintf(out, "%-28s %-14s %10.3f%s %9s %6.1f%%\n", n->name, op_name, fwd * 1e3, back,
                rate, total > 0 ? 100.0 * (fwd + bwd) / total : 0.0);
    }
    if (back_passes)
        fprintf(out, "%-28s %-14s %10.3f %10.3f\n", "total", "", forward_total * 1e3,
                backward_total * 1e3);
    else
        fprintf(out, "%-28s %-14s %10.3f\n", "total", "", forward_total * 1e3);
    fprintf(out, "memory: parameters %.1f MB, activations %.1f MB, workspace %.1f MB\n",
            (double)g->param_floats * 4e-6, (double)s->arena_floats * 4e-6,
            (double)s->workspace_floats * 4e-6);
    return INCEPT_OK;
}

/* A node's forward arguments over the plan's views (inputs, training and dropout are the
 * caller's). */
static incept_op_args forward_args(const incept_session *s, const incept_node *n,
                                   const incept_view *inputs, int n_inputs)
{
    const incept_graph *g = &s->model->graph;
    return (incept_op_args){
        .graph = g,
        .node = n,
        .inputs = inputs,
        .n_inputs = n_inputs,
        .output = s->views[n->output],
        .weight = n->weight >= 0 ? incept_graph_param_data(g, n->weight) : NULL,
        .bias = n->bias >= 0 ? incept_graph_param_data(g, n->bias) : NULL,
        .workspace = s->workspace,
        .threads = s->threads,
        .exact = s->exact,
        .quantized = s->forms && s->precision == INCEPT_PRECISION_INT8 ? s->forms[n - g->nodes] : NULL,
        .bf16 = s->forms && s->precision == INCEPT_PRECISION_BF16 ? s->forms[n - g->nodes] : NULL,
    };
}

/* The stack of pointwise convolutions led by order position p, as one GEMM (inference only). */
static void run_stack(incept_session *s, int p)
{
    incept_op_args members[INCEPT_STACK_MAX];
    int count = 0;
    for (int q = p; q >= 0 && count < INCEPT_STACK_MAX; q = s->stack_next[q]) {
        const incept_node *n = &s->model->graph.nodes[s->order[q]];
        members[count++] = forward_args(s, n, &s->views[n->inputs[0]], 1);
    }
    members[0].node->op->stacked_forward(members, count);
}

void incept_session_clear_values(incept_session *s)
{
    if (!s->nd_values || !s->nd_owned)
        return;
    for (int v = 0; v < s->model->graph.n_values; v++) {
        if (s->nd_owned[v])
            incept_tensor_free(&s->nd_values[v]);
        memset(&s->nd_values[v], 0, sizeof s->nd_values[v]);
        s->nd_owned[v] = 0;
    }
}

/* The tensor a generic node reads for value v (in `wrapped` for an NCHW value's view). */
const incept_tensor *incept_session_generic_input(const incept_session *s, int v, incept_tensor *wrapped)
{
    const incept_graph *g = &s->model->graph;
    const incept_value *val = &g->values[v];
    if (val->param >= 0) { /* an initializer that trains: the constant's shape, the parameter's data */
        *wrapped = g->constants[val->constant];
        wrapped->data = incept_graph_param_data(g, val->param);
        return wrapped;
    }
    if (val->constant >= 0)
        return &g->constants[val->constant];
    if (val->generic)
        return &s->nd_values[v];
    const incept_view *view = &s->views[v]; /* whole, never a channel slice: its reader is not a concat */
    memset(wrapped, 0, sizeof *wrapped);
    wrapped->dtype = INCEPT_FLOAT32;
    wrapped->rank = incept_value_shape(g, v, wrapped->dims);
    wrapped->dims[0] = view->n;
    wrapped->data = view->data;
    return wrapped;
}

/* A generic node at order position p: its N-d reference op on its input tensors; outputs kept
 * until their last reader, inputs it read last freed. */
static incept_status run_generic(incept_session *s, int p, const incept_node *n)
{
    const incept_graph *g = &s->model->graph;
    enum { max_inputs = 64, max_outputs = 8 };
    const incept_nd_context ctx = {.path = g->source ? g->source : "model", .node = n->onnx_node,
                                   .opset = g->opset, .threads = s->threads, .rng = &s->rng};
    if (n->n_inputs > max_inputs || n->n_outputs > max_outputs)
        return incept_nd_fail(&ctx, INCEPT_ERR_UNSUPPORTED, "%d inputs and %d outputs (at most %d and %d)",
                              n->n_inputs, n->n_outputs, max_inputs, max_outputs);
    const incept_tensor *in[max_inputs];
    incept_tensor wrapped[max_inputs], results[max_outputs];
    for (int k = 0; k < n->n_inputs; k++)
        in[k] = n->inputs[k] >= 0 ? incept_session_generic_input(s, n->inputs[k], &wrapped[k]) : NULL;
    memset(results, 0, sizeof results);
    incept_status st = n->nd(&ctx, in, n->n_inputs, results, n->n_outputs);
    for (int j = 0; !st && j < n->n_outputs; j++)
        if (n->outputs[j] >= 0 && !results[j].data && incept_tensor_count(&results[j]) > 0)
            st = incept_nd_fail(&ctx, INCEPT_ERR_UNSUPPORTED, "output %d ('%s') is not produced", j,
                                g->values[n->outputs[j]].name);
    for (int j = 0; j < n->n_outputs; j++) {
        int v = n->outputs[j];
        const incept_value *val = v >= 0 ? &g->values[v] : NULL;
        if (!st && val && val->c) { /* NCHW-shaped when loaded: the fast nodes reading it need that */
            const incept_tensor *r = &results[j];
            long long want[INCEPT_MAX_RANK];
            int rank = incept_value_shape(g, v, want), fits = r->dtype == INCEPT_FLOAT32 &&
                r->rank == rank && rank >= 1 && r->dims[0] == s->planned_batch;
            for (int d = 1; fits && d < rank; d++)
                fits = r->dims[d] == want[d];
            if (!fits)
                st = incept_nd_fail(&ctx, INCEPT_ERR_SHAPE, "output '%s' is not [%d, %d, %d, %d] cut to rank "
                                    "%d, as it was when the model was loaded", val->name, s->planned_batch,
                                    val->c, val->h, val->w, rank);
            else
                s->views[v] = (incept_view){r->data, s->planned_batch, val->c, val->h, val->w,
                                            (size_t)val->c * val->h * val->w};
        }
        if (st || v < 0 || s->last_reader[v] < 0) { /* failed, omitted or never read */
            incept_tensor_free(&results[j]);
            continue;
        }
        s->nd_values[v] = results[j];
        s->nd_owned[v] = 1;
    }
    for (int k = 0; k < n->n_inputs; k++) { /* values read for the last time */
        int v = n->inputs[k];
        if (v >= 0 && s->nd_owned[v] && s->last_reader[v] == p) {
            incept_tensor_free(&s->nd_values[v]);
            s->nd_owned[v] = 0;
        }
    }
    return st;
}

incept_status incept_session_run_forward(incept_session *s, const float *input, int training,
                                         int dropout, unsigned long long seed)
{
    const incept_graph *g = &s->model->graph;
    if (g->input >= 0)
        s->views[g->input].data = (float *)input; /* ops never write their inputs */
    for (int p = 0; p < s->n_order; p++) {
        const incept_node *n = &g->nodes[s->order[p]];
        if (s->stacked[p])
            continue; /* computed with an earlier node of the same input (its stack) */
        double started = s->profiling ? incept_now_seconds() : 0.0;
        if (n->nd) {
            incept_status st = run_generic(s, p, n);
            if (st) {
                incept_session_clear_values(s);
                return st;
            }
        } else if (s->stack_next[p] >= 0) {
            run_stack(s, p);
        } else {
            for (int k = 0; k < n->n_inputs; k++)
                s->node_inputs[k] = s->views[n->inputs[k]];
            incept_op_args args = forward_args(s, n, s->node_inputs, n->n_inputs);
            args.training = training;
            args.sync = training ? s->stats_sync : NULL;
            args.dropout = training && dropout;
            args.dropout_seed =
                seed ^ (0x9e3779b97f4a7c15ULL * (unsigned long long)(s->order[p] + 1));
            if (training && s->saved_at && s->saved_at[s->order[p]] != SIZE_MAX)
                args.saved = s->saved + s->saved_at[s->order[p]];
            n->op->forward(&args);
        }
        if (s->profiling)
            s->node_seconds[s->order[p]] += incept_now_seconds() - started;
    }
    s->profiled_passes += s->profiling;
    return INCEPT_OK;
}

/* The value named `name`: a value, the node computing it, or the model's declared output name. */
static int find_value(const incept_graph *g, const char *name)
{
    if (g->output_name && strcmp(name, g->output_name) == 0)
        return g->output;
    int v = incept_graph_find_value(g, name);
    for (int i = 0; v < 0 && i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0)
            v = g->nodes[i].output;
    for (int hops = 0; v >= 0 && g->values[v].alias >= 0 && hops < g->n_values; hops++)
        v = g->values[v].alias; /* a fused ReLU's name: the conv's output */
    return v;
}

/* Whether the caller's tensor t is of this type and shape. */
static int matches(const incept_tensor *t, incept_dtype dtype, int rank, const long long *dims)
{
    int same = t->dtype == dtype && t->rank == rank;
    for (int d = 0; same && d < rank; d++)
        same = t->dims[d] == dims[d];
    return same;
}

/* Output tensor t for a value of `rank` and `dims`: allocated when its data is NULL, else checked. */
static incept_status prepare_output(incept_tensor *t, const char *name, int rank, const long long *dims)
{
    if (t->data) {
        if (!matches(t, INCEPT_FLOAT32, rank, dims))
            return incept_fail(INCEPT_ERR_SHAPE, "output '%s' is float32 of rank %d (%lld x %lld ...); "
                               "the buffer given is of another type or shape", name, rank, dims[0],
                               dims[1]);
        return INCEPT_OK;
    }
    t->dtype = INCEPT_FLOAT32;
    t->rank = rank;
    memcpy(t->dims, dims, sizeof(long long) * (size_t)rank);
    t->data = incept_malloc(incept_tensor_count(t) * sizeof(float));
    return t->data ? INCEPT_OK : INCEPT_ERR_NOMEM;
}

/* The caller's tensor for a generic input against what the model declares (type, fixed sizes). */
static incept_status check_generic_input(const incept_graph *g, int v, const incept_tensor *a)
{
    const incept_value *val = &g->values[v];
    const char *path = g->source ? g->source : "model";
    if (!a->data && incept_tensor_count(a) > 0)
        return incept_fail(INCEPT_ERR_ARG, "%s: input '%s' has no data", path, val->name);
    if (a->rank < 0 || a->rank > INCEPT_MAX_RANK ||
        (a->dtype != INCEPT_FLOAT32 && a->dtype != INCEPT_UINT8 && a->dtype != INCEPT_INT64 &&
         a->dtype != INCEPT_BOOL))
        return incept_fail(INCEPT_ERR_ARG, "%s: input '%s' has rank %d and type %d", path, val->name,
                           a->rank, a->dtype);
    if (val->declared_dtype && val->declared_dtype != a->dtype)
        return incept_fail(INCEPT_ERR_ARG, "%s: input '%s' is declared of type %d, given %d", path,
                           val->name, val->declared_dtype, a->dtype);
    if (val->declared_rank < 0)
        return INCEPT_OK;
    if (val->declared_rank != a->rank)
        return incept_fail(INCEPT_ERR_SHAPE, "%s: input '%s' is declared of rank %d, given rank %d",
                           path, val->name, val->declared_rank, a->rank);
    for (int d = 0; d < a->rank; d++)
        if (val->declared_dims[d] >= 0 && val->declared_dims[d] != a->dims[d])
            return incept_fail(INCEPT_ERR_SHAPE, "%s: input '%s' has %lld along axis %d where the graph "
                               "declares %lld", path, val->name, a->dims[d], d, val->declared_dims[d]);
    return INCEPT_OK;
}

/* The caller's NCHW input: float32 [N, C, H, W] cut to the model's rank for it; *batch = N. */
static incept_status check_nchw_input(const incept_graph *g, const incept_tensor *x, int *batch)
{
    const incept_value *iv = &g->values[g->input];
    /* its own rank (the value may be the output too, of another rank: an Unsqueeze of it) */
    const long long want[4] = {-1, iv->c, iv->h, iv->w};
    int rank = g->input_rank > 0 ? g->input_rank : 4, fits = x->dtype == INCEPT_FLOAT32 &&
        x->rank == rank && x->dims[0] >= 1 && x->dims[0] <= INT32_MAX && x->data;
    for (int d = 1; fits && d < rank; d++)
        fits = x->dims[d] == want[d];
    if (!fits)
        return incept_fail(INCEPT_ERR_SHAPE, "input '%s' must be float32 of rank %d: [N, %d, %d, %d] "
                           "of which the first %d, with data", iv->name, rank, iv->c, iv->h, iv->w,
                           rank);
    *batch = (int)x->dims[0];
    return INCEPT_OK;
}

/* Hands generic value v (a computed tensor or a constant) to the caller's tensor t: moved when
 * the run owns it and nothing later asks for it again, else copied (into t's buffer if given). */
static incept_status give_generic(incept_session *s, int v, int again, incept_tensor *t)
{
    const incept_graph *g = &s->model->graph;
    const incept_value *val = &g->values[v];
    incept_tensor wrapped;
    const incept_tensor *r = val->constant >= 0 ? incept_session_generic_input(s, v, &wrapped) : &s->nd_values[v];
    const incept_nd_context ctx = {.path = g->source ? g->source : "model"};
    if (!t->data) {
        if (s->nd_owned[v] && !again) {
            *t = s->nd_values[v];
            memset(&s->nd_values[v], 0, sizeof s->nd_values[v]);
            s->nd_owned[v] = 0;
            return INCEPT_OK;
        }
        return incept_nd_array_copy(&ctx, t, r);
    }
    if (!matches(t, r->dtype, r->rank, r->dims))
        return incept_fail(INCEPT_ERR_SHAPE, "output '%s': the buffer given is not of its type and "
                           "shape", val->name);
    memcpy(t->data, r->data, incept_tensor_count(r) * incept_nd_dtype_size(r->dtype));
    return INCEPT_OK;
}

static incept_status run(incept_session *s, int n_inputs, const char *const *input_names,
                         const incept_tensor *inputs, int n_outputs,
                         const char *const *output_names, incept_tensor *outputs);

incept_status incept_session_run(incept_session *s, int n_inputs, const char *const *input_names,
                                 const incept_tensor *inputs, int n_outputs,
                                 const char *const *output_names, incept_tensor *outputs)
{
    unsigned char given[64] = {0}; /* which outputs came with the caller's buffer */
    for (int k = 0; outputs && k < n_outputs && k < 64; k++)
        given[k] = outputs[k].data != NULL;
    incept_status st = run(s, n_inputs, input_names, inputs, n_outputs, output_names, outputs);
    if (s)
        incept_session_clear_values(s);
    for (int k = 0; st && outputs && k < n_outputs; k++) /* a failed run leaves nothing allocated */
        if (k < 64 && !given[k])
            incept_tensor_free(&outputs[k]);
    return st;
}

/* The caller's tensor for graph input i: by name, or by position when no names are given. */
static incept_status input_for(const incept_graph *g, int i, int n_inputs, const char *const *names,
                               const incept_tensor *inputs, const incept_tensor **out)
{
    const char *name = g->values[g->inputs[i]].name;
    *out = NULL;
    for (int k = 0; k < n_inputs && !*out; k++)
        if (names ? names[k] && strcmp(names[k], name) == 0 : k == i)
            *out = &inputs[k];
    for (int k = 0; names && k < n_inputs; k++) {
        int known = 0;
        for (int j = 0; j < g->n_inputs && !known; j++)
            known = names[k] && strcmp(names[k], g->values[g->inputs[j]].name) == 0;
        if (!known)
            return incept_fail(INCEPT_ERR_ARG, "the model has no input named '%s' (its first input is "
                               "'%s')", names[k] ? names[k] : "(null)", g->values[g->inputs[0]].name);
    }
    if (!*out)
        return incept_fail(INCEPT_ERR_ARG, "input '%s' is not given", name);
    return INCEPT_OK;
}

static incept_status run(incept_session *s, int n_inputs, const char *const *input_names,
                         const incept_tensor *inputs, int n_outputs,
                         const char *const *output_names, incept_tensor *outputs)
{
    if (!s || n_inputs < 0 || n_outputs < 0 || n_outputs > 64 || (n_inputs && !inputs) ||
        (n_outputs && !outputs))
        return incept_fail(INCEPT_ERR_ARG, "session_run needs a session, its inputs and room for "
                           "its outputs (at most 64)");
    const incept_model *m = s->model;
    const incept_graph *g = &m->graph;
    if (n_inputs != g->n_inputs)
        return incept_fail(INCEPT_ERR_ARG, "the model takes %d input(s), %d given", g->n_inputs,
                           n_inputs);
    for (int k = 0; k < n_outputs; k++)
        if (output_names && !output_names[k])
            return incept_fail(INCEPT_ERR_ARG, "output name %d is NULL", k);
    incept_status st = INCEPT_OK;
    const incept_tensor *x = NULL;
    int batch = 1; /* nominal when every input is generic: no NCHW value exists then */
    for (int i = 0; i < g->n_inputs && !st; i++) {
        const incept_tensor *t;
        if ((st = input_for(g, i, n_inputs, input_names, inputs, &t)))
            break;
        if (g->inputs[i] == g->input) {
            x = t;
            st = check_nchw_input(g, t, &batch);
        } else {
            st = check_generic_input(g, g->inputs[i], t);
        }
    }
    if (st)
        return st;
    int keep = 0;
    int *values = incept_malloc(sizeof(int) * ((size_t)n_outputs + 1));
    if (!values)
        return INCEPT_ERR_NOMEM;
    for (int k = 0; k < n_outputs && !st; k++) {
        values[k] = output_names ? find_value(g, output_names[k]) : g->outputs[k < g->n_outputs ? k : 0];
        if (values[k] < 0)
            st = incept_fail(INCEPT_ERR_ARG, "the model has no value or layer named '%s'",
                             output_names[k]);
        else if (!output_names && k >= g->n_outputs)
            st = incept_fail(INCEPT_ERR_ARG, "the model has %d output(s), %d asked for", g->n_outputs,
                             n_outputs);
        int is_output = 0;
        for (int i = 0; !st && i < g->n_outputs && !is_output; i++)
            is_output = values[k] == g->outputs[i];
        keep |= !is_output;
    }
    if (!st)
        st = incept_session_plan(s, batch, 0, keep);
    for (int k = 0; k < n_outputs && !st; k++) { /* computed by the inference plan? */
        const incept_value *val = &g->values[values[k]];
        int input = 0;
        for (int i = 0; i < g->n_inputs; i++)
            input |= g->inputs[i] == values[k];
        if (val->producer < 0 && val->generic && val->constant < 0 && !input) {
            st = incept_fail(INCEPT_ERR_ARG, "'%s' is computed by nothing once the model is loaded "
                             "(its readers were folded into constants)", val->name);
            break;
        }
        int producer = val->producer, found = producer < 0;
        for (int p = 0; p < s->n_order && !found; p++)
            found = s->order[p] == producer;
        if (!found)
            st = incept_fail(INCEPT_ERR_ARG, "'%s' belongs to a training-only head: inference does "
                             "not compute it", output_names[k]);
    }
    for (int i = 0; i < g->n_inputs && !st; i++) { /* generic inputs: borrowed for the run */
        const incept_tensor *t;
        if (g->inputs[i] != g->input && !(st = input_for(g, i, n_inputs, input_names, inputs, &t)))
            s->nd_values[g->inputs[i]] = *t;
    }
    if (!st)
        st = incept_session_run_forward(s, x ? x->data : NULL, 0, 0, 0);
    for (int k = 0; k < n_outputs && !st; k++) {
        if (g->values[values[k]].generic) {
            int again = 0;
            for (int later = k + 1; later < n_outputs; later++)
                again |= values[later] == values[k];
            st = give_generic(s, values[k], again, &outputs[k]);
            continue;
        }
        const incept_view *view = &s->views[values[k]];
        long long dims[INCEPT_MAX_RANK];
        int rank = incept_value_shape(g, values[k], dims);
        dims[0] = batch;
        const char *name = output_names ? output_names[k] : incept_model_output_name(m, k);
        if ((st = prepare_output(&outputs[k], name, rank, dims)))
            break;
        const size_t per_sample = (size_t)view->c * view->h * view->w;
        if (incept_tensor_count(&outputs[k]) != per_sample * (size_t)batch) { /* never past it */
            st = incept_fail(INCEPT_ERR_SHAPE, "output '%s': %zu values a sample where its shape says %zu",
                             name, per_sample, incept_tensor_count(&outputs[k]) / (size_t)batch);
            break;
        }
        float *dst = outputs[k].data;
        for (int i = 0; i < batch; i++)
            memcpy(dst + (size_t)i * per_sample, view->data + (size_t)i * view->batch_stride,
                   per_sample * sizeof(float));
    }
    free(values);
    return st;
}

incept_status incept_session_forward(incept_session *s, const float *input, int batch, float *output)
{
    if (!s || !input || !output || batch < 1)
        return incept_fail(INCEPT_ERR_ARG, "forward needs a session, input, output and batch >= 1");
    const incept_model *m = s->model;
    const incept_graph *g = &m->graph;
    if (g->n_generic || g->input < 0 || g->values[g->output].generic) {
        /* one float input, batch first: the declared shape with the batch set */
        incept_tensor in = {INCEPT_FLOAT32, 0, {0}, (void *)input}, out = {0};
        incept_dtype dtype = INCEPT_FLOAT32;
        in.rank = incept_model_input_shape(m, 0, &dtype, in.dims);
        int fixed = in.rank >= 1 && dtype == INCEPT_FLOAT32 && incept_model_inputs(m) == 1;
        for (int d = 1; fixed && d < in.rank; d++)
            fixed = in.dims[d] > 0;
        if (!fixed)
            return incept_fail(INCEPT_ERR_ARG, "%s: forward takes a model of one float input with "
                               "fixed sizes but the batch; use incept_session_run", m->onnx_source);
        in.dims[0] = batch;
        incept_status st = incept_session_run(s, 1, NULL, &in, 1, NULL, &out);
        if (st)
            return st;
        int oc, oh, ow;
        incept_model_output_dims(m, &oc, &oh, &ow);
        if (out.dtype != INCEPT_FLOAT32 || out.rank < 1 || out.dims[0] != batch ||
            incept_tensor_count(&out) != (size_t)batch * oc * oh * ow || !oc) {
            incept_tensor_free(&out);
            return incept_fail(INCEPT_ERR_SHAPE, "%s: the output is not float32 [%d, ...] of the "
                               "declared per-sample size; use incept_session_run", m->onnx_source, batch);
        }
        memcpy(output, out.data, incept_tensor_count(&out) * sizeof(float));
        incept_tensor_free(&out);
        return INCEPT_OK;
    }
    incept_status st = incept_session_plan(s, batch, 0, 0);
    if (st || (st = incept_session_run_forward(s, input, 0, 0, 0)))
        return st;
    const incept_view *out = &s->views[m->graph.output];
    size_t per_sample = (size_t)out->c * out->h * out->w;
    for (int i = 0; i < batch; i++)
        memcpy(output + i * per_sample, out->data + i * out->batch_stride, per_sample * sizeof(float));
    return INCEPT_OK;
}
