/* onnx_file.c — opening an ONNX file without holding its weights in memory twice.
 *
 * An ONNX model is mostly weights (GoogLeNet: 28 MB of 28 MB). Unpacking the whole ModelProto
 * with protobuf-c would copy all of them while the file is still in memory, and the importer
 * copies them once more into the parameter array. Instead the file is mapped, the protobuf wire
 * format is walked just far enough to find the graph and its initializers, and protobuf-c
 * unpacks everything except the initializers' data: the graph without initializers, and each
 * initializer without its raw_data / packed float_data payload. The importer copies a payload
 * straight from the mapping into the parameters and then drops those pages, so peak memory
 * stays near one copy of the weights. Every length is checked against the file's end. */
#define _DEFAULT_SOURCE /* madvise */
#include "io/onnx_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"

/* Field numbers in onnx.proto. */
enum { MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8, MODEL_METADATA_PROPS = 14 };
enum { GRAPH_INITIALIZER = 5 };
enum { TENSOR_FLOAT_DATA = 4, TENSOR_RAW_DATA = 9 };
enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_BYTES = 2, WIRE_FIXED32 = 5 };

#define SMALL_PAYLOAD 4096 /* tensors below this are unpacked whole */

typedef struct {
    uint32_t number;
    int wire;
    const uint8_t *start;   /* the field's first byte (its key) */
    const uint8_t *payload; /* for WIRE_BYTES: the bytes; else the value's bytes */
    size_t payload_len;
    const uint8_t *end;     /* one past the field */
} wire_field;

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *value)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t byte = *(*p)++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *value = v;
            return 1;
        }
    }
    return 0;
}

/* Reads the field at *p; returns 0 at a malformed or truncated field. */
static int next_field(const uint8_t **p, const uint8_t *end, wire_field *f)
{
    uint64_t key, length;
    f->start = *p;
    if (!read_varint(p, end, &key) || key >> 3 == 0 || key >> 3 > 0x1fffffff)
        return 0;
    f->number = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    f->payload = *p;
    switch (f->wire) {
    case WIRE_VARINT:
        if (!read_varint(p, end, &length))
            return 0;
        break;
    case WIRE_FIXED64:
        if (end - *p < 8)
            return 0;
        *p += 8;
        break;
    case WIRE_FIXED32:
        if (end - *p < 4)
            return 0;
        *p += 4;
        break;
    case WIRE_BYTES:
        if (!read_varint(p, end, &length) || length > (uint64_t)(end - *p))
            return 0;
        f->payload = *p;
        *p += length;
        break;
    default:
        return 0; /* groups (3, 4) are not used by ONNX */
    }
    f->payload_len = (size_t)(*p - f->payload);
    f->end = *p;
    return 1;
}

/* Copies the fields of [data, data+len) except those numbered skip_a or skip_b. */
static incept_status copy_without(const onnx_file *file, const uint8_t *data, size_t len,
                                  uint32_t skip_a, uint32_t skip_b, uint8_t **out, size_t *out_len)
{
    uint8_t *copy = incept_malloc(len ? len : 1);
    if (!copy)
        return incept_fail_prefix(INCEPT_ERR_NOMEM, "%s: ", file->path);
    const uint8_t *p = data, *end = data + len;
    size_t used = 0;
    wire_field f;
    while (p < end) {
        if (!next_field(&p, end, &f)) {
            free(copy);
            return incept_fail(INCEPT_ERR_FORMAT, "%s: not a valid ONNX model (malformed protobuf)",
                               file->path);
        }
        if (f.number == skip_a || f.number == skip_b)
            continue;
        memcpy(copy + used, f.start, (size_t)(f.end - f.start));
        used += (size_t)(f.end - f.start);
    }
    *out = copy;
    *out_len = used;
    return INCEPT_OK;
}

static incept_status bad(const char *path, const char *what)
{
    return incept_fail(INCEPT_ERR_FORMAT, "%s: not a valid ONNX model (%s: truncated or not ONNX)",
                       path, what);
}

