/* test_nd_grad.c — the N-d reference ops' backward (nd/nd.h, INCEPT_ND_GRAD) against central
 * finite differences: for a node with random inputs and a random upstream R shaped as its
 * output, the loss L = sum(out * R), computed in double over the float forward, is nudged input
 * entry by input entry, and each difference quotient compared with what the backward added into
 * a zeroed din given dout = R. Each case also calls the backward a second time to see it add
 * (din doubles) rather than overwrite. Broadcasting, attributes and opset differences get cases
 * of their own; max-like ops get distinct values, kinks (ReLU's 0, Clip's bounds) get inputs
 * kept away from them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nd/nd.h"
#include "onnx.pb-c.h"
#include "test.h"

#define MAX_IN 8
#define MAX_ATTRS 8

/* ---- nodes ---- */

typedef struct {
    Onnx__NodeProto node;
    Onnx__AttributeProto attrs[MAX_ATTRS], *list[MAX_ATTRS];
    int64_t ints[MAX_ATTRS][2 * INCEPT_MAX_RANK];
    int opset;
} test_node;

static void node_init(test_node *t, const char *op, int opset)
{
    memset(t, 0, sizeof *t);
    onnx__node_proto__init(&t->node);
    t->node.op_type = (char *)op;
    t->node.name = (char *)"under_test";
    t->node.attribute = t->list;
    t->opset = opset;
}

static Onnx__AttributeProto *attr_new(test_node *t, const char *name)
{
    Onnx__AttributeProto *a = &t->attrs[t->node.n_attribute];
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    t->list[t->node.n_attribute++] = a;
    return a;
}

static void attr_int(test_node *t, const char *name, long long v)
{
    Onnx__AttributeProto *a = attr_new(t, name);
    a->has_type = 1, a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1, a->i = v;
}

static void attr_float(test_node *t, const char *name, float v)
{
    Onnx__AttributeProto *a = attr_new(t, name);
    a->has_type = 1, a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1, a->f = v;
}

static void attr_ints(test_node *t, const char *name, int n, const long long *v)
{
    int64_t *store = t->ints[t->node.n_attribute];
    Onnx__AttributeProto *a = attr_new(t, name);
    a->has_type = 1, a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    for (int i = 0; i < n; i++)
        store[i] = v[i];
    a->n_ints = (size_t)n, a->ints = store;
}

static void attr_string(test_node *t, const char *name, const char *v)
{
    Onnx__AttributeProto *a = attr_new(t, name);
    a->has_type = 1, a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    a->has_s = 1, a->s.data = (uint8_t *)v, a->s.len = strlen(v);
}

static incept_nd_context context_of(const test_node *t)
{
    incept_nd_context ctx = {.path = "test_nd_grad", .node = &t->node, .opset = t->opset, .threads = 1};
    return ctx;
}

/* ---- tensors ---- */

static unsigned seed = 1;

static incept_tensor floats(int rank, const long long *dims)
{
    incept_tensor a = {.dtype = INCEPT_FLOAT32, .rank = rank};
    for (int d = 0; d < rank; d++)
        a.dims[d] = dims[d];
    size_t n = incept_tensor_count(&a);
    a.data = calloc(n + 1, sizeof(float));
    fill_random(a.data, n, seed++);
    return a;
}

static incept_tensor zeros_like(const incept_tensor *t)
{
    incept_tensor a = {.dtype = INCEPT_FLOAT32, .rank = t->rank};
    memcpy(a.dims, t->dims, sizeof a.dims);
    a.data = calloc(incept_tensor_count(t) + 1, sizeof(float));
    return a;
}

static incept_tensor int64s(int rank, const long long *dims, const long long *values)
{
    incept_tensor a = {.dtype = INCEPT_INT64, .rank = rank};
    for (int d = 0; d < rank; d++)
        a.dims[d] = dims[d];
    size_t n = incept_tensor_count(&a);
    a.data = calloc(n + 1, sizeof(long long));
    memcpy(a.data, values, sizeof(long long) * n);
    return a;
}

static incept_tensor scalar(float v)
{
    incept_tensor a = floats(0, NULL);
    *(float *)a.data = v;
    return a;
}

static incept_tensor boolean(int v)
{
    incept_tensor a = {.dtype = INCEPT_BOOL, .rank = 0};
    a.data = calloc(1, 1);
    *(unsigned char *)a.data = (unsigned char)v;
    return a;
}

/* Keeps every value at least `margin` from `point` (a kink of the op). */
static void keep_away(incept_tensor *t, float point, float margin)
{
    float *x = t->data;
    for (size_t i = 0, n = incept_tensor_count(t); i < n; i++)
        if (fabsf(x[i] - point) < margin)
            x[i] = point + (x[i] >= point ? margin : -margin);
}

