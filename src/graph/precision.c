/* precision.c — a session's arithmetic: bf16 and int8 inference (incept_session_set_precision)
 * and the calibration that gives int8 its codes (incept_session_calibrate).
 *
 * Calibration runs the model in float over representative samples with every activation kept
 * and records, for each value a node with a quantized form reads (a convolution's input) or
 * computes (its output: a quantized ONNX export codes both, as ONNX Runtime's int8 convolutions
 * want), the smallest and largest value it took: the range its 8-bit code covers (min/max
 * calibration).
 * The ranges belong to the model (a quantized model carries them); setting INT8 asks each such
 * node's op for its quantized form (conv.c: weights to 8 bits per output channel, the input's
 * scale and zero point from its range), which the session keeps and hands to forward; setting
 * BF16 likewise keeps each convolution's weights rounded to bf16 (op->to_bf16). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "kernels/gemm_kernels.h"
#include "kernels/qgemm.h"
#include "ops/op.h"

static void free_forms(incept_session *s)
{
    if (!s->forms)
        return;
    for (int i = 0; i < s->model->graph.n_nodes; i++)
        free(s->forms[i]);
    free(s->forms);
    s->forms = NULL;
}

void incept_session_free_precision(incept_session *s) { free_forms(s); }

/* Each node's form for `precision` from its op (quantize or to_bf16), where it has one. */
static incept_status make_forms(incept_session *s, incept_precision precision)
{
    const incept_graph *g = &s->model->graph;
    const int int8 = precision == INCEPT_PRECISION_INT8;
    if (!(s->forms = incept_calloc((size_t)g->n_nodes + 1, sizeof(void *))))
        return INCEPT_ERR_NOMEM;
    int made = 0, uncalibrated = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const incept_node *n = &g->nodes[i];
        incept_status (*form)(const incept_graph *, const incept_node *, void **) =
            int8 ? n->op->quantize : n->op->to_bf16;
        if (n->nd || !form || n->aux)
            continue; /* auxiliary heads: training only, never run in such a session */
        if (int8 && !g->values[n->inputs[0]].has_range) {
            if (uncalibrated < 0)
                uncalibrated = i;
            continue;
        }
        incept_status st = form(g, n, &s->forms[i]);
        if (st) {
            char why[256];
            snprintf(why, sizeof why, "%s", incept_last_error());
            free_forms(s);
            return incept_fail(st, "%s node '%s': %s", int8 ? "quantizing" : "rounding to bf16",
                               n->name, why);
        }
        made += s->forms[i] != NULL;
    }
    if (uncalibrated >= 0) {
        const char *name = g->nodes[uncalibrated].name;
        free_forms(s);
        return incept_fail(INCEPT_ERR_ARG, "the input of '%s' has no range for 8 bits: calibrate "
                           "the model first (incept_session_calibrate, `--calib`)", name);
    }
    if (!made) {
        free_forms(s);
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "the model has no layer with an %s form "
                           "(convolutions of one group)", int8 ? "int8" : "bf16");
    }
    return INCEPT_OK;
}

incept_status incept_session_set_precision(incept_session *s, incept_precision precision)
{
    if (!s)
        return incept_fail(INCEPT_ERR_ARG, "no session");
    if (precision != INCEPT_PRECISION_FP32 && precision != INCEPT_PRECISION_INT8 &&
        precision != INCEPT_PRECISION_BF16)
        return incept_fail(INCEPT_ERR_ARG, "unknown precision %d", (int)precision);
    free_forms(s);
    incept_session_drop_plan(s); /* workspaces and stacking depend on it */
    s->precision = INCEPT_PRECISION_FP32;
    if (precision == INCEPT_PRECISION_FP32)
        return INCEPT_OK;
    incept_status st = make_forms(s, precision);
    if (!st)
        s->precision = precision;
    return st;
}

const char *incept_precision_kernels(incept_precision precision)
{
    switch (precision) {
    case INCEPT_PRECISION_FP32:
        return incept_gemm_current()->name;
    case INCEPT_PRECISION_BF16:
        return incept_gemm_bf16_current()->name;
    case INCEPT_PRECISION_INT8:
        return incept_qgemm_isa();
    }
    return NULL;
}

/* ---- calibration ---- */

#define CALIBRATION_BATCH 4 /* every activation is kept: a small batch keeps that small */
#define BINS 2048           /* of a histogram of a value's magnitudes */
#define PERCENTILE 0.9999   /* of the values the percentile method's range holds */

