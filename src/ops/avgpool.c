/* avgpool.c — 2-D average pooling with kernel, stride, asymmetric padding, ceil mode and
 * count_include_pad, as PyTorch's avg_pool2d and ONNX AveragePool define the divisor: with
 * count_include_pad the window is clipped to the padded input (not to the ceil-mode overhang);
 * without it, to the real input. */
#include "ops/op.h"

incept_status incept_pool_infer(const incept_graph *g, const incept_node *n, int *c, int *h, int *w);
void incept_pool_describe(const incept_graph *g, const incept_node *n, int drawing, char *buf, size_t size);
incept_status incept_pool_to_onnx(const struct incept_onnx_export_s *e);
incept_status incept_pool_from_onnx(struct incept_onnx_importer *im, const struct Onnx__NodeProto *n);

/* The window of output (oy, ox) clipped to the input, [y0, y1) x [x0, x1), and its divisor. */
typedef struct {
    int y0, y1, x0, x1;
    long long count; /* a padded window may hold more than an int counts (1e5 x 1e5 taps) */
} window;

static window window_at(const incept_attrs *a, int in_h, int in_w, int oy, int ox)
{
    window wd;
    int y0 = oy * a->stride_h - a->pad_top, y1 = y0 + a->kernel_h;
    int x0 = ox * a->stride_w - a->pad_left, x1 = x0 + a->kernel_w;
    if (y1 > in_h + a->pad_bottom) y1 = in_h + a->pad_bottom;
    if (x1 > in_w + a->pad_right) x1 = in_w + a->pad_right;
    /* clipped to the padding, not to the ceil overhang */
    long long padded = (long long)(y1 - y0) * (x1 - x0);
    wd.y0 = y0 < 0 ? 0 : y0, wd.y1 = y1 > in_h ? in_h : y1;
    wd.x0 = x0 < 0 ? 0 : x0, wd.x1 = x1 > in_w ? in_w : x1;
    wd.count = a->count_include_pad ? padded : (long long)(wd.y1 - wd.y0) * (wd.x1 - wd.x0);
    return wd;
}

static void avgpool_forward(const incept_op_args *args)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_view *in = &args->inputs[0], *out = &args->output;
    int planes = in->n * in->c;
#pragma omp parallel for num_threads(args->threads) schedule(static)
    for (int p = 0; p < planes; p++) {
        int s = p / in->c, ch = p % in->c;
        const float *x = in->data + s * in->batch_stride + (size_t)ch * in->h * in->w;
        float *y = out->data + s * out->batch_stride + (size_t)ch * out->h * out->w;
        for (int oy = 0; oy < out->h; oy++)
            for (int ox = 0; ox < out->w; ox++) {
                window wd = window_at(a, in->h, in->w, oy, ox);
                float sum = 0.0f;
                for (int iy = wd.y0; iy < wd.y1; iy++)
                    for (int ix = wd.x0; ix < wd.x1; ix++)
                        sum += x[iy * in->w + ix];
                y[oy * out->w + ox] = wd.count > 0 ? sum / (float)wd.count : 0.0f;
            }
    }
}

/* Each output's gradient spread evenly over its window, with the forward pass's divisor. */
static void avgpool_backward(const incept_backward_args *args)
{
    const incept_attrs *a = &args->node->attrs;
    const incept_view *dy = &args->output_grad, *dx = &args->input_grads[0];
    if (!dx->data)
        return;
    int planes = dx->n * dx->c;
#pragma omp parallel for num_threads(args->threads) schedule(static)
    for (int p = 0; p < planes; p++) {
        int s = p / dx->c, ch = p % dx->c;
        const float *g = dy->data + s * dy->batch_stride + (size_t)ch * dy->h * dy->w;
        float *d = dx->data + s * dx->batch_stride + (size_t)ch * dx->h * dx->w;
        for (int oy = 0; oy < dy->h; oy++)
            for (int ox = 0; ox < dy->w; ox++) {
                window wd = window_at(a, dx->h, dx->w, oy, ox);
                if (wd.count <= 0)
                    continue;
                float share = g[oy * dy->w + ox] / (float)wd.count;
                for (int iy = wd.y0; iy < wd.y1; iy++)
                    for (int ix = wd.x0; ix < wd.x1; ix++)
                        d[iy * dx->w + ix] += share;
            }
    }
}

const incept_op incept_op_avgpool = {
    .name = "avgpool", .min_inputs = 1, .max_inputs = 1,
    .infer = incept_pool_infer, .forward = avgpool_forward,
    .backward = avgpool_backward,
    .label = "avg pool",
    .drawing_color = "#e3f4e1",
    .describe = incept_pool_describe,
    .to_onnx = incept_pool_to_onnx,
    .onnx_types = {"AveragePool"},
    .from_onnx = incept_pool_from_onnx,
};