/* Distinct values `gap` apart, shuffled: max-like ops then have no ties within a nudge. */
static void distinct(incept_tensor *t, float gap)
{
    float *x = t->data;
    size_t n = incept_tensor_count(t);
    unsigned s = seed++ * 2654435761u + 7u;
    for (size_t i = 0; i < n; i++)
        x[i] = ((float)i - (float)n / 2.0f) * gap;
    for (size_t i = n; i > 1; i--) {
        s = s * 1664525u + 1013904223u;
        size_t j = (s >> 8) % i;
        float v = x[i - 1];
        x[i - 1] = x[j], x[j] = v;
    }
}

/* ---- the check ---- */

/* L = sum(out[0] * r) from a fresh forward; NAN when the forward fails. */
static double loss(const test_node *t, incept_tensor *const *in, int n_in, int n_out, const incept_tensor *r)
{
    incept_nd_context ctx = context_of(t);
    incept_tensor out[4];
    memset(out, 0, sizeof out);
    double total = NAN;
    if (incept_nd_find_op(t->node.op_type)(&ctx, (const incept_tensor *const *)in, n_in, out, n_out) ==
        INCEPT_OK) {
        const float *y = out[0].data, *w = r->data;
        total = 0.0;
        for (size_t i = 0, n = incept_tensor_count(&out[0]); i < n; i++)
            total += (double)y[i] * w[i];
    }
    for (int k = 0; k < n_out; k++)
        incept_tensor_free(&out[k]);
    return total;
}

/* The worst |analytic - numeric| / (tol * max(1, |numeric|)) over input i's entries (> 1: a
 * mismatch), nudging each by eps; *where gets the entry. */
static double worst_error(const test_node *t, incept_tensor *const *in, int n_in, int n_out,
                          const incept_tensor *r, int i, const float *analytic, double eps, double tol,
                          size_t *where, double *numeric_at)
{
    float *x = in[i]->data;
    double worst = 0.0;
    for (size_t j = 0, n = incept_tensor_count(in[i]); j < n; j++) {
        float keep = x[j];
        x[j] = (float)(keep + eps);
        double up = loss(t, in, n_in, n_out, r);
        double step_up = (double)x[j] - keep;
        x[j] = (float)(keep - eps);
        double down = loss(t, in, n_in, n_out, r);
        double step_down = keep - (double)x[j];
        x[j] = keep;
        double numeric = (up - down) / (step_up + step_down); /* the steps as float rounded them */
        double error = fabs(analytic[j] - numeric) / (tol * (fabs(numeric) > 1.0 ? fabs(numeric) : 1.0));
        if (!(error <= worst)) {
            worst = error != error ? INFINITY : error;
            *where = j, *numeric_at = numeric;
        }
    }
    return worst;
}

typedef struct {
    const char *label;
    double eps, tol;
    int n_out;            /* the node's outputs (0: 1) */
    unsigned wanted;      /* bit i: input i gets a gradient (0: every float32 input) */
} grad_case;

/* Runs the forward, the backward with dout = R, the finite differences for every wanted input
 * (one check each), and the second backward that must double din. Frees nothing of `in`. */
