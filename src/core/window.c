/* window.c — sliding-window arithmetic along one axis (see window.h). */
#include "core/window.h"

long long incept_window_output(long long in, long long kernel, long long stride, long long pad_begin,
                               long long pad_end, long long dilation, int ceil_mode)
{
    const long long limit = 1LL << 40; /* far past any tensor, far from overflow */
    if (in < 0 || in > limit || kernel < 1 || kernel > limit || stride < 1 || stride > limit ||
        dilation < 1 || dilation > limit || pad_begin < 0 || pad_begin > limit || pad_end < 0 ||
        pad_end > limit)
        return 0;
    long long span = dilation * (kernel - 1) + 1;
    long long room = in + pad_begin + pad_end - span;
    if (room < 0)
        return 0;
    long long out = (ceil_mode ? (room + stride - 1) / stride : room / stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad_begin)
        out--; /* the last window must start inside the input or its front padding */
    return out;
}

void incept_window_same_pads(long long in, long long kernel, long long stride, long long dilation,
                             int upper, long long *pad_begin, long long *pad_end)
{
    long long out = (in + stride - 1) / stride;
    long long total = (out - 1) * stride + (kernel - 1) * dilation + 1 - in;
    if (total < 0)
        total = 0;
    *pad_begin = upper ? total / 2 : total - total / 2;
    *pad_end = total - *pad_begin;
}
