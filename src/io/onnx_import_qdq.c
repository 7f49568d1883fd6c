/* onnx_import_qdq.c — quantized ONNX models in the QDQ layout (what `incept quantize`, ONNX
 * Runtime's quantizer and TensorRT write): QuantizeLinear / DequantizeLinear pairs around float
 * ops. The engine runs the float graph and quantizes itself (an int8 session), so the pairs
 * become what they say about the model:
 *   - DequantizeLinear of a constant (int8, uint8 or int32 weights and biases, a scale per
 *     tensor or per channel along `axis`) is folded into the float constant it stands for,
 *     which the op reading it takes as its weight or bias as usual;
 *   - QuantizeLinear of an activation whose every reader is a DequantizeLinear with the same
 *     scale and zero point is the identity on that value, and its code is the value's range
 *     (incept_value.range_lo, range_hi): an int8 session codes it so, no calibration needed.
 * Anything else (a QuantizeLinear read by another op, QLinearConv's operator layout) is refused
 * naming the node. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/status.h"
#include "io/onnx_import.h"

#define ONNX_UINT8 2
#define ONNX_INT8 3
#define ONNX_INT32 6

/* Where the raw bytes of constant t, bound to the node input `name`, are (NULL: it keeps them
 * as int32_data). */
static const uint8_t *constant_bytes(importer *im, const char *name, const Onnx__TensorProto *t, size_t *len)
{
    const binding *b = incept_onnx_find_binding(im, name);
    *len = 0;
    if (b && b->init && b->init->payload)
        return *len = b->init->payload_len, b->init->payload;
    if (t->has_raw_data)
        return *len = t->raw_data.len, t->raw_data.data;
    return NULL;
}

/* Whether constant t of an integer type holds exactly `count` values (checked before anything of
 * that size is allocated); an error naming the node if not. */
static incept_status check_ints(importer *im, const Onnx__NodeProto *n, size_t input, const Onnx__TensorProto *t,
                                size_t count)
{
    const int type = t->data_type;
    if (type != ONNX_INT8 && type != ONNX_UINT8 && type != ONNX_INT32)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                                      "a quantized tensor of a type other than int8, uint8 or int32");
    size_t len, bytes;
    const uint8_t *raw = constant_bytes(im, n->input[input], t, &len);
    int fits = raw ? incept_mul_size(count, type == ONNX_INT32 ? 4 : 1, &bytes) && bytes == len
                   : count != SIZE_MAX && t->n_int32_data == count; /* int8 and uint8 kept as int32s too */
    return fits ? INCEPT_OK
                : incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "%s",
                                         "a quantized tensor with the wrong amount of data for its shape");
}

/* The integers of constant t, the node's input `input`, of type int8, uint8 or int32 (count of
 * them) into dst. */
static incept_status constant_ints(importer *im, const Onnx__NodeProto *n, size_t input, const Onnx__TensorProto *t,
                                   size_t count, int32_t *dst)
{
    incept_status st = check_ints(im, n, input, t, count);
    if (st)
        return st;
    const int type = t->data_type;
    size_t len;
    const uint8_t *raw = constant_bytes(im, n->input[input], t, &len);
    if (raw) {
        for (size_t i = 0; i < count; i++) {
            if (type == ONNX_INT32)
                memcpy(&dst[i], raw + 4 * i, 4); /* little-endian host, as on disk */
            else
                dst[i] = type == ONNX_INT8 ? (int32_t)(int8_t)raw[i] : (int32_t)raw[i];
        }
        return INCEPT_OK;
    }
    for (size_t i = 0; i < count; i++)
        dst[i] = t->int32_data[i];
    return INCEPT_OK;
}

/* A node's scale (input 1, float) and zero point (input 2, optional: 0) as arrays of `count`
 * (1 per tensor or one per channel); *count_out says which. */