static void check_grad(const test_node *t, incept_tensor *const *in, int n_in, grad_case c)
{
    incept_nd_context ctx = context_of(t);
    incept_nd_fn forward = incept_nd_find_op(t->node.op_type);
    incept_nd_grad_fn backward = incept_nd_find_grad(t->node.op_type);
    CHECK_MSG(forward && backward, "%s: %s has no forward or backward", c.label, t->node.op_type);
    if (!forward || !backward)
        return;
    int n_out = c.n_out ? c.n_out : 1;
    double eps = c.eps ? c.eps : 1e-2, tol = c.tol ? c.tol : 1e-2;
    incept_tensor out[4], r, grads[MAX_IN], *din[MAX_IN] = {0};
    const incept_tensor *dout[4] = {0};
    memset(out, 0, sizeof out);
    memset(grads, 0, sizeof grads);
    incept_status st = forward(&ctx, (const incept_tensor *const *)in, n_in, out, n_out);
    CHECK_MSG(st == INCEPT_OK, "%s: forward: %s", c.label, incept_last_error());
    if (st)
        return;
    r = floats(out[0].rank, out[0].dims);
    dout[0] = &r;
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->dtype == INCEPT_FLOAT32 && (!c.wanted || (c.wanted >> i & 1))) {
            grads[i] = zeros_like(in[i]);
            din[i] = &grads[i];
        }
    st = backward(&ctx, (const incept_tensor *const *)in, n_in, out, n_out, dout, din);
    CHECK_MSG(st == INCEPT_OK, "%s: backward: %s", c.label, incept_last_error());
    for (int i = 0; i < n_in && !st; i++) {
        if (!din[i])
            continue;
        size_t where = 0;
        double numeric = 0.0;
        double worst = worst_error(t, in, n_in, n_out, &r, i, grads[i].data, eps, tol, &where, &numeric);
        CHECK_MSG(worst <= 1.0, "%s: input %d entry %zu: backward %g, finite differences %g", c.label, i,
                  where, (double)((float *)grads[i].data)[where], numeric);
    }
    if (!st) { /* a second backward adds the same again */
        float *once[MAX_IN] = {0};
        for (int i = 0; i < n_in; i++)
            if (din[i]) {
                size_t n = incept_tensor_count(in[i]);
                once[i] = malloc(sizeof(float) * (n + 1));
                memcpy(once[i], grads[i].data, sizeof(float) * n);
            }
        st = backward(&ctx, (const incept_tensor *const *)in, n_in, out, n_out, dout, din);
        CHECK_MSG(st == INCEPT_OK, "%s: second backward: %s", c.label, incept_last_error());
        for (int i = 0; i < n_in; i++) {
            if (!din[i])
                continue;
            const float *g = grads[i].data;
            size_t bad = 0, n = incept_tensor_count(in[i]);
            for (size_t j = 0; j < n; j++)
                bad += !(fabsf(g[j] - 2.0f * once[i][j]) <= 1e-5f * fmaxf(1.0f, fabsf(g[j])));
            CHECK_MSG(!st && bad == 0, "%s: input %d: %zu of %zu entries not doubled by a second backward",
                      c.label, i, bad, n);
            free(once[i]);
        }
    }
    for (int i = 0; i < n_in; i++)
        free(grads[i].data);
    for (int k = 0; k < n_out; k++)
        incept_tensor_free(&out[k]);
    free(r.data);
}

static void free_inputs(incept_tensor *in, int n)
{
    for (int i = 0; i < n; i++)
        free(in[i].data);
}

#define DIMS(...) ((const long long[]){__VA_ARGS__})
#define RANK(...) ((int)(sizeof((const long long[]){__VA_ARGS__}) / sizeof(long long)))
#define FLOATS(...) floats(RANK(__VA_ARGS__), DIMS(__VA_ARGS__))

/* ---- the checker itself ---- */

/* It must be able to fail: a gradient off by a little on one entry is caught. */
static void test_checker_catches_errors(void)
{
    test_node t;
    node_init(&t, "Mul", 13);
    incept_tensor a = FLOATS(2, 3), b = FLOATS(2, 3), *in[2] = {&a, &b};
    incept_tensor out = {0}, r, da = zeros_like(&a);
    incept_nd_context ctx = context_of(&t);
    CHECK_OK(incept_nd_mul(&ctx, (const incept_tensor *const *)in, 2, &out, 1));
    r = floats(out.rank, out.dims);
    const incept_tensor *dout[1] = {&r};
    incept_tensor *din[2] = {&da, NULL};
    CHECK_OK(incept_nd_mul_grad(&ctx, (const incept_tensor *const *)in, 2, &out, 1, dout, din));
    size_t where;
    double numeric;
    CHECK(worst_error(&t, in, 2, 1, &r, 0, da.data, 1e-2, 1e-2, &where, &numeric) <= 1.0);
    ((float *)da.data)[4] += 0.05f;
    CHECK(worst_error(&t, in, 2, 1, &r, 0, da.data, 1e-2, 1e-2, &where, &numeric) > 1.0 && where == 4);
    free(a.data), free(b.data), free(out.data), free(r.data), free(da.data);
}

/* ---- 1. Add, Sub, Mul, Div, Sum with broadcasting ---- */

static void test_binary(const char *op, int rank_a, const long long *dims_a, int rank_b,
                        const long long *dims_b, const char *label)
{
    test_node t;
    node_init(&t, op, 14);
    incept_tensor x[2] = {floats(rank_a, dims_a), floats(rank_b, dims_b)}, *in[2] = {&x[0], &x[1]};
    if (strcmp(op, "Div") == 0)
        keep_away(&x[1], 0.0f, 0.5f);
    check_grad(&t, in, 2, (grad_case){.label = label});
    free_inputs(x, 2);
}

