/* test_ops.c — every op's forward pass against a naive loop implementation, on the edge
 * cases: stride 2, padding (also asymmetric), ceil mode, 1x1 spatial, batch > 1, channel counts
 * that are not multiples of 8, dilation and groups. */
#include "graph/graph.h"
#include "incept.h"
#include "naive.h"
#include "ops/op.h"
#include "test.h"

/* A one-op model: input [c,h,w] -> op -> output, with optional weight/bias params. */
typedef struct {
    incept_model *model;
    incept_session *session;
    float *input, *output;
    int n, c, h, w, oc, oh, ow;
} single;

static int add_params(incept_graph *g, int ndim, const int *dims, int with_bias, int *weight,
                      int *bias)
{
    if (incept_graph_add_param(g, "op.weight", ndim, dims, weight))
        return 0;
    *bias = -1;
    if (with_bias && incept_graph_add_param(g, "op.bias", 1, dims, bias))
        return 0;
    return 1;
}

/* Builds and runs; returns 0 (after a failed CHECK) if anything went wrong. */
static int run_single(single *s, const char *op, int n, int c, int h, int w, const incept_attrs *a,
                      int ndim, const int *dims, int with_bias, unsigned seed)
{
    incept_graph g;
    incept_graph_init(&g);
    int weight = -1, bias = -1, node;
    memset(s, 0, sizeof *s);
    s->n = n, s->c = c, s->h = h, s->w = w;
    incept_status st = incept_graph_set_input(&g, "x", c, h, w);
    if (!st && ndim > 0 && !add_params(&g, ndim, dims, with_bias, &weight, &bias))
        st = INCEPT_ERR_ARG;
    if (!st)
        st = incept_graph_add_node(&g, op, "op", &g.input, 1, a, weight, bias, NULL, &node);
    CHECK_MSG(st == INCEPT_OK, "%s: %s", op, incept_last_error());
    if (st) {
        incept_graph_free(&g);
        return 0;
    }
    g.output = g.nodes[node].output;
    CHECK_OK(incept_model_wrap(&g, &s->model));
    for (int i = 0; i < incept_model_param_count(s->model); i++) {
        float *data;
        int nd, d[4];
        incept_model_param(s->model, i, NULL, &nd, d, &data);
        size_t count = 1;
        for (int k = 0; k < nd; k++)
            count *= (size_t)d[k];
        fill_random(data, count, seed + 100 + (unsigned)i);
    }
    incept_model_output_dims(s->model, &s->oc, &s->oh, &s->ow);
    size_t in_count = (size_t)n * c * h * w, out_count = (size_t)n * s->oc * s->oh * s->ow;
    s->input = malloc(in_count * sizeof(float));
    s->output = malloc(out_count * sizeof(float));
    fill_random(s->input, in_count, seed);
    CHECK_OK(incept_session_new(s->model, &s->session));
    if (!s->session) {
        incept_model_free(s->model);
        free(s->input);
        free(s->output);
        return 0;
    }
    CHECK_OK(incept_session_forward(s->session, s->input, n, s->output));
    return 1;
}

static void free_single(single *s)
{
    incept_session_free(s->session);
    incept_model_free(s->model);
    free(s->input);
    free(s->output);
}

static float *param(single *s, int i)
{
    float *data = NULL;
    if (i < incept_model_param_count(s->model))
        incept_model_param(s->model, i, NULL, NULL, NULL, &data);
    return data;
}

/* The convolution's backward (every path: per-group GEMMs, chunks of samples, Winograd for the
 * input gradient, the depthwise direct loops) against the naive loops, adding into gradients
 * that already hold values, in the default (fast) mode. */
static void conv_backward_check(const char *label, single *s, const naive_window *win, int relu,
                                int with_bias)
{
    const incept_graph *g = &s->model->graph;
    const incept_node *node = &g->nodes[0];
    size_t in_count = (size_t)s->n * s->c * s->h * s->w, out_count = (size_t)s->n * s->oc * s->oh * s->ow;
    size_t w_count = g->params[node->weight].count;
    float *dy = malloc(out_count * sizeof(float)), *masked = malloc(out_count * sizeof(float));
    float *dx = malloc(in_count * sizeof(float)), *dx_expect = malloc(in_count * sizeof(float));
    float *dw = malloc(w_count * sizeof(float)), *dw_expect = malloc(w_count * sizeof(float));
    float db[256] = {0}, db_expect[256] = {0};
    fill_random(dy, out_count, 17);
    fill_random(dx, in_count, 18);
    fill_random(dw, w_count, 19);
    memcpy(dx_expect, dx, in_count * sizeof(float));
    memcpy(dw_expect, dw, w_count * sizeof(float));
    for (size_t i = 0; i < out_count; i++) /* the fused ReLU lets through where it was open */
        masked[i] = !relu || (s->output[i] > 0.0f && !(s->output[i] >= node->attrs.relu_max)) ? dy[i] : 0.0f;
    naive_conv_backward(s->input, s->n, s->c, s->h, s->w, param(s, 0), s->oc, win, masked, s->oh,
                        s->ow, dx_expect, dw_expect, with_bias ? db_expect : NULL);
    incept_run_config cfg = {s->n, 2, 0, 1, 0};
    float *workspace = malloc(sizeof(float) * (incept_op_conv.backward_workspace_floats(g, node, &cfg) + 1));
    incept_view in = {s->input, s->n, s->c, s->h, s->w, (size_t)s->c * s->h * s->w};
    incept_view out = {s->output, s->n, s->oc, s->oh, s->ow, (size_t)s->oc * s->oh * s->ow};
    incept_view grad_out = out, grad_in = in;
    grad_out.data = dy, grad_in.data = dx;
    incept_backward_args args = {
        .graph = g, .node = node, .inputs = &in, .input_grads = &grad_in, .n_inputs = 1,
        .output = out, .output_grad = grad_out, .weight = param(s, 0),
        .bias = with_bias ? param(s, 1) : NULL, .weight_grad = dw,
        .bias_grad = with_bias ? db : NULL, .workspace = workspace, .threads = 2,
    };
    incept_op_conv.backward(&args);
    float scale = 1.0f + max_abs(dx_expect, in_count) + max_abs(dw_expect, w_count);
    float diff = fmaxf(max_abs_diff(dx, dx_expect, in_count), max_abs_diff(dw, dw_expect, w_count));
    if (with_bias)
        diff = fmaxf(diff, max_abs_diff(db, db_expect, (size_t)s->oc));
    CHECK_MSG(diff < 2e-5f * scale, "%s backward: max diff %g of %g", label, (double)diff, (double)scale);
    free(dy), free(masked), free(dx), free(dx_expect), free(dw), free(dw_expect), free(workspace);
}