/* What a calibration gathers per coded value (coded[v] >= 0: its slot), pass by pass: its
 * smallest and largest value (pass 0), then a histogram of (0, hi] (pass 1, non-negative
 * values under the histogram methods; zeros left out: a ReLU makes many, and every code holds
 * 0 exactly, so they only drag a threshold down). */
typedef struct {
    int *coded, n_coded;
    float *lo, *hi;
    double *hist;
    unsigned char *seen; /* values visited in the current pass over a batch */
} calibration;

static void observe(calibration *c, int pass, int v, const incept_view *t)
{
    const int k = c->coded[v];
    const size_t per_sample = (size_t)t->c * t->h * t->w;
    float lo = c->lo[k], hi = c->hi[k];
    double *h = c->hist ? c->hist + (size_t)k * BINS : NULL;
    const float width = hi / BINS;
    for (int s = 0; s < t->n; s++) {
        const float *x = t->data + s * t->batch_stride;
        if (pass == 0) {
            for (size_t i = 0; i < per_sample; i++) {
                lo = x[i] < lo ? x[i] : lo;
                hi = x[i] > hi ? x[i] : hi;
            }
        } else {
            for (size_t i = 0; i < per_sample; i++) { /* zeros (a ReLU's many) code exactly anyway */
                float b = x[i] / width;
                if (x[i] > 0.0f)
                    h[b >= BINS - 1 ? BINS - 1 : (int)b] += 1.0;
            }
        }
    }
    c->lo[k] = lo, c->hi[k] = hi;
}

/* The histogram's share in [0, bin) reaching `fraction`, as the bin past it. */
static int percentile_bin(const double *h, double fraction)
{
    double total = 0.0, sum = 0.0;
    for (int b = 0; b < BINS; b++)
        total += h[b];
    for (int b = 0; b < BINS; b++)
        if ((sum += h[b]) >= fraction * total)
            return b + 1;
    return BINS;
}

/* TensorRT's entropy calibration: the threshold (in bins) whose 256-level code loses the least
 * information: the Kullback-Leibler divergence of P, the histogram clipped there with the values
 * past it folded into its last bin, from Q, the clipped histogram without them merged into 256
 * levels and spread back over its non-empty bins (each normalized; an empty Q bin where P has
 * mass counts as a tiny one). */
static int entropy_bin(const double *h, double *p, double *q)
{
    const int levels = 256;
    double best = INFINITY, past = 0.0;
    int best_bin = BINS;
    for (int b = levels; b < BINS; b++)
        past += h[b];
    for (int i = levels; i <= BINS; i++) {
        double p_total = 0.0, q_total = 0.0;
        for (int b = 0; b < i; b++)
            p[b] = h[b], p_total += h[b];
        p[i - 1] += past, p_total += past;
        if (i < BINS)
            past -= h[i];
        for (int j = 0; j < levels; j++) {
            int start = (int)((long)j * i / levels), end = (int)((long)(j + 1) * i / levels);
            double sum = 0.0;
            int filled = 0;
            for (int b = start; b < end; b++)
                sum += h[b], filled += h[b] > 0.0;
            for (int b = start; b < end; b++)
                q[b] = h[b] > 0.0 ? sum / filled : 0.0;
            q_total += sum;
        }
        if (!(p_total > 0.0) || !(q_total > 0.0))
            continue;
        double divergence = 0.0;
        for (int b = 0; b < i; b++) {
            if (!(p[b] > 0.0))
                continue;
            double pb = p[b] / p_total, qb = q[b] > 0.0 ? q[b] / q_total : 1e-12;
            divergence += pb * log(pb / qb);
        }
        if (divergence < best)
            best = divergence, best_bin = i;
    }
    return best_bin;
}

/* One pass of float inference over every sample, each coded value observed once a batch. */
static incept_status calibration_pass(incept_session *s, calibration *c, int pass, const float *inputs,
                                      int count)
{
    incept_graph *g = &s->model->graph;
    const incept_value *in = &g->values[g->input];
    const size_t sample = (size_t)in->c * in->h * in->w;
    incept_status st = INCEPT_OK;
    for (int done = 0; done < count && !st; done += CALIBRATION_BATCH) {
        const int batch = count - done < CALIBRATION_BATCH ? count - done : CALIBRATION_BATCH;
        if ((st = incept_session_plan(s, batch, 0, 1)) ||
            (st = incept_session_run_forward(s, inputs + (size_t)done * sample, 0, 0, 0)))
            break;
        memset(c->seen, 0, (size_t)g->n_values);
        for (int p = 0; p < s->n_order; p++) {
            const incept_node *n = &g->nodes[s->order[p]];
            if (n->nd || !n->op->quantize || g->values[n->inputs[0]].generic)
                continue;
            const int values[2] = {n->inputs[0], n->output};
            for (int k = 0; k < 2; k++) {
                const int v = values[k];
                if (c->seen[v] || (pass == 1 && !(c->lo[c->coded[v]] >= 0.0f && c->hi[c->coded[v]] > 0.0f)))
                    continue;
                c->seen[v] = 1;
                observe(c, pass, v, &s->views[v]);
            }
        }
        incept_session_clear_values(s);
    }
    return st;
}