static void test_elementwise(void)
{
    const char *ops[] = {"Add", "Sub", "Mul", "Div"};
    char label[64];
    for (int k = 0; k < 4; k++) {
        snprintf(label, sizeof label, "%s same shape", ops[k]);
        test_binary(ops[k], 2, DIMS(2, 3), 2, DIMS(2, 3), label);
        snprintf(label, sizeof label, "%s [2,3,4] by [4]", ops[k]);
        test_binary(ops[k], 3, DIMS(2, 3, 4), 1, DIMS(4), label);
        snprintf(label, sizeof label, "%s [2,1,4] by [3,1]", ops[k]);
        test_binary(ops[k], 3, DIMS(2, 1, 4), 2, DIMS(3, 1), label);
        snprintf(label, sizeof label, "%s scalar by [3,2]", ops[k]);
        test_binary(ops[k], 0, NULL, 2, DIMS(3, 2), label);
        snprintf(label, sizeof label, "%s [3,1,2] by [1,4,1]", ops[k]);
        test_binary(ops[k], 3, DIMS(3, 1, 2), 3, DIMS(1, 4, 1), label);
    }
    test_node t;
    node_init(&t, "Sum", 13);
    incept_tensor x[3] = {FLOATS(2, 3), FLOATS(3), FLOATS(1, 3)}, *in[3] = {&x[0], &x[1], &x[2]};
    check_grad(&t, in, 3, (grad_case){.label = "Sum of [2,3], [3], [1,3]"});
    check_grad(&t, in, 1, (grad_case){.label = "Sum of one input"});
    check_grad(&t, in, 3, (grad_case){.label = "Sum, input 1 not wanted", .wanted = 5});
    free_inputs(x, 3);

    /* an integer input has no float gradient: asking for one is unsupported */
    node_init(&t, "Mul", 13);
    incept_tensor ia = int64s(1, DIMS(2), DIMS(1, 2)), ib = int64s(1, DIMS(2), DIMS(3, 4));
    incept_tensor *ins[2] = {&ia, &ib}, out = {0}, dx = zeros_like(&ia);
    incept_nd_context ctx = context_of(&t);
    CHECK_OK(incept_nd_mul(&ctx, (const incept_tensor *const *)ins, 2, &out, 1));
    incept_tensor g = zeros_like(&out);
    const incept_tensor *dout[1] = {&g};
    incept_tensor *din[2] = {&dx, NULL};
    CHECK(incept_nd_mul_grad(&ctx, (const incept_tensor *const *)ins, 2, &out, 1, dout, din) ==
          INCEPT_ERR_UNSUPPORTED);
    free(ia.data), free(ib.data), free(out.data), free(dx.data), free(g.data);
}

/* No gradient flowing (dout NULL) adds nothing. */
static void test_no_upstream(void)
{
    test_node t;
    node_init(&t, "Add", 13);
    incept_tensor a = FLOATS(2, 2), b = FLOATS(2), *in[2] = {&a, &b}, out = {0};
    incept_tensor da = zeros_like(&a), db = zeros_like(&b);
    incept_nd_context ctx = context_of(&t);
    CHECK_OK(incept_nd_add(&ctx, (const incept_tensor *const *)in, 2, &out, 1));
    const incept_tensor *dout[1] = {NULL};
    incept_tensor *din[2] = {&da, &db};
    CHECK_OK(incept_nd_add_grad(&ctx, (const incept_tensor *const *)in, 2, &out, 1, dout, din));
    CHECK(max_abs(da.data, 4) == 0.0f && max_abs(db.data, 2) == 0.0f);
    free(a.data), free(b.data), free(out.data), free(da.data), free(db.data);
}

/* ---- 2. Relu, Clip, Identity, Dropout ---- */

