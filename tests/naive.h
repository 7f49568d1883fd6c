/* naive.h — straightforward loop implementations of the ops, written from the definitions
 * (PyTorch / ONNX) with no tricks, to check the engine's ops against. Dense NCHW tensors. */
#ifndef INCEPT_TEST_NAIVE_H
#define INCEPT_TEST_NAIVE_H

typedef struct {
    int kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups;
} naive_window;

/* Output size of a window along one axis (floor or ceil; ceil drops a window starting in the
 * end padding), counted by stepping windows one at a time. */
int naive_out_size(int in, int k, int s, int pb, int pe, int d, int ceil_mode);
void naive_conv(const float *x, int n, int c, int h, int w, const float *weight, const float *bias,
                int m, const naive_window *win, int relu, float *y, int oh, int ow);
/* Adds the gradients of naive_conv (without its ReLU) to dx (when not NULL), dweight and dbias
 * (when not NULL), from dy. */
void naive_conv_backward(const float *x, int n, int c, int h, int w, const float *weight, int m,
                         const naive_window *win, const float *dy, int oh, int ow, float *dx,
                         float *dweight, float *dbias);
void naive_maxpool(const float *x, int n, int c, int h, int w, const naive_window *win, float *y,
                   int oh, int ow);
/* Adds each output's gradient to the first maximum of its window (PyTorch's choice on ties). */
void naive_maxpool_backward(const float *x, int n, int c, int h, int w, const naive_window *win,
                            const float *dy, int oh, int ow, float *dx);
void naive_avgpool(const float *x, int n, int c, int h, int w, const naive_window *win,
                   int count_include_pad, float *y, int oh, int ow);
void naive_lrn(const float *x, int n, int c, int h, int w, int size, float alpha, float beta,
               float bias, float *y);
void naive_fc(const float *x, int n, int k, const float *weight, const float *bias, int m, int relu,
              float *y);
void naive_softmax(const float *x, int n, int groups, int len, int stride, float *y);

#endif