/* One initializer: its header unpacked, its large payload left in the mapping. */
static incept_status read_initializer(onnx_file *file, const wire_field *field, onnx_initializer *init)
{
    memset(init, 0, sizeof *init);
    const uint8_t *p = field->payload, *end = field->payload + field->payload_len;
    wire_field f;
    while (p < end) {
        if (!next_field(&p, end, &f))
            return bad(file->path, "an initializer");
        int raw = f.number == TENSOR_RAW_DATA && f.wire == WIRE_BYTES;
        int packed_floats = f.number == TENSOR_FLOAT_DATA && f.wire == WIRE_BYTES;
        if ((raw || packed_floats) && f.payload_len >= SMALL_PAYLOAD) {
            init->payload = f.payload;
            init->payload_len = f.payload_len;
        }
    }
    size_t len = field->payload_len;
    uint8_t *header = NULL;
    const uint8_t *source = field->payload;
    if (init->payload) {
        incept_status st = copy_without(file, field->payload, field->payload_len, TENSOR_RAW_DATA,
                                        TENSOR_FLOAT_DATA, &header, &len);
        if (st)
            return st;
        source = header;
    }
    init->tensor = onnx__tensor_proto__unpack(NULL, len, source);
    free(header);
    if (!init->tensor)
        return bad(file->path, "an initializer");
    return INCEPT_OK;
}

static incept_status read_graph(onnx_file *file, const wire_field *graph)
{
    const uint8_t *p = graph->payload, *end = graph->payload + graph->payload_len;
    wire_field f;
    size_t count = 0;
    while (p < end) {
        if (!next_field(&p, end, &f))
            return bad(file->path, "the graph");
        count += f.number == GRAPH_INITIALIZER && f.wire == WIRE_BYTES;
    }
    file->initializers = incept_calloc(count ? count : 1, sizeof *file->initializers);
    if (!file->initializers)
        return INCEPT_ERR_NOMEM;
    p = graph->payload;
    while (p < end) {
        next_field(&p, end, &f);
        if (f.number != GRAPH_INITIALIZER || f.wire != WIRE_BYTES)
            continue;
        incept_status st = read_initializer(file, &f, &file->initializers[file->n_initializers]);
        if (st)
            return st;
        file->n_initializers++;
    }
    size_t len;
    uint8_t *rest;
    incept_status st = copy_without(file, graph->payload, graph->payload_len, GRAPH_INITIALIZER, 0,
                                    &rest, &len);
    if (st)
        return st;
    file->graph = onnx__graph_proto__unpack(NULL, len, rest);
    free(rest);
    return file->graph ? INCEPT_OK : bad(file->path, "the graph");
}

static incept_status split(onnx_file *file);

