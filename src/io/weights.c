/* weights.c — the incept weights file: every parameter by name, versioned and checksummed.
 *
 *   "INCEPTW" '\0'   magic           u32 version (1)      u32 parameter count
 *   per parameter:   u32 name length, name bytes, u32 ndim, u32 dims[ndim], float32 data
 *   u32 CRC-32 (zlib) of everything before it.      All integers and floats little-endian.
 *
 * Saving writes a temporary file, fsyncs it and renames it over the target, so a crash never
 * leaves a half-written file under the real name (and the next save removes the temporary a
 * killed writer left). Loading checks everything before it copies.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/status.h"
#include "graph/graph.h"
#include "io/io.h"

static const char magic[8] = {'I', 'N', 'C', 'E', 'P', 'T', 'W', '\0'};
#define WEIGHTS_VERSION 1u

static incept_status put_u32(incept_bytes *b, uint32_t v)
{
    unsigned char le[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24};
    return incept_bytes_put(b, le, 4);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Removes the temporaries of `path` (PATH.tmp.PID.XXXXXX) that processes no longer alive left,
 * killed while they wrote; a live process's (another thread's, another run's) stays. */
static void remove_stale_temporaries(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096], prefix[4096];
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) + (slash == path), path);
    else
        snprintf(dir, sizeof dir, ".");
    if (snprintf(prefix, sizeof prefix, "%s.tmp.", slash ? slash + 1 : path) >= (int)sizeof prefix)
        return;
    DIR *d = opendir(dir);
    size_t n = strlen(prefix);
    for (struct dirent *e; d && (e = readdir(d));) {
        char *end;
        if (strncmp(e->d_name, prefix, n) != 0)
            continue;
        long pid = strtol(e->d_name + n, &end, 10);
        if (end == e->d_name + n || *end != '.' || pid <= 0 || pid == (long)getpid() ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char stale[8200];
        if (snprintf(stale, sizeof stale, "%s/%s", dir, e->d_name) < (int)sizeof stale)
            unlink(stale);
    }
    if (d)
        closedir(d);
}

