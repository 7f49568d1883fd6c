/* image_decode.c — photos in: JPEG through libjpeg-turbo, PNG through libpng (gray, RGB, RGBA,
 * 16-bit and palettes all arrive as 8-bit RGB), their sizes checked against the pixel limit from
 * the header before anything is decoded. Decoder errors never exit: libjpeg's are caught with
 * setjmp, libpng's simplified API reports them, and every message names the file. Left out of a
 * build with INCEPT_WITH_IMAGES=OFF (image_none.c stands in). */
#include <math.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h> /* needs stdio.h and stddef.h first */
#include <png.h>

#include "core/limits.h"
#include "core/status.h"
#include "incept.h"

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf escape;
    char message[JMSG_LENGTH_MAX];
} jpeg_errors;

static void jpeg_error_exit(j_common_ptr cinfo)
{
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    e->base.format_message(cinfo, e->message);
    longjmp(e->escape, 1);
}

/* Warnings (level -1) are counted, not printed: a truncated file is an error for us. */
static void jpeg_quiet(j_common_ptr cinfo, int level)
{
    if (level < 0)
        cinfo->err->num_warnings++;
}

/* A decoder's claimed size against the pixel limit, before anything of that size is allocated
 * (a few hundred bytes of header can claim gigapixels). */
static incept_status check_pixels(const char *path, unsigned long w, unsigned long h)
{
    size_t limit = incept_limit(INCEPT_LIMIT_IMAGE_PIXELS);
    if (w < 1 || h < 1 || w > (1ul << 24) || h > (1ul << 24) || (size_t)w * h > limit)
        return incept_fail(INCEPT_ERR_FORMAT, "%s: %lux%lu pixels: unusable size (at most %zu pixels: "
                           "INCEPT_LIMIT_IMAGE_PIXELS)", path, w, h, limit);
    return INCEPT_OK;
}

/* Decodes to interleaved 8-bit RGB. */
static incept_status load_jpeg(const char *path, FILE *f, unsigned char **pixels, int *h, int *w)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_errors err;
    unsigned char *volatile buf = NULL;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = jpeg_error_exit;
    err.base.emit_message = jpeg_quiet; /* warnings (e.g. a truncated file) become errors below */
    if (setjmp(err.escape)) {
        jpeg_destroy_decompress(&cinfo);
        free(buf);
        return incept_fail(INCEPT_ERR_FORMAT, "%s: corrupt JPEG: %s", path, err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    incept_status st = check_pixels(path, cinfo.image_width, cinfo.image_height);
    if (st) {
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    jpeg_start_decompress(&cinfo);
    size_t row = (size_t)cinfo.output_width * 3;
    buf = incept_malloc(row * cinfo.output_height);
    if (!buf) {
        jpeg_destroy_decompress(&cinfo);
        return incept_fail_prefix(INCEPT_ERR_NOMEM, "%s: ", path);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW line = buf + row * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &line, 1);
    }
    if (err.base.num_warnings > 0) { /* libjpeg pads a truncated file with grey: refuse it */
        jpeg_destroy_decompress(&cinfo);
        free(buf);
        return incept_fail(INCEPT_ERR_FORMAT, "%s: corrupt or truncated JPEG data", path);
    }
    jpeg_finish_decompress(&cinfo);
    *h = (int)cinfo.output_height, *w = (int)cinfo.output_width;
    jpeg_destroy_decompress(&cinfo);
    *pixels = buf;
    return INCEPT_OK;
}

static incept_status load_png(const char *path, unsigned char **pixels, int *h, int *w)
{
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, path))
        return incept_fail(INCEPT_ERR_FORMAT, "%s: corrupt PNG: %s", path, image.message);
    image.format = PNG_FORMAT_RGB; /* gray, palette, 16-bit and alpha (over black) become RGB8 */
    incept_status st = check_pixels(path, image.width, image.height);
    if (st) {
        png_image_free(&image);
        return st;
    }
    unsigned char *buf = incept_malloc(PNG_IMAGE_SIZE(image));
    if (!buf) {
        png_image_free(&image);
        return incept_fail_prefix(INCEPT_ERR_NOMEM, "%s: ", path);
    }
    if (!png_image_finish_read(&image, NULL, buf, 0, NULL)) {
        free(buf);
        return incept_fail(INCEPT_ERR_FORMAT, "%s: corrupt PNG: %s", path, image.message);
    }
    *h = (int)image.height, *w = (int)image.width;
    *pixels = buf;
    return INCEPT_OK;
}

incept_status incept_image_load(const char *path, incept_image *out)
{
    if (!path || !out)
        return incept_fail(INCEPT_ERR_ARG, "image_load needs a path and an image");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return incept_fail(INCEPT_ERR_IO, "%s: cannot open", path);
    unsigned char magic[8] = {0}, *rgb = NULL;
    size_t got = fread(magic, 1, sizeof magic, f);
    int h = 0, w = 0;
    incept_status st;
    rewind(f);
    if (got >= 3 && magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff)
        st = load_jpeg(path, f, &rgb, &h, &w);
    else if (got == 8 && !png_sig_cmp(magic, 0, 8))
        st = load_png(path, &rgb, &h, &w);
    else
        st = incept_fail(INCEPT_ERR_FORMAT, "%s: neither JPEG nor PNG", path);
    fclose(f);
    if (st)
        return st;
    if (h < 1 || w < 1 || (size_t)h * w > incept_limit(INCEPT_LIMIT_IMAGE_PIXELS)) {
        free(rgb);
        return incept_fail(INCEPT_ERR_FORMAT, "%s: unusable size %dx%d", path, w, h);
    }
    out->data = incept_malloc(sizeof(float) * 3 * (size_t)h * w);
    if (!out->data) {
        free(rgb);
        return incept_fail_prefix(INCEPT_ERR_NOMEM, "%s: ", path);
    }
    out->c = 3, out->h = h, out->w = w;
    size_t plane = (size_t)h * w;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++)
            out->data[c * plane + i] = rgb[i * 3 + c];
    free(rgb);
    return INCEPT_OK;
}
