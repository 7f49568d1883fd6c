/* gradients.c — small pieces that several ops share: adding tensors, a fused ReLU's (or ReLU6's)
 * backward and upper clamp, and dropout's mask. */
#include <math.h>
#include <stdint.h>

#include "ops/op.h"

void incept_relu_mask_grad(const incept_view *output, incept_view *grad)
{
    size_t count = (size_t)output->c * output->h * output->w;
    for (int s = 0; s < output->n; s++) {
        const float *y = output->data + s * output->batch_stride;
        float *dy = grad->data + s * grad->batch_stride;
        for (size_t i = 0; i < count; i++)
            dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    }
}

void incept_activation_mask_grad(const incept_view *output, incept_view *grad, float hi)
{
    if (!(hi < INFINITY)) {
        incept_relu_mask_grad(output, grad);
        return;
    }
    size_t count = (size_t)output->c * output->h * output->w;
    for (int s = 0; s < output->n; s++) {
        const float *y = output->data + s * output->batch_stride;
        float *dy = grad->data + s * grad->batch_stride;
        for (size_t i = 0; i < count; i++)
            dy[i] = y[i] > 0.0f && y[i] < hi ? dy[i] : 0.0f;
    }
}

void incept_clamp_max(incept_view *output, float hi)
{
    if (!(hi < INFINITY))
        return;
    size_t count = (size_t)output->c * output->h * output->w;
    for (int s = 0; s < output->n; s++) {
        float *y = output->data + s * output->batch_stride;
        for (size_t i = 0; i < count; i++)
            y[i] = y[i] > hi ? hi : y[i];
    }
}

void incept_view_accumulate(incept_view *dst, const incept_view *src)
{
    size_t count = (size_t)src->c * src->h * src->w;
    for (int s = 0; s < src->n; s++) {
        float *d = dst->data + s * dst->batch_stride;
        const float *x = src->data + s * src->batch_stride;
        if (d == x)
            continue; /* the same memory: already in place */
        for (size_t i = 0; i < count; i++)
            d[i] += x[i];
    }
}

float incept_dropout_scale(unsigned long long seed, size_t i, float ratio)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    float u = (float)(z >> 40) * 0x1.0p-24f;
    return u < ratio ? 0.0f : 1.0f / (1.0f - ratio);
}
