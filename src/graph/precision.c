/* precision.c — a session's arithmetic: int8 inference (incept_session_set_precision) and the
 * calibration that gives it its codes (incept_session_calibrate).
 *
 * Calibration runs the model in float over representative samples with every activation kept
 * and records, for each value a node with a quantized form reads (a convolution's input) or
 * computes (its output: a quantized ONNX export codes both, as ONNX Runtime's int8 convolutions
 * want), the smallest and largest value it took: the range its 8-bit code covers (min/max
 * calibration).
 * The ranges belong to the model (a quantized model carries them); setting INT8 asks each such
 * node's op for its quantized form (conv.c: weights to 8 bits per output channel, the input's
 * scale and zero point from its range), which the session keeps and hands to forward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "ops/op.h"

static void free_quantized(incept_session *s)
{
    if (!s->quantized)
        return;
    for (int i = 0; i < s->model->graph.n_nodes; i++)
        free(s->quantized[i]);
    free(s->quantized);
    s->quantized = NULL;
}

void incept_session_free_precision(incept_session *s) { free_quantized(s); }

incept_status incept_session_set_precision(incept_session *s, incept_precision precision)
{
    if (!s)
        return incept_fail(INCEPT_ERR_ARG, "no session");
    if (precision != INCEPT_PRECISION_FP32 && precision != INCEPT_PRECISION_INT8)
        return incept_fail(INCEPT_ERR_ARG, "unknown precision %d", (int)precision);
    free_quantized(s);
    incept_session_drop_plan(s); /* workspaces and stacking depend on it */
    s->precision = INCEPT_PRECISION_FP32;
    if (precision == INCEPT_PRECISION_FP32)
        return INCEPT_OK;
    const incept_graph *g = &s->model->graph;
    if (!(s->quantized = incept_calloc((size_t)g->n_nodes + 1, sizeof(void *))))
        return INCEPT_ERR_NOMEM;
    int quantized = 0, uncalibrated = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const incept_node *n = &g->nodes[i];
        if (n->nd || !n->op->quantize || n->aux)
            continue; /* auxiliary heads: training only, never run in an int8 session */
        if (!g->values[n->inputs[0]].has_range) {
            if (uncalibrated < 0)
                uncalibrated = i;
            continue;
        }
        incept_status st = n->op->quantize(g, n, &s->quantized[i]);
        if (st) {
            char why[256];
            snprintf(why, sizeof why, "%s", incept_last_error());
            free_quantized(s);
            return incept_fail(st, "quantizing node '%s': %s", n->name, why);
        }
        quantized += s->quantized[i] != NULL;
    }
    if (uncalibrated >= 0) {
        const char *name = g->nodes[uncalibrated].name;
        free_quantized(s);
        return incept_fail(INCEPT_ERR_ARG, "the input of '%s' has no range for 8 bits: calibrate "
                           "the model first (incept_session_calibrate, `--calib`)", name);
    }
    if (!quantized) {
        free_quantized(s);
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "the model has no layer with an int8 form "
                           "(convolutions of one group)");
    }
    s->precision = INCEPT_PRECISION_INT8;
    return INCEPT_OK;
}

/* Widens value v's range to cover its view's values of the pass just run. */
static void observe(incept_value *val, const incept_view *t)
{
    float lo = val->has_range ? val->range_lo : INFINITY, hi = val->has_range ? val->range_hi : -INFINITY;
    const size_t per_sample = (size_t)t->c * t->h * t->w;
    for (int s = 0; s < t->n; s++) {
        const float *x = t->data + s * t->batch_stride;
        for (size_t i = 0; i < per_sample; i++) {
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
        }
    }
    if (isfinite(lo) && isfinite(hi))
        val->has_range = 1, val->range_lo = lo, val->range_hi = hi;
}

#define CALIBRATION_BATCH 4 /* every activation is kept: a small batch keeps that small */

incept_status incept_session_calibrate(incept_session *s, const float *inputs, int count)
{
    if (!s || !inputs || count < 1)
        return incept_fail(INCEPT_ERR_ARG, "calibration needs a session and at least one sample");
    incept_graph *g = &s->model->graph;
    if (g->input < 0)
        return incept_fail(INCEPT_ERR_ARG, "calibration needs a model with an NCHW input");
    const incept_precision was = s->precision;
    incept_status st = was == INCEPT_PRECISION_FP32 ? INCEPT_OK
                                                    : incept_session_set_precision(s, INCEPT_PRECISION_FP32);
    const incept_value *in = &g->values[g->input];
    const size_t sample = (size_t)in->c * in->h * in->w;
    for (int done = 0; done < count && !st; done += CALIBRATION_BATCH) {
        const int batch = count - done < CALIBRATION_BATCH ? count - done : CALIBRATION_BATCH;
        if ((st = incept_session_plan(s, batch, 0, 1)) ||
            (st = incept_session_run_forward(s, inputs + (size_t)done * sample, 0, 0, 0)))
            break;
        for (int p = 0; p < s->n_order; p++) {
            const incept_node *n = &g->nodes[s->order[p]];
            if (n->nd || !n->op->quantize || g->values[n->inputs[0]].generic)
                continue;
            observe(&g->values[n->inputs[0]], &s->views[n->inputs[0]]);
            observe(&g->values[n->output], &s->views[n->output]); /* for a quantized export */
        }
        incept_session_clear_values(s);
    }
    if (!st && was != INCEPT_PRECISION_FP32)
        st = incept_session_set_precision(s, was); /* the new ranges' codes */
    return st;
}