static incept_status scale_and_zero(importer *im, const Onnx__NodeProto *n, float **scale, int32_t **zero,
                                    size_t *count_out)
{
    *scale = NULL, *zero = NULL;
    size_t count = 0;
    incept_status st = incept_onnx_constant_floats(im, n, 1, &count, scale);
    if (st)
        return st;
    if (!*scale || count == 0)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "a scale that is not a constant");
    for (size_t i = 0; i < count; i++)
        if (!((*scale)[i] > 0.0f) || !isfinite((*scale)[i]))
            return incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "%s", "a scale that is not positive");
    if (!(*zero = incept_calloc(count, sizeof(int32_t))))
        return INCEPT_ERR_NOMEM;
    *count_out = count;
    if (!incept_onnx_has_input(n, 2))
        return INCEPT_OK;
    const Onnx__TensorProto *z = incept_onnx_constant_input(im, n, 2);
    if (!z || incept_onnx_tensor_count(z) != count)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                                      "a zero point that is not a constant of the scale's size");
    return constant_ints(im, n, 2, z, count, *zero);
}

/* DequantizeLinear of a constant: the float constant it stands for. */
static incept_status dequantize_constant(importer *im, const Onnx__NodeProto *n, const Onnx__TensorProto *x)
{
    float *scale;
    int32_t *zero;
    size_t channels;
    incept_status st = scale_and_zero(im, n, &scale, &zero, &channels);
    const size_t count = incept_onnx_tensor_count(x);
    int64_t axis = incept_onnx_attr_int(n, "axis", 1);
    const int rank = (int)x->n_dims;
    if (axis < 0)
        axis += rank;
    size_t inner = 1; /* values per step along the axis */
    if (!st && channels > 1) {
        if (axis < 0 || axis >= rank || x->dims[axis] != (int64_t)channels)
            st = incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "%s",
                                        "per-channel scales that do not match the tensor along 'axis'");
        for (int d = (int)axis + 1; !st && d < rank; d++)
            inner *= (size_t)x->dims[d];
    }
    if (!st)
        st = check_ints(im, n, 0, x, count); /* before anything of its size is allocated */
    int32_t *q = st ? NULL : incept_malloc(sizeof(int32_t) * (count ? count : 1));
    incept_tensor t = {.dtype = INCEPT_FLOAT32, .rank = rank};
    if (!st && !q)
        st = INCEPT_ERR_NOMEM;
    if (!st && rank > INCEPT_MAX_RANK)
        st = incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "a tensor of rank above 8");
    if (!st)
        st = constant_ints(im, n, 0, x, count, q);
    if (!st && !(t.data = incept_malloc(sizeof(float) * (count ? count : 1))))
        st = INCEPT_ERR_NOMEM;
    if (!st) {
        for (int d = 0; d < rank; d++)
            t.dims[d] = x->dims[d];
        float *out = t.data;
        for (size_t i = 0; i < count; i++) {
            size_t c = channels > 1 ? (i / inner) % channels : 0;
            out[i] = scale[c] * (float)((int64_t)q[i] - zero[c]); /* int32 extremes: no overflow */
        }
        st = incept_onnx_fold(im, n->output[0], &t);
    }
    free(t.data);
    free(q);
    free(scale);
    free(zero);
    return st;
}

/* The same scale and zero point inputs (by name, or equal constants). */
static int same_code(importer *im, const Onnx__NodeProto *a, const Onnx__NodeProto *b)
{
    for (size_t i = 1; i <= 2; i++) {
        int ha = incept_onnx_has_input(a, i), hb = incept_onnx_has_input(b, i);
        if (ha != hb)
            return 0;
        if (!ha || strcmp(a->input[i], b->input[i]) == 0)
            continue;
        size_t na = 0, nb = 0;
        float *va = NULL, *vb = NULL;
        int same = i == 1 && !incept_onnx_constant_floats(im, a, i, &na, &va) &&
                   !incept_onnx_constant_floats(im, b, i, &nb, &vb) && va && vb && na == nb &&
                   memcmp(va, vb, na * sizeof(float)) == 0;
        free(va), free(vb);
        if (!same)
            return 0;
    }
    return 1;
}

