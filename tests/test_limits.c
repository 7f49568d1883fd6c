/* test_limits.c — sizes from hostile files (issue "Robustness"): every one is checked before it is
 * multiplied or allocated, and fails with a status and a message naming the file: a conv whose
 * parameter count overflows, an ONNX initializer claiming gigabytes with a few bytes of data, an
 * idx header whose sizes multiply past 2^64, raw tensors of absurd sample sizes, graph outputs
 * without names, training a model whose output is its input, JPEG and PNG headers claiming
 * gigapixels, gzip'd datasets that inflate a thousandfold. The ONNX files are built here with
 * protobuf-c, node by node; the images with libjpeg and libpng, then their headers edited. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#if INCEPT_WITH_IMAGES
#include <jpeglib.h>
#include <png.h>
#endif

#include "incept.h"
#include "onnx.pb-c.h"
#include "test.h"

/* ---- a tiny ONNX writer for hostile graphs ---- */

static Onnx__ValueInfoProto *value_info(const char *name, int elem, int rank, const int64_t *dims)
{
    Onnx__ValueInfoProto *v = calloc(1, sizeof *v);
    Onnx__TypeProto *t = calloc(1, sizeof *t);
    Onnx__TypeProto__Tensor *tt = calloc(1, sizeof *tt);
    Onnx__TensorShapeProto *shape = calloc(1, sizeof *shape);
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(t);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(shape);
    shape->n_dim = (size_t)rank;
    shape->dim = calloc((size_t)rank + 1, sizeof *shape->dim);
    for (int d = 0; d < rank; d++) {
        shape->dim[d] = calloc(1, sizeof **shape->dim);
        onnx__tensor_shape_proto__dimension__init(shape->dim[d]);
        if (dims[d] < 0) {
            shape->dim[d]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            shape->dim[d]->dim_param = strdup("N");
        } else {
            shape->dim[d]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            shape->dim[d]->dim_value = dims[d];
        }
    }
    tt->has_elem_type = 1, tt->elem_type = elem;
    tt->shape = shape;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, t->tensor_type = tt;
    v->name = name ? strdup(name) : NULL;
    v->type = t;
    return v;
}