static void test_activations(void)
{
    test_node t;
    node_init(&t, "Relu", 14);
    incept_tensor x = FLOATS(2, 3, 4), *in[3] = {&x, NULL, NULL};
    keep_away(&x, 0.0f, 0.05f);
    check_grad(&t, in, 1, (grad_case){.label = "Relu"});

    node_init(&t, "Identity", 14);
    check_grad(&t, in, 1, (grad_case){.label = "Identity"});

    /* Clip from opset 11: bounds as inputs, which get gradients of their own */
    incept_tensor lo = scalar(-0.4f), hi = scalar(0.3f);
    keep_away(&x, -0.4f, 0.05f);
    keep_away(&x, 0.3f, 0.05f);
    in[1] = &lo, in[2] = &hi;
    node_init(&t, "Clip", 13);
    check_grad(&t, in, 3, (grad_case){.label = "Clip min and max inputs"});
    in[2] = NULL;
    check_grad(&t, in, 3, (grad_case){.label = "Clip min input only"});
    in[1] = NULL, in[2] = &hi;
    check_grad(&t, in, 3, (grad_case){.label = "Clip max input only"});
    node_init(&t, "Clip", 6);
    attr_float(&t, "min", -0.4f);
    attr_float(&t, "max", 0.3f);
    check_grad(&t, in, 1, (grad_case){.label = "Clip attributes (opset 6)"});

    /* at the bounds themselves the gradient passes, as PyTorch's clamp's does */
    node_init(&t, "Clip", 13);
    incept_tensor edge = FLOATS(4), one = zeros_like(&edge), dx = zeros_like(&edge), out = {0};
    float *e = edge.data, *u = one.data;
    e[0] = -0.4f, e[1] = 0.3f, e[2] = -0.5f, e[3] = 0.5f;
    for (int i = 0; i < 4; i++)
        u[i] = 1.0f;
    incept_tensor *edge_in[3] = {&edge, &lo, &hi}, dlo = zeros_like(&lo), dhi = zeros_like(&hi);
    incept_nd_context ctx = context_of(&t);
    CHECK_OK(incept_nd_clip(&ctx, (const incept_tensor *const *)edge_in, 3, &out, 1));
    const incept_tensor *dout[1] = {&one};
    incept_tensor *din[3] = {&dx, &dlo, &dhi};
    CHECK_OK(incept_nd_clip_grad(&ctx, (const incept_tensor *const *)edge_in, 3, &out, 1, dout, din));
    const float *d = dx.data;
    CHECK(d[0] == 1.0f && d[1] == 1.0f && d[2] == 0.0f && d[3] == 0.0f);
    CHECK(*(float *)dlo.data == 1.0f && *(float *)dhi.data == 1.0f);
    free(edge.data), free(one.data), free(dx.data), free(out.data), free(dlo.data), free(dhi.data);

    /* Dropout: the identity in inference, a mask output or not */
    incept_tensor ratio = scalar(0.3f), off = boolean(0), on = boolean(1);
    node_init(&t, "Dropout", 13);
    in[1] = &ratio, in[2] = &off;
    check_grad(&t, in, 3, (grad_case){.label = "Dropout training_mode false", .n_out = 2, .wanted = 1});
    node_init(&t, "Dropout", 7);
    attr_float(&t, "ratio", 0.5f);
    check_grad(&t, in, 1, (grad_case){.label = "Dropout opset 7"});
    /* in training mode it has none */
    node_init(&t, "Dropout", 13);
    in[2] = &on;
    incept_tensor y = zeros_like(&x), g = zeros_like(&x), dy = zeros_like(&x);
    const incept_tensor *gs[1] = {&g};
    incept_tensor *dxs[3] = {&dy, NULL, NULL};
    ctx = context_of(&t);
    CHECK(incept_nd_dropout_grad(&ctx, (const incept_tensor *const *)in, 3, &y, 1, gs, dxs) ==
          INCEPT_ERR_UNSUPPORTED);
    free(y.data), free(g.data), free(dy.data);
    free(x.data), free(lo.data), free(hi.data), free(ratio.data), free(off.data), free(on.data);
}

/* ---- 3. Reshape, Flatten, Squeeze, Unsqueeze ---- */

static void test_reshaping(void)
{
    test_node t;
    incept_tensor x = FLOATS(2, 3, 1, 2), shape = int64s(1, DIMS(2), DIMS(-1, 6));
    incept_tensor axes = int64s(1, DIMS(1), DIMS(2)), *in[2] = {&x, &shape};
    node_init(&t, "Reshape", 14);
    check_grad(&t, in, 2, (grad_case){.label = "Reshape to [-1, 6]"});
    node_init(&t, "Flatten", 13);
    attr_int(&t, "axis", 2);
    check_grad(&t, in, 1, (grad_case){.label = "Flatten axis 2"});
    node_init(&t, "Flatten", 13);
    attr_int(&t, "axis", 0);
    check_grad(&t, in, 1, (grad_case){.label = "Flatten axis 0"});
    in[1] = &axes;
    node_init(&t, "Squeeze", 13);
    check_grad(&t, in, 2, (grad_case){.label = "Squeeze axes input"});
    node_init(&t, "Squeeze", 11);
    attr_ints(&t, "axes", 1, DIMS(-2));
    check_grad(&t, in, 1, (grad_case){.label = "Squeeze axes attribute"});
    node_init(&t, "Unsqueeze", 13);
    check_grad(&t, in, 2, (grad_case){.label = "Unsqueeze axes input"});
    free(x.data), free(shape.data), free(axes.data);
}

/* ---- 4. Concat; 5. Gather; Pad ---- */