incept_status incept_onnx_import_quantize(importer *im, const Onnx__NodeProto *n)
{
    if (!incept_onnx_has_input(n, 0) || !incept_onnx_has_input(n, 1))
        return incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "%s", "it needs an input and a scale");
    binding *x;
    incept_status st = incept_onnx_activation(im, n, 0, &x);
    if (st)
        return st;
    /* every reader a DequantizeLinear of the same code: the pair is the identity */
    const Onnx__GraphProto *g = im->onnx;
    int readers = 0;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++) {
            if (strcmp(g->node[i]->input[k], n->output[0]) != 0)
                continue;
            readers++;
            if (k != 0 || strcmp(g->node[i]->op_type ? g->node[i]->op_type : "", "DequantizeLinear") != 0 ||
                !same_code(im, n, g->node[i]))
                return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                                              "its output is read by something other than a DequantizeLinear "
                                              "of the same scale and zero point (only the QDQ layout is "
                                              "supported, not QLinearConv's operators)");
        }
    if (readers != incept_onnx_readers_of(im, n->output[0]))
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                                      "its output is a graph output (only the QDQ layout is supported)");
    float *scale;
    int32_t *zero;
    size_t count;
    if ((st = scale_and_zero(im, n, &scale, &zero, &count)))
        goto done;
    if (count != 1) {
        st = incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s", "per-channel codes of an activation");
        goto done;
    }
    const Onnx__TensorProto *z = incept_onnx_has_input(n, 2) ? incept_onnx_constant_input(im, n, 2) : NULL;
    const int is_signed = z && z->data_type == ONNX_INT8;
    if (z && z->data_type != ONNX_INT8 && z->data_type != ONNX_UINT8) {
        st = incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                                    "an activation coded other than in 8 bits (its zero point's type)");
        goto done;
    }
    /* the values the code can hold: q in [0, 255] (uint8) or [-128, 127] (int8) */
    const float lo = scale[0] * (float)((is_signed ? -128 : 0) - zero[0]);
    const float hi = scale[0] * (float)((is_signed ? 127 : 255) - zero[0]);
    incept_value *v = &im->graph->values[x->value];
    if (v->generic) {
        st = incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                                    "the quantization of a value the engine runs on its generic path");
        goto done;
    }
    if (!v->has_range || lo < v->range_lo)
        v->range_lo = lo;
    if (!v->has_range || hi > v->range_hi)
        v->range_hi = hi;
    v->has_range = 1;
    st = incept_onnx_bind(im, n->output[0], x->value, NULL, x->rank);
done:
    free(scale);
    free(zero);
    return st;
}

incept_status incept_onnx_import_dequantize(importer *im, const Onnx__NodeProto *n)
{
    if (!incept_onnx_has_input(n, 0) || !incept_onnx_has_input(n, 1))
        return incept_onnx_node_error(im, n, INCEPT_ERR_FORMAT, "%s", "it needs an input and a scale");
    const Onnx__TensorProto *x = incept_onnx_constant_input(im, n, 0);
    if (x)
        return dequantize_constant(im, n, x);
    /* of an activation: its QuantizeLinear (checked there) bound it to the float value */
    binding *b = incept_onnx_find_binding(im, n->input[0]);
    int quantized = 0;
    for (size_t i = 0; i < im->onnx->n_node && !quantized; i++) {
        const Onnx__NodeProto *p = im->onnx->node[i];
        quantized = p->n_output > 0 && strcmp(p->output[0], n->input[0]) == 0 && p->op_type &&
                    strcmp(p->op_type, "QuantizeLinear") == 0;
    }
    if (!b || b->value < 0 || !quantized)
        return incept_onnx_node_error(im, n, INCEPT_ERR_UNSUPPORTED, "%s",
                                      "a DequantizeLinear of a tensor no QuantizeLinear made");
    return incept_onnx_bind(im, n->output[0], b->value, NULL, b->rank);
}
