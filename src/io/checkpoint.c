/* checkpoint.c — training checkpoints: one file with the model's description (or its ONNX
 * source path), parameters, SGD momentum, the training settings and the step reached.
 *
 *   "INCEPTC" '\0'  u32 version (1)
 *   records: u32 tag, u64 length, bytes     (tags below; unknown tags are an error)
 *   u32 CRC-32 (zlib) of everything before it.    Little-endian throughout.
 *
 * Written to a temporary file, fsynced and renamed, so a run killed at any moment leaves either
 * the previous checkpoint or the new one, never a torn file. Loading checks version, lengths and
 * checksum before it builds anything. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/status.h"
#include "graph/graph.h"
#include "incept.h"
#include "io/io.h"
#include "train/train.h"

static const char magic[8] = {'I', 'N', 'C', 'E', 'P', 'T', 'C', '\0'};
#define CHECKPOINT_VERSION 2u /* 2: the state has crop_pad */

enum { TAG_DESCRIPTION = 1, TAG_ONNX = 2, TAG_STATE = 3, TAG_PARAMS = 4, TAG_MOMENTUM = 5,
       TAG_TRAINED = 6, TAG_AVERAGE = 7,
       TAG_FROZEN = 8 /* per parameter, 1: frozen (optional: older files have none) */ };

/* 1 if all went in (the writers below chain them with &&). */
static int put(incept_bytes *b, const void *src, size_t n) { return incept_bytes_put(b, src, n) == INCEPT_OK; }

static int put_record(incept_bytes *b, uint32_t tag, const void *data, uint64_t length)
{
    return put(b, &tag, 4) && put(b, &length, 8) && put(b, data, (size_t)length);
}

incept_status incept_checkpoint_save(const incept_session *s, const incept_train_state *state,
                                     const char *path)
{
    if (!s || !state || !path)
        return incept_fail(INCEPT_ERR_ARG, "checkpoint_save needs a session, a state and a path");
    const incept_model *m = s->model;
    if (!m->description && !m->onnx_source)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: the model was built in C, not from a "
                           "description or an ONNX file: a checkpoint could not rebuild it", path);
    const incept_graph *g = &m->graph;
    incept_bytes b = {0};
    uint32_t version = CHECKPOINT_VERSION;
    uint8_t trained = s->momentum != NULL;
    int ok = put(&b, magic, sizeof magic) && put(&b, &version, 4);
    if (m->description)
        ok = ok && put_record(&b, TAG_DESCRIPTION, m->description, strlen(m->description));
    else
        ok = ok && put_record(&b, TAG_ONNX, m->onnx_source, strlen(m->onnx_source));
    ok = ok && put_record(&b, TAG_STATE, state, sizeof *state);
    ok = ok && put_record(&b, TAG_PARAMS, s->average_in_use ? s->average : g->param_data,
                          g->param_floats * sizeof(float));
    ok = ok && put_record(&b, TAG_TRAINED, &trained, 1);
    unsigned char *frozen = incept_malloc((size_t)g->n_params + 1);
    for (int i = 0; frozen && i < g->n_params; i++)
        frozen[i] = (unsigned char)g->params[i].frozen;
    ok = ok && frozen && put_record(&b, TAG_FROZEN, frozen, (uint64_t)g->n_params);
    free(frozen);
    if (trained)
        ok = ok && put_record(&b, TAG_MOMENTUM, s->momentum, g->param_floats * sizeof(float));
    if (s->average) /* the trained weights are PARAMS, the average AVERAGE, whichever is swapped in */
        ok = ok && put_record(&b, TAG_AVERAGE, s->average_in_use ? g->param_data : s->average,
                              g->param_floats * sizeof(float));
    uint32_t crc = ok ? (uint32_t)crc32(0L, b.data, (uInt)b.size) : 0;
    ok = ok && put(&b, &crc, 4);
    incept_status st = ok ? incept_write_atomically(path, b.data, b.size) : INCEPT_ERR_NOMEM;
    free(b.data);
    return st;
}