static void test_concat_gather_pad(void)
{
    test_node t;
    incept_tensor x[3] = {FLOATS(2, 1, 3), FLOATS(2, 2, 3), FLOATS(2, 3, 3)}, *in[4] = {&x[0], &x[1], &x[2]};
    node_init(&t, "Concat", 13);
    attr_int(&t, "axis", 1);
    check_grad(&t, in, 3, (grad_case){.label = "Concat axis 1"});
    check_grad(&t, in, 3, (grad_case){.label = "Concat axis 1, input 1 not wanted", .wanted = 5});
    free_inputs(x, 3);
    incept_tensor y[2] = {FLOATS(2, 3, 1), FLOATS(2, 3, 4)};
    in[0] = &y[0], in[1] = &y[1];
    node_init(&t, "Concat", 13);
    attr_int(&t, "axis", -1);
    check_grad(&t, in, 2, (grad_case){.label = "Concat axis -1"});
    free_inputs(y, 2);

    /* Gather: repeated and negative indices add up */
    incept_tensor data = FLOATS(4, 3), idx = int64s(1, DIMS(4), DIMS(1, -1, 1, 0));
    in[0] = &data, in[1] = &idx;
    node_init(&t, "Gather", 13);
    check_grad(&t, in, 2, (grad_case){.label = "Gather axis 0, repeats"});
    free(data.data), free(idx.data);
    data = FLOATS(2, 3, 4), idx = int64s(2, DIMS(2, 2), DIMS(0, 2, 2, -3));
    node_init(&t, "Gather", 13);
    attr_int(&t, "axis", 1);
    check_grad(&t, in, 2, (grad_case){.label = "Gather axis 1, indices [2,2]"});
    node_init(&t, "Gather", 13);
    attr_int(&t, "axis", -1);
    check_grad(&t, in, 2, (grad_case){.label = "Gather axis -1"});
    free(data.data), free(idx.data);

    /* Pad in every mode; the constant from an input gets the padding's gradients */
    data = FLOATS(2, 3, 4);
    incept_tensor pads = int64s(1, DIMS(6), DIMS(0, 1, 2, 1, 2, 1)), value = scalar(0.7f);
    incept_tensor pad_axes = int64s(1, DIMS(1), DIMS(-1)), axis_pads = int64s(1, DIMS(2), DIMS(2, 3));
    in[0] = &data, in[1] = &pads, in[2] = &value;
    const char *modes[] = {"constant", "edge", "reflect", "wrap"};
    char label[64];
    for (int k = 0; k < 4; k++) {
        node_init(&t, "Pad", 19);
        attr_string(&t, "mode", modes[k]);
        snprintf(label, sizeof label, "Pad %s", modes[k]);
        check_grad(&t, in, k ? 2 : 3, (grad_case){.label = label});
    }
    in[1] = &axis_pads, in[3] = &pad_axes;
    node_init(&t, "Pad", 19);
    attr_string(&t, "mode", "wrap");
    check_grad(&t, in, 4, (grad_case){.label = "Pad wrap, axes input"});
    node_init(&t, "Pad", 2);
    attr_ints(&t, "pads", 6, DIMS(1, 0, 1, 0, 2, 1));
    attr_float(&t, "value", -1.0f);
    check_grad(&t, in, 1, (grad_case){.label = "Pad attributes (opset 2)"});
    free(data.data), free(pads.data), free(value.data), free(pad_axes.data), free(axis_pads.data);
}

/* ---- 6. Gemm, MatMul ---- */

static void test_products(void)
{
    test_node t;
    char label[96];
    /* Gemm: every transposition, alpha and beta, C of every broadcast shape */
    const long long m = 3, k = 4, n = 5;
    struct { int rank; long long dims[2]; } cs[] = {{-1, {0}}, {0, {0}}, {1, {n}}, {2, {m, 1}}, {2, {1, n}},
                                                   {2, {m, n}}};
    for (int trans = 0; trans < 4; trans++)
        for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
            int ta = trans & 1, tb = trans >> 1;
            incept_tensor a = ta ? FLOATS(k, m) : FLOATS(m, k), b = tb ? FLOATS(n, k) : FLOATS(k, n);
            incept_tensor c = cs[ci].rank >= 0 ? floats(cs[ci].rank, cs[ci].dims) : (incept_tensor){0};
            incept_tensor *in[3] = {&a, &b, cs[ci].rank >= 0 ? &c : NULL};
            node_init(&t, "Gemm", 13);
            attr_int(&t, "transA", ta);
            attr_int(&t, "transB", tb);
            if (trans == 3) {
                attr_float(&t, "alpha", 0.7f);
                attr_float(&t, "beta", -1.3f);
            }
            snprintf(label, sizeof label, "Gemm transA %d transB %d, C of rank %d%s", ta, tb, cs[ci].rank,
                     trans == 3 ? ", alpha and beta" : "");
            check_grad(&t, in, in[2] ? 3 : 2, (grad_case){.label = label});
            free(a.data), free(b.data), free(c.data);
        }
    /* MatMul: batches broadcast, rank-1 operands promoted */
    struct { int ra; long long da[4]; int rb; long long db[4]; const char *label; } mm[] = {
        {2, {3, 4}, 2, {4, 5}, "MatMul [3,4] [4,5]"},
        {3, {2, 3, 4}, 2, {4, 5}, "MatMul [2,3,4] [4,5]"},
        {2, {3, 4}, 3, {2, 4, 5}, "MatMul [3,4] [2,4,5]"},
        {4, {2, 1, 3, 4}, 3, {3, 4, 2}, "MatMul [2,1,3,4] [3,4,2]"},
        {1, {4}, 3, {2, 4, 3}, "MatMul [4] [2,4,3]"},
        {3, {2, 3, 4}, 1, {4}, "MatMul [2,3,4] [4]"},
        {1, {4}, 1, {4}, "MatMul [4] [4]"},
    };
    for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++) {
        incept_tensor a = floats(mm[i].ra, mm[i].da), b = floats(mm[i].rb, mm[i].db), *in[2] = {&a, &b};
        node_init(&t, "MatMul", 13);
        check_grad(&t, in, 2, (grad_case){.label = mm[i].label});
        free(a.data), free(b.data);
    }
}