static Onnx__NodeProto *node(const char *op, const char *name, const char *const *inputs, int n_in,
                             const char *output)
{
    Onnx__NodeProto *n = calloc(1, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = strdup(op);
    n->name = strdup(name);
    n->n_input = (size_t)n_in;
    n->input = calloc((size_t)n_in + 1, sizeof(char *));
    for (int i = 0; i < n_in; i++)
        n->input[i] = strdup(inputs[i]);
    n->n_output = 1;
    n->output = calloc(1, sizeof(char *));
    n->output[0] = strdup(output);
    return n;
}

/* A float initializer of the given dims holding only `bytes` bytes of data. */
static Onnx__TensorProto *initializer(const char *name, int ndim, const int64_t *dims, size_t bytes)
{
    Onnx__TensorProto *t = calloc(1, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = strdup(name);
    t->n_dims = (size_t)ndim;
    t->dims = calloc((size_t)ndim, sizeof(int64_t));
    memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    t->has_data_type = 1, t->data_type = 1;
    t->has_raw_data = 1, t->raw_data.len = bytes, t->raw_data.data = calloc(bytes ? bytes : 1, 1);
    return t;
}

/* Writes the graph (opset 13) to path and frees it. */
static void write_model(const char *path, Onnx__GraphProto *g)
{
    Onnx__ModelProto m;
    Onnx__OperatorSetIdProto opset, *opsets[1] = {&opset};
    onnx__model_proto__init(&m);
    onnx__operator_set_id_proto__init(&opset);
    opset.domain = "", opset.has_version = 1, opset.version = 13;
    m.has_ir_version = 1, m.ir_version = 7;
    m.opset_import = opsets, m.n_opset_import = 1;
    m.graph = g;
    size_t len = onnx__model_proto__get_packed_size(&m);
    unsigned char *buf = malloc(len);
    onnx__model_proto__pack(&m, buf);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(buf, 1, len, f);
        fclose(f);
    }
    free(buf);
    onnx__graph_proto__free_unpacked(g, NULL); /* everything above came from malloc */
}

static Onnx__GraphProto *graph(void)
{
    Onnx__GraphProto *g = calloc(1, sizeof *g);
    onnx__graph_proto__init(g);
    g->name = strdup("hostile");
    return g;
}

static void add_input(Onnx__GraphProto *g, Onnx__ValueInfoProto *v)
{
    g->input = realloc(g->input, sizeof *g->input * (g->n_input + 1));
    g->input[g->n_input++] = v;
}

static void add_output(Onnx__GraphProto *g, Onnx__ValueInfoProto *v)
{
    g->output = realloc(g->output, sizeof *g->output * (g->n_output + 1));
    g->output[g->n_output++] = v;
}

static void add_node(Onnx__GraphProto *g, Onnx__NodeProto *n)
{
    g->node = realloc(g->node, sizeof *g->node * (g->n_node + 1));
    g->node[g->n_node++] = n;
}

static void add_initializer(Onnx__GraphProto *g, Onnx__TensorProto *t)
{
    g->initializer = realloc(g->initializer, sizeof *g->initializer * (g->n_initializer + 1));
    g->initializer[g->n_initializer++] = t;
}

#define TMP "/tmp/incept_test_limits.onnx"

/* A Conv whose weight claims 2x10^7 filters with 4 bytes of data: refused before anything is sized
 * by the claim, naming the initializer. */
static void test_initializer_claims(void)
{
    Onnx__GraphProto *g = graph();
    const int64_t x_dims[4] = {-1, 3, 8, 8}, w_dims[4] = {20000000, 3, 3, 3};
    add_input(g, value_info("x", 1, 4, x_dims));
    add_initializer(g, initializer("w", 4, w_dims, 4));
    const char *ins[2] = {"x", "w"};
    add_node(g, node("Conv", "conv", ins, 2, "y"));
    add_output(g, value_info("y", 1, 4, x_dims));
    write_model(TMP, g);
    incept_model *m = NULL;
    incept_status st = incept_model_load(TMP, NULL, &m);
    CHECK_MSG(st == INCEPT_ERR_FORMAT && strstr(incept_last_error(), "'w'") &&
                  strstr(incept_last_error(), TMP), "status %d: %s", st, incept_last_error());
    incept_model_free(m);
    /* dims whose product wraps to 0 with no data at all */
    g = graph();
    const int64_t wrap[4] = {1LL << 32, 1LL << 32, 1, 1};
    add_input(g, value_info("x", 1, 4, x_dims));
    add_initializer(g, initializer("w", 4, wrap, 0));
    add_node(g, node("Conv", "conv", ins, 2, "y"));
    add_output(g, value_info("y", 1, 4, x_dims));
    write_model(TMP, g);
    st = incept_model_load(TMP, NULL, &m);
    CHECK_MSG(st != INCEPT_OK, "a weight of 2^64 values wrapping to 0 is refused (%s)", incept_last_error());
    incept_model_free(m);
    /* int64 attributes and dims never truncated into range: group 2^32 + 1 is not group 1, a
     * filter count of 2^32 + 2 is not 2 */
    const int64_t small[4] = {2, 3, 1, 1}, huge[4] = {(1LL << 32) + 2, 3, 1, 1};
    for (int k = 0; k < 2; k++) {
        g = graph();
        add_input(g, value_info("x", 1, 4, x_dims));
        add_initializer(g, initializer("w", 4, k ? huge : small, k ? 24 : 24));
        Onnx__NodeProto *conv = node("Conv", "conv", ins, 2, "y");
        if (!k) {
            Onnx__AttributeProto *a = calloc(1, sizeof *a);
            onnx__attribute_proto__init(a);
            a->name = strdup("group");
            a->has_type = 1, a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
            a->has_i = 1, a->i = (1LL << 32) + 1;
            conv->n_attribute = 1;
            conv->attribute = calloc(1, sizeof *conv->attribute);
            conv->attribute[0] = a;
        }
        add_node(g, conv);
        add_output(g, value_info("y", 1, 4, x_dims));
        write_model(TMP, g);
        st = incept_model_load(TMP, NULL, &m);
        CHECK_MSG(st == INCEPT_ERR_FORMAT && strstr(incept_last_error(), k ? "'w' has a dim" : "'group' is 4294967297"),
                  "status %d: %s", st, incept_last_error());
        incept_model_free(m);
        m = NULL;
    }
    unlink(TMP);
}

/* Graph outputs without names; a model whose output is its input cannot train. */
static void test_graph_shapes(void)
{
    Onnx__GraphProto *g = graph();
    const int64_t dims[2] = {-1, 3};
    add_input(g, value_info("x", 1, 2, dims));
    const char *ins[1] = {"x"};
    add_node(g, node("Relu", "relu", ins, 1, "y"));
    add_output(g, value_info("y", 1, 2, dims));
    add_output(g, value_info(NULL, 1, 2, dims));
    write_model(TMP, g);
    incept_model *m = NULL;
    incept_status st = incept_model_load(TMP, NULL, &m);
    CHECK_MSG(st == INCEPT_ERR_FORMAT && strstr(incept_last_error(), "no name"), "%s", incept_last_error());
    incept_model_free(m);

    g = graph();
    add_input(g, value_info("x", 1, 2, dims));
    add_node(g, node("Identity", "same", ins, 1, "y"));
    add_output(g, value_info("y", 1, 2, dims));
    write_model(TMP, g);
    m = NULL;
    incept_session *s = NULL;
    CHECK_OK(incept_model_load(TMP, NULL, &m));
    if (m && incept_session_new(m, &s) == INCEPT_OK) {
        float x[6] = {1, 2, 3, 4, 5, 6}, loss = 0;
        int labels[2] = {0, 1};
        st = incept_session_train_step(s, x, labels, 2, &loss);
        CHECK_MSG(st == INCEPT_ERR_UNSUPPORTED && strstr(incept_last_error(), "its input"), "status %d: %s", st,
                  incept_last_error());
    }
    incept_session_free(s);
    incept_model_free(m);
    unlink(TMP);
}

/* Descriptions of sizes past the limits: a conv with more parameters than fit in 64 bits, a
 * sample of more values than an int counts, a pad past an int's plane. */
static void test_description_sizes(void)
{
    incept_model *m = NULL;
    incept_status st = incept_model_parse_description("input x 65536 40000 40000\nconv c 65536 30000x30000\n",
                                                      "huge.incept", &m);
    CHECK_MSG(st == INCEPT_ERR_SHAPE && strstr(incept_last_error(), "huge.incept"), "status %d: %s", st,
              incept_last_error());
    incept_model_free(m);
    /* a layer within the per-sample limit whose weights take more than 64 bits to count */
    m = NULL;
    st = incept_model_parse_description("input x 65536 1 1\nconv c 1000000000 30000x30000 pad 15000\n",
                                        "wide.incept", &m);
    CHECK_MSG(st == INCEPT_ERR_SHAPE && strstr(incept_last_error(), "wide.incept:2") &&
              strstr(incept_last_error(), "c.weight"), "status %d: %s", st, incept_last_error());
    incept_model_free(m);
    /* more values a sample than an int counts (fuzz_description: an fc's features overflowed) */
    m = NULL;
    st = incept_model_parse_description("input x 3 12 121111111\nfc f 5\n", "deep.incept", &m);
    CHECK_MSG(st == INCEPT_ERR_SHAPE && strstr(incept_last_error(), "deep.incept:1") &&
              strstr(incept_last_error(), "values a sample"), "status %d: %s", st, incept_last_error());
    incept_model_free(m);
    /* within the per-sample limit, but not at a batch of 3: the session says so */
    m = NULL;
    CHECK_OK(incept_model_parse_description("input x 1000 1000 1000\nrelu r\n", "batch.incept", &m));
    incept_session *session = NULL;
    if (m && incept_session_new(m, &session) == INCEPT_OK) {
        float one = 0.0f;
        st = incept_session_forward(session, &one, 3, &one);
        CHECK_MSG(st == INCEPT_ERR_SHAPE && strstr(incept_last_error(), "at batch 3"), "status %d: %s",
                  st, incept_last_error());
    }
    incept_session_free(session);
    incept_model_free(m);
    m = NULL;
    st = incept_model_parse_description("input x 1 200000000 2\npad p 1000000000,0,1000000000,0\n",
                                        "pad.incept", &m);
    CHECK_MSG(st == INCEPT_ERR_SHAPE && strstr(incept_last_error(), "pad.incept:2"), "status %d: %s",
              st, incept_last_error());
    incept_model_free(m);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

/* idx headers whose sizes multiply past 2^64, and raw samples of absurd size. */
static void test_dataset_sizes(void)
{
    const unsigned char images[] = {0, 0, 8, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 7};
    const unsigned char labels[] = {0, 0, 8, 1, 0, 1, 0, 0, 1};
    write_bytes("/tmp/incept_limits_images.idx", images, sizeof images);
    write_bytes("/tmp/incept_limits_labels.idx", labels, sizeof labels);
    incept_dataset *d = NULL;
    incept_status st = incept_dataset_load_idx("/tmp/incept_limits_images.idx", "/tmp/incept_limits_labels.idx", &d);
    CHECK_MSG(st == INCEPT_ERR_FORMAT && strstr(incept_last_error(), "incept_limits_images"), "status %d: %s", st,
              incept_last_error());
    incept_dataset_free(d);
    const float x[4] = {0}, y[1] = {0};
    write_bytes("/tmp/incept_limits_x.bin", x, sizeof x);
    write_bytes("/tmp/incept_limits_y.bin", y, sizeof y);
    d = NULL;
    st = incept_dataset_load_raw("/tmp/incept_limits_x.bin", "/tmp/incept_limits_y.bin", 1 << 30, 1 << 30, 1 << 30, &d);
    CHECK_MSG(st == INCEPT_ERR_SHAPE, "a sample of 2^92 floats: status %d: %s", st, incept_last_error());
    incept_dataset_free(d);
    unlink("/tmp/incept_limits_images.idx"), unlink("/tmp/incept_limits_labels.idx");
    unlink("/tmp/incept_limits_x.bin"), unlink("/tmp/incept_limits_y.bin");
}

#if INCEPT_WITH_IMAGES
static size_t read_back(const char *path, unsigned char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size, f) : 0;
    if (f)
        fclose(f);
    return n;
}

static void put_be32(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* A real 8x8 JPEG and PNG whose headers then claim 30000x30000 (900 megapixels): refused before
 * anything of that size is allocated, naming the file and the limit; the genuine images load,
 * and fail again under a pixel limit below 64. */
static void test_image_pixels(void)
{
    unsigned char rgb[8 * 8 * 3], file[4096];
    for (size_t i = 0; i < sizeof rgb; i++)
        rgb[i] = (unsigned char)(i * 7);
    const char *jpg = "/tmp/incept_limits.jpg", *png = "/tmp/incept_limits.png";
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    FILE *f = fopen(jpg, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    jpeg_stdio_dest(&c, f);
    c.image_width = 8, c.image_height = 8, c.input_components = 3, c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < 8) {
        JSAMPROW row = rgb + c.next_scanline * 24;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION, image.width = 8, image.height = 8, image.format = PNG_FORMAT_RGB;
    CHECK(png_image_write_to_file(&image, png, 0, rgb, 0, NULL));

    incept_image im;
    CHECK_OK(incept_image_load(jpg, &im));
    incept_image_free(&im);
    CHECK_OK(incept_image_load(png, &im));
    incept_image_free(&im);
    size_t previous = incept_set_limit(INCEPT_LIMIT_IMAGE_PIXELS, 63);
    CHECK(previous == (size_t)1 << 25);
    incept_status st = incept_image_load(png, &im);
    CHECK_MSG(st == INCEPT_ERR_FORMAT && strstr(incept_last_error(), "INCEPT_LIMIT_IMAGE_PIXELS"), "status %d: %s",
              st, incept_last_error());
    CHECK(incept_set_limit(INCEPT_LIMIT_IMAGE_PIXELS, 0) == 63);

    size_t n = read_back(jpg, file, sizeof file);
    int patched = 0;
    for (size_t i = 0; i + 9 < n && !patched; i++)
        if (file[i] == 0xff && (file[i + 1] == 0xc0 || file[i + 1] == 0xc2)) { /* SOF: height, width */
            file[i + 5] = 30000 >> 8, file[i + 6] = 30000 & 255, file[i + 7] = 30000 >> 8, file[i + 8] = 30000 & 255;
            patched = 1;
        }
    CHECK(patched);
    write_bytes(jpg, file, n);
    st = incept_image_load(jpg, &im);
    CHECK_MSG(st == INCEPT_ERR_FORMAT && strstr(incept_last_error(), "incept_limits.jpg") &&
              strstr(incept_last_error(), "30000x30000"), "status %d: %s", st, incept_last_error());
    n = read_back(png, file, sizeof file);
    CHECK(n > 33 && memcmp(file + 12, "IHDR", 4) == 0);
    put_be32(file + 16, 30000), put_be32(file + 20, 30000);
    put_be32(file + 29, (unsigned)crc32(0L, file + 12, 17)); /* the chunk's CRC covers type and data */
    write_bytes(png, file, n);
    st = incept_image_load(png, &im);
    CHECK_MSG(st == INCEPT_ERR_FORMAT && strstr(incept_last_error(), "incept_limits.png") &&
              strstr(incept_last_error(), "30000x30000"), "status %d: %s", st, incept_last_error());
    unlink(jpg), unlink(png);
}
#else
static void test_image_pixels(void)
{
    printf("test_limits: image pixel limits skipped: this build has no image decoding "
           "(INCEPT_WITH_IMAGES=OFF)\n");
}
#endif

/* A gzip'd idx of 1 MiB that compresses ~300-fold: refused past the default inflation limit (64),
 * loaded once the caller raises it. */
static void test_gzip_inflation(void)
{
    const char *images = "/tmp/incept_limits_images.idx.gz", *labels = "/tmp/incept_limits_labels.idx";
    gzFile g = gzopen(images, "wb");
    CHECK(g != NULL);
    if (!g)
        return;
    static unsigned char data[16 + 1024 * 1024];
    const unsigned char header[16] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 4, 0, 0, 0, 4, 0};
    memcpy(data, header, sizeof header);
    unsigned state = 1;
    for (int i = 0; i < 2048; i++) /* a little noise: ~300-fold, not deflate's 1000 */
        data[16 + i * 3] = (unsigned char)((state = state * 1103515245u + 12345u) >> 24);
    gzwrite(g, data, sizeof data);
    gzclose(g);
    const unsigned char one_label[] = {0, 0, 8, 1, 0, 0, 0, 1, 3};
    write_bytes(labels, one_label, sizeof one_label);
    incept_dataset *d = NULL;
    incept_status st = incept_dataset_load_idx(images, labels, &d);
    CHECK_MSG(st == INCEPT_ERR_FORMAT && strstr(incept_last_error(), "INCEPT_LIMIT_INFLATION") &&
              strstr(incept_last_error(), "incept_limits_images"), "status %d: %s", st, incept_last_error());
    incept_dataset_free(d);
    d = NULL;
    incept_set_limit(INCEPT_LIMIT_INFLATION, 1032);
    CHECK_OK(incept_dataset_load_idx(images, labels, &d));
    int count = 0, ch, h, w, classes;
    if (d)
        incept_dataset_dims(d, &count, &ch, &h, &w, &classes);
    CHECK(count == 1 && h == 1024 && w == 1024);
    incept_dataset_free(d);
    incept_set_limit(INCEPT_LIMIT_INFLATION, 0);
    unlink(images), unlink(labels);
}

int main(void)
{
    test_image_pixels();
    test_initializer_claims();
    test_graph_shapes();
    test_description_sizes();
    if (INCEPT_WITH_DATASETS) {
        test_gzip_inflation();
        test_dataset_sizes();
    } else {
        printf("%s: %s skipped: this build reads no dataset files (INCEPT_WITH_DATASETS=OFF)\n", "test_limits", "dataset sizes");
    }
    return test_summary("test_limits");
}