static incept_status open_file(const char *path, onnx_file *file)
{
    memset(file, 0, sizeof *file);
    file->path = path;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO named here does not block */
    if (fd < 0)
        return incept_fail(INCEPT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return incept_fail(INCEPT_ERR_IO, "%s: not a regular file", path);
    }
    file->map_len = (size_t)st.st_size;
    if (file->map_len == 0) {
        close(fd);
        return bad(path, "empty file");
    }
    file->map = mmap(NULL, file->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (file->map == MAP_FAILED) {
        file->map = NULL;
        return incept_fail(INCEPT_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    }
    return split(file);
}

/* The model's top-level fields: its opsets unpacked, its graph split (read_graph). */
static incept_status split(onnx_file *file)
{
    const char *path = file->path;
    const uint8_t *p = file->map, *end = p + file->map_len;
    wire_field f, graph = {0};
    size_t opsets = 0, metadata = 0;
    while (p < end) {
        if (!next_field(&p, end, &f))
            return bad(path, "the model");
        if (f.number == MODEL_GRAPH && f.wire == WIRE_BYTES)
            graph = f;
        opsets += f.number == MODEL_OPSET_IMPORT && f.wire == WIRE_BYTES;
        metadata += f.number == MODEL_METADATA_PROPS && f.wire == WIRE_BYTES;
    }
    file->opsets = incept_calloc(opsets ? opsets : 1, sizeof *file->opsets);
    file->metadata = incept_calloc(metadata ? metadata : 1, sizeof *file->metadata);
    if (!file->opsets || !file->metadata)
        return INCEPT_ERR_NOMEM;
    for (p = file->map; p < end;) {
        next_field(&p, end, &f);
        if (f.number == MODEL_METADATA_PROPS && f.wire == WIRE_BYTES) { /* key/value strings */
            Onnx__StringStringEntryProto *e =
                onnx__string_string_entry_proto__unpack(NULL, f.payload_len, f.payload);
            if (!e)
                return bad(path, "a metadata_props entry");
            file->metadata[file->n_metadata++] = e;
            continue;
        }
        if (f.number != MODEL_OPSET_IMPORT || f.wire != WIRE_BYTES)
            continue;
        file->opsets[file->n_opsets] = onnx__operator_set_id_proto__unpack(NULL, f.payload_len, f.payload);
        if (!file->opsets[file->n_opsets])
            return bad(path, "an opset_import");
        file->n_opsets++;
    }
    if (!graph.start)
        return incept_fail(INCEPT_ERR_FORMAT, "%s: no graph (not an ONNX model)", path);
    return read_graph(file, &graph);
}

incept_status incept_onnx_file_open_memory(const void *data, size_t size, const char *name,
                                           onnx_file *file)
{
    memset(file, 0, sizeof *file);
    file->path = name ? name : "(memory)";
    if (!data || !size)
        return bad(file->path, "empty buffer");
    file->map = (void *)data; /* only read */
    file->map_len = size;
    file->borrowed = 1;
    incept_status st = split(file);
    if (st)
        incept_onnx_file_close(file);
    return st;
}

incept_status incept_onnx_file_open(const char *path, onnx_file *file)
{
    incept_status st = open_file(path, file);
    if (st)
        incept_onnx_file_close(file);
    return st;
}

void incept_onnx_file_release(onnx_file *file, const onnx_initializer *init)
{
    /* whole pages strictly inside the payload: they are read again from the file if touched */
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t first = ((uintptr_t)init->payload + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t last = ((uintptr_t)init->payload + init->payload_len) & ~((uintptr_t)page - 1);
    if (file->map && !file->borrowed && init->payload && last > first)
        madvise((void *)first, last - first, MADV_DONTNEED);
}

void incept_onnx_file_close(onnx_file *file)
{
    for (size_t i = 0; i < file->n_initializers; i++)
        if (file->initializers[i].tensor)
            onnx__tensor_proto__free_unpacked(file->initializers[i].tensor, NULL);
    for (size_t i = 0; i < file->n_opsets; i++)
        onnx__operator_set_id_proto__free_unpacked(file->opsets[i], NULL);
    for (size_t i = 0; i < file->n_metadata; i++)
        onnx__string_string_entry_proto__free_unpacked(file->metadata[i], NULL);
    free(file->metadata);
    if (file->graph)
        onnx__graph_proto__free_unpacked(file->graph, NULL);
    if (file->map && !file->borrowed)
        munmap(file->map, file->map_len);
    free(file->initializers);
    free(file->opsets);
    memset(file, 0, sizeof *file);
}

int incept_onnx_file_opset(const onnx_file *file)
{
    int opset = -1;
    for (size_t i = 0; i < file->n_opsets; i++) {
        const Onnx__OperatorSetIdProto *o = file->opsets[i];
        if (!o->domain || !*o->domain || strcmp(o->domain, "ai.onnx") == 0)
            opset = (int)o->version;
    }
    return opset;
}

/* ---- node attributes ---- */

const Onnx__AttributeProto *incept_onnx_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

int64_t incept_onnx_attr_int(const Onnx__NodeProto *n, const char *name, int64_t fallback)
{
    const Onnx__AttributeProto *a = incept_onnx_attr(n, name);
    return a && a->has_i ? a->i : fallback;
}

float incept_onnx_attr_float(const Onnx__NodeProto *n, const char *name, float fallback)
{
    const Onnx__AttributeProto *a = incept_onnx_attr(n, name);
    return a && a->has_f ? a->f : fallback;
}

size_t incept_onnx_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *out, size_t max)
{
    const Onnx__AttributeProto *a = incept_onnx_attr(n, name);
    if (!a)
        return 0;
    for (size_t i = 0; i < a->n_ints && i < max; i++)
        out[i] = a->ints[i];
    return a->n_ints;
}

int incept_onnx_attr_string_is(const Onnx__NodeProto *n, const char *name, const char *fallback,
                               const char *expected)
{
    const Onnx__AttributeProto *a = incept_onnx_attr(n, name);
    if (!a || !a->has_s)
        return strcmp(fallback, expected) == 0;
    return a->s.len == strlen(expected) && memcmp(a->s.data, expected, a->s.len) == 0;
}
