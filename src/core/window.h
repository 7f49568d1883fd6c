/* window.h — sliding-window arithmetic along one axis, as PyTorch and ONNX define it, shared by
 * the NCHW ops (conv, pools), the ONNX importer (auto_pad) and the N-d reference ops. In 64 bits:
 * sizes read from files cannot overflow it before they are checked. */
#ifndef INCEPT_CORE_WINDOW_H
#define INCEPT_CORE_WINDOW_H

/* Output length (floor, or ceil mode where a last window that would start in the end padding is
 * dropped); <= 0 when the window does not fit or an argument is out of range. */
long long incept_window_output(long long in, long long kernel, long long stride, long long pad_begin,
                               long long pad_end, long long dilation, int ceil_mode);
/* auto_pad SAME_UPPER (upper = 1) or SAME_LOWER: the output is ceil(in / stride) and the padding
 * that needs, the odd one at the end (upper) or the beginning. */
void incept_window_same_pads(long long in, long long kernel, long long stride, long long dilation,
                             int upper, long long *pad_begin, long long *pad_end);

#endif
