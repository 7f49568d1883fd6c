/* load.c — opening models by file name: reading files (and the byte buffer the writers share),
 * choosing ONNX or description by the name, and the built-in GoogLeNet. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"
#include "graph/graph.h"
#include "io/io.h"
#include "nets/layers.h"
#include "nets/variant.h"

incept_status incept_read_file(const char *path, char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    /* only regular files: a FIFO or device named by a checkpoint must not block or run forever */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat info;
    if (fd < 0)
        return incept_fail(INCEPT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        close(fd);
        return incept_fail(INCEPT_ERR_IO, "%s: not a regular file", path);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return incept_fail(INCEPT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    incept_status st = INCEPT_OK;
    long length = -1;
    if (fseek(f, 0, SEEK_END) != 0 || (length = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        st = incept_fail(INCEPT_ERR_IO, "%s: cannot determine its size: %s", path, strerror(errno));
        goto done;
    }
    char *buf = incept_malloc((size_t)length + 1);
    if (!buf) {
        st = incept_fail_prefix(INCEPT_ERR_NOMEM, "%s: ", path);
        goto done;
    }
    if (fread(buf, 1, (size_t)length, f) != (size_t)length) {
        free(buf);
        st = incept_fail(INCEPT_ERR_IO, "%s: read failed", path);
        goto done;
    }
    buf[length] = '\0';
    *data = buf;
    *size = (size_t)length;
done:
    fclose(f);
    return st;
}

incept_status incept_bytes_put(incept_bytes *b, const void *src, size_t n)
{
    if (b->size + n > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 4096;
        while (capacity < b->size + n)
            capacity *= 2;
        unsigned char *p = incept_realloc(b->data, capacity);
        if (!p)
            return INCEPT_ERR_NOMEM;
        b->data = p;
        b->capacity = capacity;
    }
    memcpy(b->data + b->size, src, n);
    b->size += n;
    return INCEPT_OK;
}

incept_status incept_model_load_description(const char *path, incept_model **out)
{
    return incept_model_load_description_variant(path, NULL, out);
}

incept_status incept_model_load_description_variant(const char *path, const incept_variant *variant,
                                                    incept_model **out)
{
    if (!path || !out)
        return incept_fail(INCEPT_ERR_ARG, "load_description needs a path and an output handle");
    *out = NULL;
    char *text;
    size_t size;
    incept_status st = incept_read_file(path, &text, &size);
    if (st)
        return st;
    if (strlen(text) != size)
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: not a text file (contains NUL bytes)", path);
    else
        st = incept_model_parse_description_variant(text, path, variant, out);
    free(text);
    return st;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

incept_status incept_model_load(const char *path, const char *weights_path, incept_model **out)
{
    if (!path || !out)
        return incept_fail(INCEPT_ERR_ARG, "load needs a path and an output handle");
    *out = NULL;
    incept_status st = ends_with(path, ".onnx") ? incept_model_load_onnx(path, out)
                                                : incept_model_load_description(path, out);
    if (st || !weights_path)
        return st;
    if ((st = incept_model_load_weights(*out, weights_path))) {
        incept_model_free(*out);
        *out = NULL;
    }
    return st;
}

incept_status incept_model_googlenet(int classes, unsigned long long seed, incept_model **out)
{
    return incept_model_googlenet_variant(classes, seed, NULL, out);
}

incept_status incept_model_googlenet_variant(int classes, unsigned long long seed,
                                             const incept_variant *variant, incept_model **out)
{
    if (!out)
        return incept_fail(INCEPT_ERR_ARG, "googlenet needs an output handle");
    *out = NULL;
    incept_knobs knobs;
    incept_knobs_init(&knobs);
    incept_graph g;
    incept_graph_init(&g);
    incept_status st = incept_knobs_from_variant(&knobs, variant);
    if (!st)
        st = incept_build_googlenet(&g, classes, &knobs);
    incept_knobs_free(&knobs);
    if (st) {
        incept_graph_free(&g);
        return st;
    }
    if ((st = incept_model_wrap(&g, out)))
        return st;
    incept_model_init_weights(*out, seed);
    return INCEPT_OK;
}