static void conv_case(const char *label, int n, int c, int h, int w, int m, naive_window win,
                      int relu, int with_bias)
{
    incept_attrs a = incept_attrs_default();
    a.out_channels = m;
    a.kernel_h = win.kh, a.kernel_w = win.kw, a.stride_h = win.sh, a.stride_w = win.sw;
    a.pad_top = win.pt, a.pad_left = win.pl, a.pad_bottom = win.pb, a.pad_right = win.pr;
    a.dilation_h = win.dh, a.dilation_w = win.dw, a.groups = win.groups;
    a.relu = relu != 0;
    if (relu == 2) /* ReLU6-like: clamped at 0.5 too */
        a.relu_max = 0.5f;
    int dims[4] = {m, c / win.groups, win.kh, win.kw};
    single s;
    if (!run_single(&s, "conv", n, c, h, w, &a, 4, dims, with_bias, (unsigned)(c * 31 + h)))
        return;
    int oh = naive_out_size(h, win.kh, win.sh, win.pt, win.pb, win.dh, 0);
    int ow = naive_out_size(w, win.kw, win.sw, win.pl, win.pr, win.dw, 0);
    CHECK_MSG(s.oc == m && s.oh == oh && s.ow == ow, "%s: dims %dx%dx%d, expected %dx%dx%d", label,
              s.oc, s.oh, s.ow, m, oh, ow);
    if (s.oh == oh && s.ow == ow) {
        size_t count = (size_t)n * m * oh * ow;
        float *expect = malloc(count * sizeof(float));
        naive_conv(s.input, n, c, h, w, param(&s, 0), with_bias ? param(&s, 1) : NULL, m, &win,
                   relu != 0, expect, oh, ow);
        for (size_t i = 0; relu == 2 && i < count; i++)
            expect[i] = expect[i] > 0.5f ? 0.5f : expect[i];
        float diff = max_abs_diff(s.output, expect, count);
        CHECK_MSG(diff < 1e-5f * (1.0f + max_abs(expect, count)), "%s: max diff %g", label,
                  (double)diff);
        free(expect);
        conv_backward_check(label, &s, &win, relu != 0, with_bias);
    }
    free_single(&s);
}