incept_status incept_session_calibrate_with(incept_session *s, const float *inputs, int count,
                                            incept_calibration method)
{
    if (!s || !inputs || count < 1)
        return incept_fail(INCEPT_ERR_ARG, "calibration needs a session and at least one sample");
    if (method != INCEPT_CALIBRATE_MINMAX && method != INCEPT_CALIBRATE_PERCENTILE &&
        method != INCEPT_CALIBRATE_ENTROPY)
        return incept_fail(INCEPT_ERR_ARG, "unknown calibration method %d", (int)method);
    incept_graph *g = &s->model->graph;
    if (g->input < 0)
        return incept_fail(INCEPT_ERR_ARG, "calibration needs a model with an NCHW input");
    calibration c = {0};
    c.coded = incept_malloc(sizeof(int) * ((size_t)g->n_values + 1));
    c.seen = incept_malloc((size_t)g->n_values + 1);
    if (!c.coded || !c.seen) {
        free(c.coded), free(c.seen);
        return INCEPT_ERR_NOMEM;
    }
    for (int v = 0; v < g->n_values; v++)
        c.coded[v] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const incept_node *n = &g->nodes[i];
        if (n->nd || !n->op->quantize)
            continue;
        if (c.coded[n->inputs[0]] < 0)
            c.coded[n->inputs[0]] = c.n_coded++;
        if (c.coded[n->output] < 0)
            c.coded[n->output] = c.n_coded++;
    }
    const int histograms = method != INCEPT_CALIBRATE_MINMAX;
    c.lo = incept_malloc(sizeof(float) * ((size_t)c.n_coded + 1));
    c.hi = incept_malloc(sizeof(float) * ((size_t)c.n_coded + 1));
    c.hist = histograms ? incept_calloc((size_t)c.n_coded * BINS + 1, sizeof(double)) : NULL;
    double *p = histograms ? incept_malloc(sizeof(double) * 2 * BINS) : NULL;
    const incept_precision was = s->precision;
    incept_status st = !c.lo || !c.hi || (histograms && (!c.hist || !p)) ? INCEPT_ERR_NOMEM : INCEPT_OK;
    for (int k = 0; k < c.n_coded && !st; k++)
        c.lo[k] = INFINITY, c.hi[k] = -INFINITY;
    if (!st && was != INCEPT_PRECISION_FP32)
        st = incept_session_set_precision(s, INCEPT_PRECISION_FP32);
    if (!st)
        st = calibration_pass(s, &c, 0, inputs, count);
    if (!st && histograms)
        st = calibration_pass(s, &c, 1, inputs, count);
    for (int v = 0; v < g->n_values && !st; v++) {
        const int k = c.coded[v];
        if (k < 0 || !isfinite(c.lo[k]) || !isfinite(c.hi[k]))
            continue;
        incept_value *val = &g->values[v];
        float lo = c.lo[k], hi = c.hi[k];
        if (histograms && lo >= 0.0f && hi > 0.0f) { /* non-negative (after a ReLU): clipped above */
            const double *h = c.hist + (size_t)k * BINS;
            int bin = method == INCEPT_CALIBRATE_PERCENTILE ? percentile_bin(h, PERCENTILE) : entropy_bin(h, p, p + BINS);
            hi = hi * (float)bin / BINS;
            val->has_range = 0; /* these replace what was held */
        }
        if (val->has_range) /* min/max widens what the model held */
            lo = val->range_lo < lo ? val->range_lo : lo, hi = val->range_hi > hi ? val->range_hi : hi;
        val->has_range = 1, val->range_lo = lo, val->range_hi = hi;
    }
    free(c.coded), free(c.seen), free(c.lo), free(c.hi), free(c.hist), free(p);
    if (!st && was != INCEPT_PRECISION_FP32)
        st = incept_session_set_precision(s, was); /* the new ranges' codes */
    return st;
}

incept_status incept_session_calibrate(incept_session *s, const float *inputs, int count)
{
    return incept_session_calibrate_with(s, inputs, count, INCEPT_CALIBRATE_MINMAX);
}