incept_status incept_write_atomically(const char *path, const void *data, size_t size)
{
    /* a temporary name of its own for every call (mkstemp), so two threads or processes writing
     * one path never share one: the last rename wins and each file is whole; the writer's PID in
     * it, so that a later write removes what a killed one left */
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld.XXXXXX", path, (long)getpid()) >= (int)sizeof tmp)
        return incept_fail(INCEPT_ERR_ARG, "%s: path too long", path);
    remove_stale_temporaries(path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return incept_fail(INCEPT_ERR_IO, "%s: cannot create a temporary file beside it: %s", path,
                           strerror(errno));
    if (fchmod(fd, 0644) != 0) { /* mkstemp makes it 0600; the file is not secret */
        int e = errno;
        close(fd);
        unlink(tmp);
        return incept_fail(INCEPT_ERR_IO, "%s: cannot set its mode: %s", tmp, strerror(e));
    }
    const unsigned char *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return incept_fail(INCEPT_ERR_IO, "%s: write failed: %s", tmp, strerror(e));
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return incept_fail(INCEPT_ERR_IO, "%s: cannot flush: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return incept_fail(INCEPT_ERR_IO, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return INCEPT_OK;
}

incept_status incept_model_save_weights(const incept_model *m, const char *path)
{
    if (!m || !path)
        return incept_fail(INCEPT_ERR_ARG, "save_weights needs a model and a path");
    const incept_graph *g = &m->graph;
    incept_bytes b = {0};
    incept_status st = incept_bytes_put(&b, magic, sizeof magic);
    if (!st) st = put_u32(&b, WEIGHTS_VERSION);
    if (!st) st = put_u32(&b, (uint32_t)g->n_params);
    for (int i = 0; i < g->n_params && !st; i++) {
        const incept_param *p = &g->params[i];
        st = put_u32(&b, (uint32_t)strlen(p->name));
        if (!st) st = incept_bytes_put(&b, p->name, strlen(p->name));
        if (!st) st = put_u32(&b, (uint32_t)p->ndim);
        for (int d = 0; d < p->ndim && !st; d++)
            st = put_u32(&b, (uint32_t)p->dims[d]);
        if (!st) st = incept_bytes_put(&b, incept_graph_param_data(g, i), p->count * sizeof(float));
    }
    if (!st) st = put_u32(&b, (uint32_t)crc32(0L, b.data, (uInt)b.size));
    if (!st) st = incept_write_atomically(path, b.data, b.size);
    free(b.data);
    return st;
}

/* Checks that `need` more bytes are there before reading them. */
#define NEED(n)                                                                                  \
    do {                                                                                         \
        if ((size_t)(end - p) < (size_t)(n)) {                                                   \
            st = incept_fail(INCEPT_ERR_FORMAT, "%s: truncated (parameter %u of %u)", path, i,   \
                             count);                                                             \
            goto done;                                                                           \
        }                                                                                        \
    } while (0)

incept_status incept_model_load_weights(incept_model *m, const char *path)
{
    if (!m || !path)
        return incept_fail(INCEPT_ERR_ARG, "load_weights needs a model and a path");
    char *file;
    size_t size;
    incept_status st = incept_read_file(path, &file, &size);
    if (st)
        return st;
    st = incept_model_load_weights_memory(m, file, size, path);
    free(file);
    return st;
}

incept_status incept_model_load_weights_memory(incept_model *m, const void *bytes, size_t size,
                                               const char *path)
{
    if (!m || (!bytes && size))
        return incept_fail(INCEPT_ERR_ARG, "load_weights_memory needs a model and the file's bytes");
    if (!path)
        path = "(memory)";
    incept_status st = INCEPT_OK;
    const unsigned char *data = bytes, *p = data, *end;
    uint32_t i = 0, count = 0;
    incept_graph *g = &m->graph;
    char *seen = NULL;
    if (size < sizeof magic + 12 || memcmp(data, magic, sizeof magic) != 0) {
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: not an incept weights file", path);
        goto done;
    }
    if (get_u32(data + 8) != WEIGHTS_VERSION) {
        st = incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: weights format version %u (this build reads %u)",
                         path, get_u32(data + 8), WEIGHTS_VERSION);
        goto done;
    }
    if ((uint32_t)crc32(0L, data, (uInt)(size - 4)) != get_u32(data + size - 4)) {
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: checksum mismatch (corrupt or truncated)", path);
        goto done;
    }
    count = get_u32(data + 12);
    if (count != (uint32_t)g->n_params) {
        st = incept_fail(INCEPT_ERR_SHAPE, "%s: has %u parameters, the model has %d", path, count,
                         g->n_params);
        goto done;
    }
    seen = incept_calloc((size_t)g->n_params, 1);
    if (!seen) {
        st = INCEPT_ERR_NOMEM;
        goto done;
    }
    p = data + 16;
    end = data + size - 4;
    for (i = 0; i < count; i++) {
        NEED(4);
        uint32_t name_len = get_u32(p);
        p += 4;
        NEED(name_len + 4);
        char name[1024];
        if (name_len >= sizeof name) {
            st = incept_fail(INCEPT_ERR_FORMAT, "%s: parameter name too long", path);
            goto done;
        }
        memcpy(name, p, name_len);
        name[name_len] = '\0';
        p += name_len;
        uint32_t ndim = get_u32(p);
        p += 4;
        int k = incept_graph_find_param(g, name);
        if (k < 0 || seen[k]) {
            st = incept_fail(INCEPT_ERR_SHAPE, "%s: parameter '%s' %s", path, name,
                             k < 0 ? "is not in the model" : "appears twice");
            goto done;
        }
        const incept_param *mp = &g->params[k];
        NEED((size_t)ndim * 4);
        int same = ndim == (uint32_t)mp->ndim;
        for (uint32_t d = 0; d < ndim; d++)
            same = same && d < 4 && get_u32(p + 4 * d) == (uint32_t)mp->dims[d];
        if (!same) {
            st = incept_fail(INCEPT_ERR_SHAPE, "%s: parameter '%s' has another shape than the model's",
                             path, name);
            goto done;
        }
        p += 4 * (size_t)ndim;
        NEED(mp->count * sizeof(float));
        seen[k] = 1;
        p += mp->count * sizeof(float);
    }
    if (p != end) {
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: %zu unexpected bytes after the parameters", path,
                         (size_t)(end - p));
        goto done;
    }
    /* everything checked: copy (a second pass, so a bad file never leaves a half-loaded model) */
    p = data + 16;
    for (i = 0; i < count; i++) {
        uint32_t name_len = get_u32(p);
        char name[1024];
        memcpy(name, p + 4, name_len);
        name[name_len] = '\0';
        p += 4 + name_len;
        p += 4 + 4 * (size_t)get_u32(p);
        int k = incept_graph_find_param(g, name); /* found in the first pass */
        memcpy(incept_graph_param_data(g, k), p, g->params[k].count * sizeof(float));
        p += g->params[k].count * sizeof(float);
    }
done:
    free(seen);
    return st;
}