/* ---- 7. Softmax and the windowed ops ---- */

static void test_softmax(void)
{
    test_node t;
    incept_tensor x = FLOATS(2, 3, 4), *in[1] = {&x};
    node_init(&t, "Softmax", 13);
    check_grad(&t, in, 1, (grad_case){.label = "Softmax opset 13 default axis"});
    node_init(&t, "Softmax", 13);
    attr_int(&t, "axis", 1);
    check_grad(&t, in, 1, (grad_case){.label = "Softmax opset 13 axis 1"});
    node_init(&t, "Softmax", 11);
    check_grad(&t, in, 1, (grad_case){.label = "Softmax opset 11 default axis (flattened from 1)"});
    node_init(&t, "Softmax", 11);
    attr_int(&t, "axis", 0);
    check_grad(&t, in, 1, (grad_case){.label = "Softmax opset 11 axis 0"});
    free(x.data);
    /* LRN across channels, even and odd windows, rank 3 and 4, strong enough to matter */
    incept_tensor y = FLOATS(2, 5, 2, 3), z = FLOATS(1, 6, 4), *iny[1] = {&y}, *inz[1] = {&z};
    node_init(&t, "LRN", 13);
    attr_int(&t, "size", 3);
    attr_float(&t, "alpha", 0.5f);
    attr_float(&t, "beta", 0.75f);
    attr_float(&t, "bias", 1.5f);
    check_grad(&t, iny, 1, (grad_case){.label = "LRN size 3, 4-D"});
    node_init(&t, "LRN", 13);
    attr_int(&t, "size", 4);
    attr_float(&t, "alpha", 0.8f);
    attr_float(&t, "beta", 0.6f);
    check_grad(&t, inz, 1, (grad_case){.label = "LRN size 4 (uneven window), 3-D"});
    free(y.data);
    free(z.data);
}

static void test_pools(void)
{
    test_node t;
    incept_tensor x = FLOATS(2, 3, 5, 4), *in[1] = {&x};
    node_init(&t, "GlobalAveragePool", 13);
    check_grad(&t, in, 1, (grad_case){.label = "GlobalAveragePool"});
    distinct(&x, 0.01f);
    node_init(&t, "GlobalMaxPool", 13);
    check_grad(&t, in, 1, (grad_case){.label = "GlobalMaxPool", .eps = 1e-3});
    node_init(&t, "MaxPool", 13);
    attr_ints(&t, "kernel_shape", 2, DIMS(3, 2));
    attr_ints(&t, "strides", 2, DIMS(2, 1));
    attr_ints(&t, "pads", 4, DIMS(1, 0, 1, 1));
    check_grad(&t, in, 1, (grad_case){.label = "MaxPool 3x2 stride 2,1 padded", .eps = 1e-3});
    check_grad(&t, in, 1, (grad_case){.label = "MaxPool with Indices", .eps = 1e-3, .n_out = 2});
    node_init(&t, "MaxPool", 13);
    attr_ints(&t, "kernel_shape", 2, DIMS(2, 2));
    attr_ints(&t, "dilations", 2, DIMS(2, 1));
    attr_int(&t, "ceil_mode", 1);
    attr_ints(&t, "strides", 2, DIMS(2, 2));
    check_grad(&t, in, 1, (grad_case){.label = "MaxPool dilated, ceil_mode", .eps = 1e-3});
    for (int include = 0; include < 2; include++) {
        node_init(&t, "AveragePool", 13);
        attr_ints(&t, "kernel_shape", 2, DIMS(3, 3));
        attr_ints(&t, "strides", 2, DIMS(2, 2));
        attr_ints(&t, "pads", 4, DIMS(1, 1, 1, 1));
        attr_int(&t, "count_include_pad", include);
        check_grad(&t, in, 1, (grad_case){.label = include ? "AveragePool count_include_pad 1"
                                                           : "AveragePool count_include_pad 0"});
    }
    node_init(&t, "AveragePool", 13);
    attr_ints(&t, "kernel_shape", 2, DIMS(2, 3));
    attr_string(&t, "auto_pad", "SAME_UPPER");
    check_grad(&t, in, 1, (grad_case){.label = "AveragePool SAME_UPPER"});
    free(x.data);
    /* one and three spatial axes */
    incept_tensor line = FLOATS(2, 2, 7), cube = FLOATS(1, 2, 3, 4, 3);
    distinct(&line, 0.01f), distinct(&cube, 0.01f);
    in[0] = &line;
    node_init(&t, "MaxPool", 13);
    attr_ints(&t, "kernel_shape", 1, DIMS(3));
    attr_ints(&t, "strides", 1, DIMS(2));
    check_grad(&t, in, 1, (grad_case){.label = "MaxPool 1-d", .eps = 1e-3});
    node_init(&t, "AveragePool", 13);
    attr_ints(&t, "kernel_shape", 1, DIMS(2));
    check_grad(&t, in, 1, (grad_case){.label = "AveragePool 1-d"});
    in[0] = &cube;
    node_init(&t, "MaxPool", 13);
    attr_ints(&t, "kernel_shape", 3, DIMS(2, 2, 2));
    attr_ints(&t, "pads", 6, DIMS(0, 1, 0, 1, 0, 1));
    check_grad(&t, in, 1, (grad_case){.label = "MaxPool 3-d", .eps = 1e-3});
    node_init(&t, "GlobalMaxPool", 13);
    check_grad(&t, in, 1, (grad_case){.label = "GlobalMaxPool 3-d", .eps = 1e-3});
    free(line.data), free(cube.data);
}

