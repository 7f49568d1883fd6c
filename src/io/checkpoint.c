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
#define CHECKPOINT_VERSION 4u /* 2: the state has crop_pad; 3: time and the epoch's loss so far;
                                 4: label smoothing */
#define NOTES_MAX (64 << 10)

enum { TAG_DESCRIPTION = 1, TAG_ONNX = 2, TAG_STATE = 3, TAG_PARAMS = 4, TAG_MOMENTUM = 5,
       TAG_TRAINED = 6, TAG_AVERAGE = 7,
       TAG_FROZEN = 8, /* per parameter, 1: frozen (optional: older files have none) */
       TAG_NOTES = 9 /* the caller's text (optional) */ };

/* 1 if all went in (the writers below chain them with &&). */
static int put(incept_bytes *b, const void *src, size_t n) { return incept_bytes_put(b, src, n) == INCEPT_OK; }

static int put_record(incept_bytes *b, uint32_t tag, const void *data, uint64_t length)
{
    return put(b, &tag, 4) && put(b, &length, 8) && put(b, data, (size_t)length);
}

incept_status incept_checkpoint_save(const incept_session *s, const incept_train_state *state,
                                     const char *path)
{
    return incept_checkpoint_save_notes(s, state, NULL, path);
}

incept_status incept_checkpoint_save_notes(const incept_session *s, const incept_train_state *state,
                                           const char *notes, const char *path)
{
    if (!s || !state || !path)
        return incept_fail(INCEPT_ERR_ARG, "checkpoint_save needs a session, a state and a path");
    if (notes && strlen(notes) > NOTES_MAX)
        return incept_fail(INCEPT_ERR_ARG, "%s: notes of %zu bytes (at most %d)", path, strlen(notes),
                           NOTES_MAX);
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
    if (notes)
        ok = ok && put_record(&b, TAG_NOTES, notes, strlen(notes));
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

/* A checkpoint's records, found in its bytes (pointers into them). */
typedef struct {
    const unsigned char *text, *state, *params, *momentum, *average, *frozen, *notes;
    uint64_t text_len, params_len, momentum_len, average_len, frozen_len, notes_len;
    int onnx;
} records;

/* Checks magic, version and CRC and finds every record; fails naming the file. */
static incept_status parse_records(const char *path, const unsigned char *data, size_t size, records *r)
{
    memset(r, 0, sizeof *r);
    uint32_t version, stored_crc;
    if (size < sizeof magic + 8 || memcmp(data, magic, sizeof magic) != 0)
        return incept_fail(INCEPT_ERR_FORMAT, "%s: not an incept checkpoint", path);
    memcpy(&version, data + 8, 4);
    memcpy(&stored_crc, data + size - 4, 4);
    if (version != CHECKPOINT_VERSION)
        return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: checkpoint version %u (this build reads %u)",
                           path, version, CHECKPOINT_VERSION);
    if ((uint32_t)crc32(0L, data, (uInt)(size - 4)) != stored_crc)
        return incept_fail(INCEPT_ERR_FORMAT, "%s: checksum mismatch (corrupt or truncated)", path);
    for (const unsigned char *p = data + 12, *end = data + size - 4; p < end;) {
        uint32_t tag;
        uint64_t length;
        if ((size_t)(end - p) < 12)
            return incept_fail(INCEPT_ERR_FORMAT, "%s: a truncated record", path);
        memcpy(&tag, p, 4);
        memcpy(&length, p + 4, 8);
        p += 12;
        if (length > (uint64_t)(end - p))
            return incept_fail(INCEPT_ERR_FORMAT, "%s: record %u runs past the end", path, tag);
        switch (tag) {
        case TAG_DESCRIPTION:
        case TAG_ONNX:
            r->text = p, r->text_len = length, r->onnx = tag == TAG_ONNX;
            break;
        case TAG_STATE:
            if (length != sizeof(incept_train_state))
                return incept_fail(INCEPT_ERR_FORMAT, "%s: training state of %llu bytes, expected %zu",
                                   path, (unsigned long long)length, sizeof(incept_train_state));
            r->state = p;
            break;
        case TAG_PARAMS:
            r->params = p, r->params_len = length;
            break;
        case TAG_MOMENTUM:
            r->momentum = p, r->momentum_len = length;
            break;
        case TAG_TRAINED:
            break;
        case TAG_AVERAGE:
            r->average = p, r->average_len = length;
            break;
        case TAG_FROZEN:
            r->frozen = p, r->frozen_len = length;
            break;
        case TAG_NOTES:
            if (length > NOTES_MAX || memchr(p, '\0', (size_t)length))
                return incept_fail(INCEPT_ERR_FORMAT, "%s: notes of %llu bytes (at most %d, no NUL)",
                                   path, (unsigned long long)length, NOTES_MAX);
            r->notes = p, r->notes_len = length;
            break;
        default:
            return incept_fail(INCEPT_ERR_FORMAT, "%s: unknown record %u", path, tag);
        }
        p += length;
    }
    return INCEPT_OK;
}

incept_status incept_checkpoint_notes(const char *path, char **notes)
{
    if (!path || !notes)
        return incept_fail(INCEPT_ERR_ARG, "checkpoint_notes needs a path and a place for the notes");
    *notes = NULL;
    char *file;
    size_t size;
    records r;
    incept_status st = incept_read_file(path, &file, &size);
    if (!st && !(st = parse_records(path, (const unsigned char *)file, size, &r)) && r.notes) {
        if ((*notes = incept_malloc((size_t)r.notes_len + 1))) {
            memcpy(*notes, r.notes, (size_t)r.notes_len);
            (*notes)[r.notes_len] = '\0';
        } else {
            st = INCEPT_ERR_NOMEM;
        }
    }
    free(file);
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
    records r;
    incept_model *m = NULL;
    if ((st = parse_records(path, (const unsigned char *)file, size, &r)))
        goto done;
    const unsigned char *text = r.text, *params = r.params, *momentum = r.momentum;
    const unsigned char *average = r.average, *frozen = r.frozen;
    uint64_t text_len = r.text_len, params_len = r.params_len, momentum_len = r.momentum_len;
    uint64_t average_len = r.average_len, frozen_len = r.frozen_len;
    int onnx = r.onnx, have_state = r.state != NULL;
    if (have_state)
        memcpy(state, r.state, sizeof *state);
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
        (st = incept_session_set_label_smoothing(s, state->label_smoothing)) ||
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
