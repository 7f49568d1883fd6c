/* conv_depthwise.h — conv.c's direct path for one input channel per group (conv_depthwise.c). */
#ifndef INCEPT_OPS_CONV_DEPTHWISE_H
#define INCEPT_OPS_CONV_DEPTHWISE_H

#include "ops/op.h"

/* Output channel o reads input channel o / (out_c / in_c); bias, ReLU as attrs say. */
void incept_conv_depthwise_forward(const incept_op_args *args);
/* Adds the gradients of the filters, biases and (when wanted) the input, from dy (already
 * masked by the fused ReLU); needs incept_conv_depthwise_backward_floats of workspace. */
void incept_conv_depthwise_backward(const incept_backward_args *args, const incept_view *dy);
size_t incept_conv_depthwise_backward_floats(int out_c, int taps, int threads);

#endif