incept_status incept_checkpoint_load(const char *path, incept_model **out, incept_session **session,
                                     incept_train_state *state)
{
    if (!path || !out || !session || !state)
        return incept_fail(INCEPT_ERR_ARG, "checkpoint_load needs a path, model and session handles "
                           "and a state");
    *out = NULL;
    *session = NULL;
    incept_session *s = NULL;
    char *file;
    size_t size;
    incept_status st = incept_read_file(path, &file, &size);
    if (st)
        return st;
    const unsigned char *data = (const unsigned char *)file, *p, *end;
    const unsigned char *text = NULL, *params = NULL, *momentum = NULL, *average = NULL, *frozen = NULL;
    uint64_t text_len = 0, params_len = 0, momentum_len = 0, average_len = 0, frozen_len = 0;
    int onnx = 0, have_state = 0;
    uint32_t version, stored_crc;
    incept_model *m = NULL;
    if (size < sizeof magic + 8 || memcmp(data, magic, sizeof magic) != 0) {
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: not an incept checkpoint", path);
        goto done;
    }
    memcpy(&version, data + 8, 4);
    memcpy(&stored_crc, data + size - 4, 4);
    if (version != CHECKPOINT_VERSION) {
        st = incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: checkpoint version %u (this build reads %u)",
                         path, version, CHECKPOINT_VERSION);
        goto done;
    }
    if ((uint32_t)crc32(0L, data, (uInt)(size - 4)) != stored_crc) {
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: checksum mismatch (corrupt or truncated)", path);
        goto done;
    }
    for (p = data + 12, end = data + size - 4; p < end;) {
        uint32_t tag;
        uint64_t length;
        if ((size_t)(end - p) < 12) {
            st = incept_fail(INCEPT_ERR_FORMAT, "%s: a truncated record", path);
            goto done;
        }
        memcpy(&tag, p, 4);
        memcpy(&length, p + 4, 8);
        p += 12;
        if (length > (uint64_t)(end - p)) {
            st = incept_fail(INCEPT_ERR_FORMAT, "%s: record %u runs past the end", path, tag);
            goto done;
        }
        switch (tag) {
        case TAG_DESCRIPTION:
        case TAG_ONNX:
            text = p, text_len = length, onnx = tag == TAG_ONNX;
            break;
        case TAG_STATE:
            if (length != sizeof *state) {
                st = incept_fail(INCEPT_ERR_FORMAT, "%s: training state of %llu bytes, expected %zu",
                                 path, (unsigned long long)length, sizeof *state);
                goto done;
            }
            memcpy(state, p, sizeof *state);
            have_state = 1;
            break;
        case TAG_PARAMS:
            params = p, params_len = length;
            break;
        case TAG_MOMENTUM:
            momentum = p, momentum_len = length;
            break;
        case TAG_TRAINED:
            break;
        case TAG_AVERAGE:
            average = p, average_len = length;
            break;
        case TAG_FROZEN:
            frozen = p, frozen_len = length;
            break;
        default:
            st = incept_fail(INCEPT_ERR_FORMAT, "%s: unknown record %u", path, tag);
            goto done;
        }
        p += length;
    }
    if (!text || !have_state || !params) {
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: the model, the state or the parameters are missing",
                         path);
        goto done;
    }
    char what[4200];
    snprintf(what, sizeof what, "%s: the training state", path);
    if ((st = incept_train_state_check(state, what, INCEPT_ERR_FORMAT)))
        goto done;
    if (!onnx && memchr(text, '\0', (size_t)text_len)) {
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: the model's description holds a NUL byte", path);
        goto done;
    }
    char *copy = incept_malloc((size_t)text_len + 1);
    if (!copy) {
        st = INCEPT_ERR_NOMEM;
        goto done;
    }
    memcpy(copy, text, (size_t)text_len);
    copy[text_len] = '\0';
    st = onnx ? incept_model_load_onnx(copy, &m) : incept_model_parse_description(copy, path, &m);
    free(copy);
    if (!st)
        st = incept_session_new(m, &s);
    if (st)
        goto done;
    incept_graph *g = &m->graph;
    if (params_len != g->param_floats * sizeof(float) ||
        (momentum && momentum_len != g->param_floats * sizeof(float)) ||
        (average && average_len != g->param_floats * sizeof(float))) {
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: parameter data does not fit the model", path);
        goto done;
    }
    memcpy(g->param_data, params, (size_t)params_len);
    if (frozen && frozen_len != (uint64_t)g->n_params) {
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: %llu frozen flags for %d parameters", path,
                         (unsigned long long)frozen_len, g->n_params);
        goto done;
    }
    for (uint64_t i = 0; frozen && i < frozen_len; i++)
        g->params[i].frozen = frozen[i] != 0;
    if (momentum) {
        if (!(s->momentum = incept_alloc_floats(g->param_floats))) {
            st = INCEPT_ERR_NOMEM;
            goto done;
        }
        memcpy(s->momentum, momentum, (size_t)momentum_len);
    }
    if (average) {
        if (!(s->average = incept_alloc_floats(g->param_floats))) {
            st = INCEPT_ERR_NOMEM;
            goto done;
        }
        memcpy(s->average, average, (size_t)average_len);
    }
    if ((st = incept_session_set_training(s, state->aux_weight, state->dropout, state->seed)) ||
        (st = incept_session_set_averaging(s, state->average_decay)))
        goto done;
    s->train_steps = (unsigned long long)state->step;
done:
    free(file);
    if (st) {
        incept_session_free(s);
        incept_model_free(m);
        return st;
    }
    *out = m;
    *session = s;
    return INCEPT_OK;
}