static void test_conv(void)
{
    test_node t;
    incept_tensor x = FLOATS(2, 4, 5, 6), w = FLOATS(6, 2, 3, 3), b = FLOATS(6), *in[3] = {&x, &w, &b};
    node_init(&t, "Conv", 13);
    attr_int(&t, "group", 2);
    attr_ints(&t, "strides", 2, DIMS(2, 1));
    attr_ints(&t, "pads", 4, DIMS(1, 0, 1, 2));
    check_grad(&t, in, 3, (grad_case){.label = "Conv 2-d, groups 2, strides, pads, bias"});
    free(w.data);
    w = FLOATS(3, 4, 2, 2);
    node_init(&t, "Conv", 13);
    attr_ints(&t, "dilations", 2, DIMS(2, 1));
    attr_string(&t, "auto_pad", "SAME_LOWER");
    check_grad(&t, in, 2, (grad_case){.label = "Conv 2-d, dilations, SAME_LOWER, no bias"});
    check_grad(&t, in, 2, (grad_case){.label = "Conv weights only", .wanted = 2});
    free(x.data), free(w.data), free(b.data);
    /* depthwise 1-d and a 3-d convolution */
    x = FLOATS(2, 3, 9), w = FLOATS(3, 1, 3), b = FLOATS(3);
    node_init(&t, "Conv", 13);
    attr_int(&t, "group", 3);
    attr_ints(&t, "dilations", 1, DIMS(2));
    attr_ints(&t, "pads", 2, DIMS(1, 2));
    check_grad(&t, in, 3, (grad_case){.label = "Conv 1-d depthwise, dilated"});
    free(x.data), free(w.data), free(b.data);
    x = FLOATS(1, 2, 3, 4, 3), w = FLOATS(2, 2, 2, 2, 2), b = FLOATS(2);
    node_init(&t, "Conv", 13);
    attr_ints(&t, "strides", 3, DIMS(1, 2, 1));
    attr_ints(&t, "pads", 6, DIMS(0, 1, 1, 1, 0, 0));
    check_grad(&t, in, 3, (grad_case){.label = "Conv 3-d"});
    free(x.data), free(w.data), free(b.data);
}

/* The ops left without a backward say so through the table. */
static void test_table(void)
{
    const char *with[] = {"Add", "Sub", "Mul", "Div", "Sum", "Relu", "Clip", "Identity", "Dropout",
                          "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Concat", "Gather", "Pad", "Gemm",
                          "MatMul", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
                          "Softmax", "LRN"};
    for (size_t i = 0; i < sizeof with / sizeof with[0]; i++)
        CHECK_MSG(incept_nd_find_grad(with[i]) != NULL, "%s", with[i]);
    CHECK(incept_nd_find_grad("BatchNormalization") == NULL);
    CHECK(incept_nd_find_grad("Shape") == NULL);
    CHECK(incept_nd_find_grad("NoSuchOp") == NULL && incept_nd_find_grad(NULL) == NULL);
}

int main(void)
{
    test_checker_catches_errors();
    test_elementwise();
    test_no_upstream();
    test_activations();
    test_reshaping();
    test_concat_gather_pad();
    test_products();
    test_softmax();
    test_pools();
    test_conv();
    test_table();
    return test_summary("test_nd_grad");
}