static void test_conv(void)
{
    naive_window w3 = {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    conv_case("3x3 pad 1, batch 2", 2, 5, 9, 9, 7, w3, 0, 1);
    conv_case("3x3 pad 1, batch 5 (GEMMs over 3 and 2 images)", 5, 4, 9, 9, 6, w3, 1, 1);
    conv_case("3x3 pad 1 relu", 1, 12, 6, 7, 9, w3, 1, 1);
    naive_window w7 = {7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1};
    conv_case("7x7/2 pad 3", 1, 3, 15, 15, 10, w7, 1, 1);
    naive_window w1 = {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1};
    conv_case("1x1 pointwise, batch 3", 3, 13, 5, 4, 6, w1, 0, 1);
    conv_case("1x1 on 1x1 spatial", 2, 17, 1, 1, 5, w1, 1, 0);
    naive_window asym = {3, 2, 2, 1, 0, 1, 2, 1, 1, 1, 1};
    conv_case("3x2 stride (2,1), pads (0,1,2,1)", 2, 4, 8, 7, 5, asym, 0, 1);
    naive_window dil = {3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 2};
    conv_case("dilation 2, groups 2", 1, 6, 7, 9, 4, dil, 0, 1);
    naive_window w5 = {5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1};
    conv_case("5x5 pad 2 on 1x1 spatial", 3, 5, 1, 1, 3, w5, 1, 1);
    naive_window s2 = {3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 1};
    conv_case("3x3/2 no pad, no bias", 2, 3, 10, 11, 3, s2, 0, 0);
    /* depthwise (groups = channels): the direct path, not per-group GEMMs */
    naive_window dw1 = {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8};
    conv_case("depthwise 3x3 pad 1 relu", 2, 8, 9, 10, 8, dw1, 1, 1);
    conv_case("depthwise 3x3 pad 1 ReLU clamped at 0.5", 2, 8, 9, 10, 8, dw1, 2, 1);
    conv_case("3x3 pad 1 ReLU clamped at 0.5 (Winograd-sized)", 2, 5, 12, 12, 7, w3, 2, 1);
    conv_case("1x1 ReLU clamped at 0.5", 3, 13, 5, 4, 6, w1, 2, 1);
    naive_window dw2 = {3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 6};
    conv_case("depthwise 3x3/2 pad 1", 3, 6, 11, 8, 6, dw2, 0, 1);
    naive_window dw3 = {5, 3, 2, 1, 2, 0, 1, 2, 2, 1, 5};
    conv_case("depthwise 5x3 stride (2,1) dilation (2,1), pads (2,0,1,2), no bias", 1, 5, 12, 7, 5, dw3, 0, 0);
    naive_window dm = {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4}; /* channel multiplier 3 */
    conv_case("depthwise x3 3x3 pad 1 relu", 2, 4, 9, 10, 12, dm, 1, 1);
    naive_window one = {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}; /* a one-channel image's first conv */
    conv_case("1 -> 9 channels 3x3 pad 1 relu (28x28: Winograd-sized)", 3, 1, 28, 28, 9, one, 1, 1);
    conv_case("1 -> 5 channels 5x5 pad 2", 2, 1, 13, 11, 5, w5, 0, 1);
}

static void pool_case(const char *label, const char *op, int n, int c, int h, int w, naive_window win,
                      int ceil_mode, int count_include_pad)
{
    incept_attrs a = incept_attrs_default();
    a.kernel_h = win.kh, a.kernel_w = win.kw, a.stride_h = win.sh, a.stride_w = win.sw;
    a.pad_top = win.pt, a.pad_left = win.pl, a.pad_bottom = win.pb, a.pad_right = win.pr;
    a.ceil_mode = ceil_mode;
    a.count_include_pad = count_include_pad;
    a.dilation_h = win.dh, a.dilation_w = win.dw;
    single s;
    if (!run_single(&s, op, n, c, h, w, &a, 0, NULL, 0, (unsigned)(h * 7 + w)))
        return;
    int oh = naive_out_size(h, win.kh, win.sh, win.pt, win.pb, win.dh, ceil_mode);
    int ow = naive_out_size(w, win.kw, win.sw, win.pl, win.pr, win.dw, ceil_mode);
    CHECK_MSG(s.oc == c && s.oh == oh && s.ow == ow, "%s: dims %dx%dx%d, expected %dx%dx%d", label,
              s.oc, s.oh, s.ow, c, oh, ow);
    if (s.oh == oh && s.ow == ow) {
        size_t count = (size_t)n * c * oh * ow;
        float *expect = malloc(count * sizeof(float));
        if (op[0] == 'm')
            naive_maxpool(s.input, n, c, h, w, &win, expect, oh, ow);
        else
            naive_avgpool(s.input, n, c, h, w, &win, count_include_pad, expect, oh, ow);
        float diff = max_abs_diff(s.output, expect, count);
        CHECK_MSG(diff < 1e-6f, "%s: max diff %g", label, (double)diff);
        free(expect);
    }
    free_single(&s);
}

/* Max pool backward against the naive loops, on inputs with many equal values (ties must go to
 * the first maximum of each window) and a dx that already holds a gradient (backward adds). */
static void maxpool_backward_case(const char *label, int n, int c, int h, int w, naive_window win,
                                  int ceil_mode)
{
    incept_attrs a = incept_attrs_default();
    a.kernel_h = win.kh, a.kernel_w = win.kw, a.stride_h = win.sh, a.stride_w = win.sw;
    a.pad_top = win.pt, a.pad_left = win.pl, a.pad_bottom = win.pb, a.pad_right = win.pr;
    a.ceil_mode = ceil_mode;
    a.dilation_h = win.dh, a.dilation_w = win.dw;
    single s;
    if (!run_single(&s, "maxpool", n, c, h, w, &a, 0, NULL, 0, (unsigned)(h * 5 + w)))
        return;
    size_t in_count = (size_t)n * c * h * w, out_count = (size_t)n * c * s.oh * s.ow;
    for (size_t i = 0; i < in_count; i++) /* four levels: ties in nearly every window */
        s.input[i] = (float)(int)(s.input[i] * 2.0f) * 0.5f;
    CHECK_OK(incept_session_forward(s.session, s.input, n, s.output));
    float *dy = malloc(out_count * sizeof(float)), *dx = malloc(in_count * sizeof(float));
    float *expect = malloc(in_count * sizeof(float));
    fill_random(dy, out_count, 7);
    fill_random(dx, in_count, 8);
    memcpy(expect, dx, in_count * sizeof(float));
    naive_maxpool_backward(s.input, n, c, h, w, &win, dy, s.oh, s.ow, expect);
    incept_view in = {s.input, n, c, h, w, (size_t)c * h * w};
    incept_view out = {s.output, n, c, s.oh, s.ow, (size_t)c * s.oh * s.ow};
    incept_view grad_out = out, grad_in = in;
    grad_out.data = dy, grad_in.data = dx;
    /* with the workspace a training plan gives it, and without (where a path needs scratch,
     * another path takes the plane) */
    const incept_run_config config = {.batch = n, .threads = 2, .training = 1};
    size_t scratch = incept_op_maxpool.backward_workspace_floats(&s.model->graph,
                                                                 &s.model->graph.nodes[0], &config);
    float *workspace = scratch ? malloc(scratch * sizeof(float)) : NULL;
    float *start = malloc(in_count * sizeof(float));
    memcpy(start, dx, in_count * sizeof(float));
    for (int with = 0; with < 2; with++) {
        memcpy(dx, start, in_count * sizeof(float));
        incept_backward_args args = {
            .graph = &s.model->graph, .node = &s.model->graph.nodes[0], .inputs = &in,
            .input_grads = &grad_in, .n_inputs = 1, .output = out, .output_grad = grad_out,
            .threads = 2, .workspace = with ? workspace : NULL,
        };
        incept_op_maxpool.backward(&args);
        float diff = max_abs_diff(dx, expect, in_count);
        CHECK_MSG(diff < 1e-6f, "%s backward (%s workspace): max diff %g", label,
                  with ? "with" : "without", (double)diff);
    }
    free(workspace);
    free(start);
    free(dy);
    free(dx);
    free(expect);
    free_single(&s);
}

static void test_pools(void)
{
    naive_window p3s2 = {3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 1};
    pool_case("max 3x3/2 ceil 112", "maxpool", 1, 3, 112, 112, p3s2, 1, 0);
    pool_case("max 3x3/2 ceil 14 (GoogLeNet pool4)", "maxpool", 2, 9, 14, 14, p3s2, 1, 0);
    pool_case("max 3x3/2 floor 14", "maxpool", 2, 9, 14, 14, p3s2, 0, 0);
    naive_window p3s1 = {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    pool_case("max 3x3/1 pad 1 ceil (Inception pool branch)", "maxpool", 2, 5, 7, 7, p3s1, 1, 0);
    pool_case("max 3x3/1 pad 1 on 1x1", "maxpool", 3, 4, 1, 1, p3s1, 1, 0);
    pool_case("max 3x3/1 pad 1, 14x14 planes (flat path)", "maxpool", 2, 6, 14, 14, p3s1, 0, 0);
    pool_case("max 3x3/1 pad 1, 2x9 and 9x2 (flat path edges)", "maxpool", 1, 3, 2, 9, p3s1, 0, 0);
    pool_case("max 3x3/1 pad 1, 9x2", "maxpool", 1, 3, 9, 2, p3s1, 0, 0);
    pool_case("max 3x3/1 pad 1, 1x5 (separable path)", "maxpool", 1, 2, 1, 5, p3s1, 0, 0);
    pool_case("max 3x3/1 pad 1, 70x70 (past the flat path)", "maxpool", 1, 2, 70, 70, p3s1, 0, 0);
    naive_window asym = {3, 2, 2, 3, 1, 0, 2, 1, 1, 1, 1};
    pool_case("max asymmetric pads and strides", "maxpool", 1, 3, 9, 10, asym, 0, 0);
    pool_case("max asymmetric ceil", "maxpool", 1, 3, 9, 10, asym, 1, 0);
    maxpool_backward_case("max 3x3/2 ceil 28", 2, 3, 28, 28, p3s2, 1);
    maxpool_backward_case("max 3x3/2 floor 15", 1, 4, 15, 15, p3s2, 0);
    /* the phase path of stride (2, 2), outputs 12 wide or more: pads and windows that start
     * before the plane, odd sizes, a 2x2 window */
    naive_window p3s2pad = {3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1}, p5s2 = {5, 5, 2, 2, 2, 1, 2, 2, 1, 1, 1};
    naive_window p2s2 = {2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1};
    maxpool_backward_case("max 3x3/2 pad 1 (stride-2 phases)", 2, 3, 13, 24, p3s2pad, 0);
    maxpool_backward_case("max 5x5/2 pads 2,1,2,2 ceil (stride-2 phases)", 1, 3, 11, 25, p5s2, 1);
    maxpool_backward_case("max 3x3/2 ceil 28 -> 14 (stride-2 phases)", 2, 4, 28, 28, p3s2, 1);
    maxpool_backward_case("max 2x2/2 on 9x27 (stride-2 phases)", 1, 2, 9, 27, p2s2, 0);
    maxpool_backward_case("max 3x3/2 pad 1 on 30x40 (stride-2 phases)", 1, 2, 30, 40, p3s2pad, 1);
    maxpool_backward_case("max 3x3/1 pad 1 (Inception pool branch)", 2, 3, 7, 7, p3s1, 1);
    /* the 3x3/1 winner search at the edges of small planes */
    maxpool_backward_case("max 3x3/1 pad 1 on 1x1", 1, 3, 1, 1, p3s1, 0);
    maxpool_backward_case("max 3x3/1 pad 1 on 2x9", 2, 3, 2, 9, p3s1, 0);
    maxpool_backward_case("max 3x3/1 pad 1 on 9x1", 1, 3, 9, 1, p3s1, 0);
    maxpool_backward_case("max 3x3/1 pad 1 on 1x6", 1, 3, 1, 6, p3s1, 0);
    /* more channels than a few, 14x14 planes */
    maxpool_backward_case("max 3x3/1 pad 1, 45 channels of 14x14", 2, 45, 14, 14, p3s1, 0);
    maxpool_backward_case("max asymmetric pads and strides", 1, 3, 9, 10, asym, 0);
    maxpool_backward_case("max asymmetric ceil", 2, 3, 9, 10, asym, 1);
    naive_window s21 = {3, 3, 2, 1, 1, 0, 1, 2, 1, 1, 1};
    maxpool_backward_case("max stride (2,1)", 1, 2, 8, 9, s21, 1);
    maxpool_backward_case("max 3x3/2 on a plane past the strided path (80x80)", 1, 2, 160, 160,
                          p3s2, 1);
    maxpool_backward_case("max 3x3/1 pad 1 past the flat path (70x70)", 1, 2, 70, 70, p3s1, 1);
    naive_window dil = {3, 2, 1, 2, 1, 0, 1, 1, 2, 3, 1}; /* ONNX MaxPool dilations (2, 3) */
    pool_case("max dilated (2,3), stride (1,2), padded", "maxpool", 2, 3, 9, 11, dil, 0, 0);
    pool_case("max dilated ceil", "maxpool", 1, 2, 10, 9, dil, 1, 0);
    maxpool_backward_case("max dilated (2,3)", 2, 3, 9, 11, dil, 0);
    naive_window a5s3 = {5, 5, 3, 3, 0, 0, 0, 0, 1, 1, 1};
    pool_case("avg 5x5/3 ceil 14 (aux head)", "avgpool", 2, 6, 14, 14, a5s3, 1, 1);
    pool_case("avg 5x5/3 ceil 13 (overhang)", "avgpool", 1, 6, 13, 13, a5s3, 1, 1);
    naive_window a3p1 = {3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1};
    pool_case("avg 3x3/2 pad 1 ceil count pad", "avgpool", 2, 3, 6, 6, a3p1, 1, 1);
    pool_case("avg 3x3/2 pad 1 ceil exclude pad", "avgpool", 2, 3, 6, 6, a3p1, 1, 0);
    pool_case("avg 3x3/2 pad 1 floor exclude pad", "avgpool", 1, 3, 7, 8, a3p1, 0, 0);
    naive_window a7 = {7, 7, 1, 1, 0, 0, 0, 0, 1, 1, 1};
    pool_case("avg 7x7/1 (pool5)", "avgpool", 2, 11, 7, 7, a7, 0, 0);
    pool_case("avg asymmetric ceil count pad", "avgpool", 2, 3, 9, 10, asym, 1, 1);

    incept_attrs a = incept_attrs_default();
    single s;
    if (run_single(&s, "globalavgpool", 3, 5, 4, 6, &a, 0, NULL, 0, 3)) {
        naive_window whole = {4, 6, 1, 1, 0, 0, 0, 0, 1, 1, 1};
        float expect[15];
        naive_avgpool(s.input, 3, 5, 4, 6, &whole, 1, expect, 1, 1);
        CHECK(s.oc == 5 && s.oh == 1 && s.ow == 1);
        CHECK(max_abs_diff(s.output, expect, 15) < 1e-6f);
        free_single(&s);
    }
}

static void test_lrn(void)
{
    const struct { int c, size; float alpha, beta, bias; } cases[] = {
        {7, 5, 1e-4f, 0.75f, 1.0f}, {3, 5, 0.5f, 0.75f, 2.0f}, {9, 4, 0.3f, 0.6f, 1.5f},
        {1, 3, 1.0f, 1.0f, 1.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        incept_attrs a = incept_attrs_default();
        a.size = cases[i].size, a.alpha = cases[i].alpha, a.beta = cases[i].beta;
        a.bias = cases[i].bias;
        single s;
        if (!run_single(&s, "lrn", 2, cases[i].c, 3, 5, &a, 0, NULL, 0, (unsigned)i))
            continue;
        size_t count = (size_t)2 * cases[i].c * 15;
        float *expect = malloc(count * sizeof(float));
        naive_lrn(s.input, 2, cases[i].c, 3, 5, a.size, a.alpha, a.beta, a.bias, expect);
        float diff = max_abs_diff(s.output, expect, count);
        CHECK_MSG(diff < 1e-6f, "LRN case %zu: max diff %g", i, (double)diff);
        free(expect);
        free_single(&s);
    }
}

/* relu -> lrn -> relu: the planner runs LRN and the second ReLU over their inputs' memory. */
static void test_in_place(void)
{
    incept_graph g;
    incept_graph_init(&g);
    int n = 2, c = 9, h = 17, w = 19, node, r1, norm, r2; /* 323 pixels: a partial 256 chunk */
    incept_attrs a = incept_attrs_default();
    a.size = 5, a.alpha = 0.5f, a.beta = 0.75f, a.bias = 1.5f;
    incept_attrs plain = incept_attrs_default();
    CHECK_OK(incept_graph_set_input(&g, "x", c, h, w));
    CHECK_OK(incept_graph_add_node(&g, "relu", "r1", &g.input, 1, &plain, -1, -1, NULL, &node));
    r1 = g.nodes[node].output;
    CHECK_OK(incept_graph_add_node(&g, "lrn", "norm", &r1, 1, &a, -1, -1, NULL, &node));
    norm = g.nodes[node].output;
    CHECK_OK(incept_graph_add_node(&g, "relu", "r2", &norm, 1, &plain, -1, -1, NULL, &node));
    r2 = g.nodes[node].output;
    g.output = r2;
    incept_model *m = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_wrap(&g, &m));
    if (m)
        CHECK_OK(incept_session_new(m, &s));
    if (!s) {
        incept_model_free(m);
        return;
    }
    size_t count = (size_t)n * c * h * w;
    float *x = malloc(count * sizeof(float)), *y = malloc(count * sizeof(float));
    float *relu = malloc(count * sizeof(float)), *expect = malloc(count * sizeof(float));
    fill_random(x, count, 17);
    CHECK_OK(incept_session_forward(s, x, n, y));
    CHECK(s->views[r1].data == s->views[norm].data && s->views[norm].data == s->views[r2].data);
    for (size_t i = 0; i < count; i++)
        relu[i] = x[i] > 0 ? x[i] : 0.0f;
    naive_lrn(relu, n, c, h, w, a.size, a.alpha, a.beta, a.bias, expect);
    CHECK_MSG(max_abs_diff(y, expect, count) < 1e-6f, "in-place LRN: max diff %g",
              (double)max_abs_diff(y, expect, count));
    free(x), free(y), free(relu), free(expect);
    incept_session_free(s);
    incept_model_free(m);
}

static void test_fc(void)
{
    /* batch 3: the dot-product path; batch 13: the SGEMM path */
    for (int batch = 3; batch <= 13; batch += 10)
        for (int relu = 0; relu <= 1; relu++) {
            incept_attrs a = incept_attrs_default();
            a.out_channels = 11;
            a.relu = relu;
            int dims[2] = {11, 3 * 7 * 2};
            single s;
            if (!run_single(&s, "fc", batch, 3, 7, 2, &a, 2, dims, 1, 9u + (unsigned)relu))
                continue;
            float expect[13 * 11];
            naive_fc(s.input, batch, 42, param(&s, 0), param(&s, 1), 11, relu, expect);
            CHECK(s.oc == 11 && s.oh == 1 && s.ow == 1);
            CHECK_MSG(max_abs_diff(s.output, expect, (size_t)batch * 11) < 1e-5f, "fc batch %d relu=%d",
                      batch, relu);
            free_single(&s);
        }
}

static void test_softmax(void)
{
    incept_attrs a = incept_attrs_default();
    single s;
    float expect[2 * 6 * 3 * 2];
    if (run_single(&s, "softmax", 2, 6, 1, 1, &a, 0, NULL, 0, 5)) {
        naive_softmax(s.input, 2, 1, 6, 1, expect);
        CHECK(max_abs_diff(s.output, expect, 12) < 1e-6f);
        free_single(&s);
    }
    if (run_single(&s, "softmax", 2, 6, 3, 2, &a, 0, NULL, 0, 6)) { /* per pixel over C */
        naive_softmax(s.input, 2, 6, 6, 6, expect);
        CHECK(max_abs_diff(s.output, expect, 72) < 1e-6f);
        free_single(&s);
    }
    a.softmax_over_chw = 1;
    if (run_single(&s, "softmax", 2, 6, 3, 2, &a, 0, NULL, 0, 7)) {
        naive_softmax(s.input, 2, 1, 36, 1, expect);
        CHECK(max_abs_diff(s.output, expect, 72) < 1e-6f);
        free_single(&s);
    }
    a.softmax_over_chw = 0;
    a.softmax_axis = 2; /* over H: per sample and channel, W groups of H values W apart */
    if (run_single(&s, "softmax", 2, 6, 3, 2, &a, 0, NULL, 0, 8)) {
        for (int sc = 0; sc < 2 * 6; sc++)
            naive_softmax(s.input + sc * 6, 1, 2, 3, 2, expect + sc * 6);
        CHECK(max_abs_diff(s.output, expect, 72) < 1e-6f);
        free_single(&s);
    }
    a.softmax_axis = 3; /* over W: rows of W contiguous values */
    if (run_single(&s, "softmax", 2, 6, 3, 2, &a, 0, NULL, 0, 9)) {
        naive_softmax(s.input, 2 * 6 * 3, 1, 2, 1, expect);
        CHECK(max_abs_diff(s.output, expect, 72) < 1e-6f);
        free_single(&s);
    }
}

static void test_elementwise(void)
{
    incept_attrs a = incept_attrs_default();
    single s;
    if (run_single(&s, "relu", 2, 3, 4, 5, &a, 0, NULL, 0, 11)) {
        int ok = 1;
        for (int i = 0; i < 120; i++)
            ok &= s.output[i] == (s.input[i] > 0 ? s.input[i] : 0.0f);
        CHECK(ok);
        free_single(&s);
    }
    a.ratio = 0.4f;
    if (run_single(&s, "dropout", 2, 3, 4, 5, &a, 0, NULL, 0, 12)) {
        CHECK(memcmp(s.output, s.input, 120 * sizeof(float)) == 0); /* identity at inference */
        free_single(&s);
    }
    if (run_single(&s, "flatten", 2, 3, 4, 5, &a, 0, NULL, 0, 13)) {
        CHECK(s.oc == 60 && s.oh == 1 && s.ow == 1);
        CHECK(memcmp(s.output, s.input, 120 * sizeof(float)) == 0);
        free_single(&s);
    }
    a.shape[0] = 4, a.shape[1] = 5, a.shape[2] = 2, a.shape[3] = 6; /* 3x4x5 -> 5x2x6 */
    if (run_single(&s, "reshape", 2, 3, 4, 5, &a, 0, NULL, 0, 13)) {
        CHECK(s.oc == 5 && s.oh == 2 && s.ow == 6);
        CHECK(memcmp(s.output, s.input, 120 * sizeof(float)) == 0);
        free_single(&s);
    }
    { /* a reshape that changes the count per sample is refused when the graph is built */
        incept_graph g;
        incept_graph_init(&g);
        int node;
        a.shape[3] = 7;
        CHECK_OK(incept_graph_set_input(&g, "x", 3, 4, 5));
        CHECK(incept_graph_add_node(&g, "reshape", "r", &g.input, 1, &a, -1, -1, NULL, &node) ==
              INCEPT_ERR_SHAPE);
        CHECK(strstr(incept_last_error(), "count per sample") != NULL);
        incept_graph_free(&g);
    }
    a = incept_attrs_default();
    a.pad_top = 1, a.pad_left = 0, a.pad_bottom = 2, a.pad_right = 3;
    a.value = 0.5f;
    if (run_single(&s, "pad", 2, 3, 2, 2, &a, 0, NULL, 0, 14)) {
        CHECK(s.oh == 5 && s.ow == 5);
        int ok = 1;
        for (int p = 0; p < 6; p++)
            for (int y = 0; y < 5; y++)
                for (int x = 0; x < 5; x++) {
                    int iy = y - 1, ix = x;
                    float expect = (iy >= 0 && iy < 2 && ix < 2) ? s.input[(p * 2 + iy) * 2 + ix] : 0.5f;
                    ok &= s.output[(p * 5 + y) * 5 + x] == expect;
                }
        CHECK(ok);
        free_single(&s);
    }
}

/* Concat of a graph input, two convs (written in place by the planner) and a nested concat. */
static void test_concat(void)
{
    incept_graph g;
    incept_graph_init(&g);
    int n = 2, c = 3, h = 4, w = 5;
    int wa, ba, wb, bb, node, a_out, b_out, inner, outer;
    int dims_a[4] = {4, 3, 1, 1}, dims_b[4] = {2, 3, 3, 3};
    incept_attrs ca = incept_attrs_default(), cb = incept_attrs_default(), plain = incept_attrs_default();
    ca.out_channels = 4;
    cb.out_channels = 2, cb.kernel_h = cb.kernel_w = 3, cb.pad_top = cb.pad_left = 1;
    cb.pad_bottom = cb.pad_right = 1;
    CHECK_OK(incept_graph_set_input(&g, "x", c, h, w));
    CHECK_OK(incept_graph_add_param(&g, "a.weight", 4, dims_a, &wa));
    CHECK_OK(incept_graph_add_param(&g, "a.bias", 1, dims_a, &ba));
    CHECK_OK(incept_graph_add_param(&g, "b.weight", 4, dims_b, &wb));
    CHECK_OK(incept_graph_add_param(&g, "b.bias", 1, dims_b, &bb));
    CHECK_OK(incept_graph_add_node(&g, "conv", "a", &g.input, 1, &ca, wa, ba, NULL, &node));
    a_out = g.nodes[node].output;
    CHECK_OK(incept_graph_add_node(&g, "conv", "b", &g.input, 1, &cb, wb, bb, NULL, &node));
    b_out = g.nodes[node].output;
    int in1[2] = {a_out, g.input};
    CHECK_OK(incept_graph_add_node(&g, "concat", "inner", in1, 2, &plain, -1, -1, NULL, &node));
    inner = g.nodes[node].output;
    int in2[2] = {b_out, inner};
    CHECK_OK(incept_graph_add_node(&g, "concat", "outer", in2, 2, &plain, -1, -1, NULL, &node));
    outer = g.nodes[node].output;
    g.output = outer;
    CHECK(g.values[outer].c == 2 + 4 + 3);
    incept_model *m = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_wrap(&g, &m));
    if (m)
        CHECK_OK(incept_session_new(m, &s));
    if (!s) {
        incept_model_free(m);
        return;
    }
    incept_model_init_weights(m, 5);
    float x[2 * 3 * 4 * 5], y[2 * 9 * 20], ya[2 * 4 * 20], yb[2 * 2 * 20];
    fill_random(x, sizeof x / sizeof x[0], 21);
    CHECK_OK(incept_session_forward(s, x, n, y));
    naive_window w1 = {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1}, w3 = {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    naive_conv(x, n, c, h, w, incept_graph_param_data(&m->graph, 0),
               incept_graph_param_data(&m->graph, 1), 4, &w1, 0, ya, h, w);
    naive_conv(x, n, c, h, w, incept_graph_param_data(&m->graph, 2),
               incept_graph_param_data(&m->graph, 3), 2, &w3, 0, yb, h, w);
    float expect[2 * 9 * 20];
    for (int i = 0; i < n; i++) {
        memcpy(expect + i * 180, yb + i * 40, 40 * sizeof(float));
        memcpy(expect + i * 180 + 40, ya + i * 80, 80 * sizeof(float));
        memcpy(expect + i * 180 + 120, x + i * 60, 60 * sizeof(float));
    }
    CHECK_MSG(max_abs_diff(y, expect, 360) < 1e-5f, "nested concat: %g",
              (double)max_abs_diff(y, expect, 360));
    /* the planner wrote the convs in place: their views are slices of the outer buffer */
    CHECK(s->views[a_out].data == s->views[outer].data + 2 * 20);
    CHECK(s->views[a_out].batch_stride == 9 * 20);
    /* with every activation kept (an intermediate asked for by name): the same output, and the
     * branch's own values */
    const char *names[2] = {"outer", "a"};
    incept_tensor in = {.dtype = INCEPT_FLOAT32, .rank = 4, .dims = {n, c, h, w}, .data = x};
    incept_tensor out[2] = {{0}, {0}};
    CHECK_OK(incept_session_run(s, 1, NULL, &in, 2, names, out));
    CHECK(out[0].data && out[0].rank == 4 && out[0].dims[0] == n && out[0].dims[1] == 9 &&
          out[0].dims[2] == h && out[0].dims[3] == w && memcmp(y, out[0].data, sizeof y) == 0);
    CHECK(out[1].data && out[1].rank == 4 && out[1].dims[1] == 4 && incept_tensor_count(&out[1]) == 2 * 4 * 20 &&
          max_abs_diff(out[1].data, ya, 2 * 4 * 20) < 1e-5f);
    incept_tensor_free(&out[0]);
    incept_tensor_free(&out[1]);
    incept_session_free(s);
    incept_model_free(m);
}

/* Batch normalization against its definition: at inference with the running statistics; in a
 * training forward with the batch's own (biased variance) and the running statistics moved by
 * momentum 0.1 towards the batch's (unbiased variance), as PyTorch's BatchNorm2d does. */
static void test_batchnorm(void)
{
    const int n = 3, c = 5, h = 4, w = 6, plane = h * w;
    incept_model *m = NULL;
    incept_session *session = NULL;
    CHECK_OK(incept_model_parse_description("input x 5 4 6\nbatchnorm bn relu\n", "bn", &m));
    if (m)
        CHECK_OK(incept_session_new(m, &session));
    if (!session) {
        incept_model_free(m);
        return;
    }
    float *gamma, *beta, *mean, *var, x[3 * 5 * 4 * 6], y[3 * 5 * 4 * 6];
    incept_model_param(m, 0, NULL, NULL, NULL, &gamma);
    incept_model_param(m, 1, NULL, NULL, NULL, &beta);
    incept_model_param(m, 2, NULL, NULL, NULL, &mean);
    incept_model_param(m, 3, NULL, NULL, NULL, &var);
    fill_random(gamma, c, 1);
    fill_random(beta, c, 2);
    fill_random(mean, c, 3);
    fill_random(var, c, 4);
    for (int k = 0; k < c; k++)
        var[k] = 0.5f + var[k] * var[k];
    fill_random(x, sizeof x / sizeof x[0], 5);
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = 3.0f * x[i] + 1.0f; /* statistics far from (0, 1) */
    CHECK_OK(incept_session_forward(session, x, n, y));
    float worst = 0.0f;
    for (int s = 0; s < n; s++)
        for (int k = 0; k < c; k++)
            for (int i = 0; i < plane; i++) {
                float v = gamma[k] * (x[(s * c + k) * plane + i] - mean[k]) / sqrtf(var[k] + 1e-5f) +
                          beta[k];
                worst = fmaxf(worst, fabsf(y[(s * c + k) * plane + i] - (v > 0.0f ? v : 0.0f)));
            }
    CHECK_MSG(worst < 1e-5f, "batchnorm inference: max diff %g", (double)worst);

    float old_mean[5], old_var[5];
    memcpy(old_mean, mean, sizeof old_mean);
    memcpy(old_var, var, sizeof old_var);
    CHECK_OK(incept_session_plan(session, n, 1, 1));
    incept_session_run_forward(session, x, 1, 0, 0);
    const incept_view *out = &session->views[m->graph.output];
    float worst_y = 0.0f, worst_stats = 0.0f;
    for (int k = 0; k < c; k++) {
        double sum = 0.0, squares = 0.0, count = (double)n * plane;
        for (int s = 0; s < n; s++)
            for (int i = 0; i < plane; i++)
                sum += x[(s * c + k) * plane + i];
        double mu = sum / count;
        for (int s = 0; s < n; s++)
            for (int i = 0; i < plane; i++)
                squares += (x[(s * c + k) * plane + i] - mu) * (x[(s * c + k) * plane + i] - mu);
        double sigma2 = squares / count;
        for (int s = 0; s < n; s++)
            for (int i = 0; i < plane; i++) {
                double v = gamma[k] * (x[(s * c + k) * plane + i] - mu) / sqrt(sigma2 + 1e-5) + beta[k];
                float got = out->data[s * out->batch_stride + (size_t)k * plane + i];
                worst_y = fmaxf(worst_y, fabsf(got - (float)(v > 0.0 ? v : 0.0)));
            }
        float expect_mean = 0.9f * old_mean[k] + 0.1f * (float)mu;
        float expect_var = 0.9f * old_var[k] + 0.1f * (float)(squares / (count - 1.0));
        worst_stats = fmaxf(worst_stats, fmaxf(fabsf(mean[k] - expect_mean), fabsf(var[k] - expect_var)));
    }
    CHECK_MSG(worst_y < 1e-5f, "batchnorm training forward: max diff %g", (double)worst_y);
    CHECK_MSG(worst_stats < 1e-5f, "batchnorm running statistics: max diff %g", (double)worst_stats);
    incept_session_free(session);
    incept_model_free(m);
}

int main(void)
{
    test_conv();
    test_pools();
    test_lrn();
    test_in_place();
    test_fc();
    test_softmax();
    test_elementwise();
    test_concat();
    test_batchnorm();
    return test_summary("test_ops");
}
