/* test_images.c — pictures in: PNG (gray, RGB, RGBA, 16-bit) and JPEG written here with libpng
 * and libjpeg and read back; corrupt and truncated files refused with the file named; resizing,
 * crops, mirroring and the presets' arithmetic; `incept classify` carrying on past a bad image. */
#if INCEPT_WITH_IMAGES
#include <stddef.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "incept.h"
#include "test.h"

static void write_png(const char *path, int format, int h, int w, const void *pixels)
{
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)w, image.height = (png_uint_32)h, image.format = (png_uint_32)format;
    CHECK(png_image_write_to_file(&image, path, 0, pixels, 0, NULL));
}

static void write_jpeg(const char *path, int h, int w, const unsigned char *rgb)
{
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr err;
    FILE *f = fopen(path, "wb");
    cinfo.err = jpeg_std_error(&err);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = (JDIMENSION)w, cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = 3, cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 95, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)cinfo.next_scanline * w * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    fclose(f);
}

static void test_decoding(void)
{
    enum { H = 20, W = 30 };
    static unsigned char rgb[H * W * 3], rgba[H * W * 4], gray[H * W];
    static unsigned short gray16[H * W];
    for (int i = 0; i < H * W; i++) {
        rgb[i * 3] = rgba[i * 4] = (unsigned char)(i % 256);
        rgb[i * 3 + 1] = rgba[i * 4 + 1] = (unsigned char)(i / 3 % 256);
        rgb[i * 3 + 2] = rgba[i * 4 + 2] = 200;
        rgba[i * 4 + 3] = 255;
        gray[i] = (unsigned char)(i % 200);
        gray16[i] = (unsigned short)(gray[i] * 257);
    }
    write_png("/tmp/incept_rgb.png", PNG_FORMAT_RGB, H, W, rgb);
    write_png("/tmp/incept_rgba.png", PNG_FORMAT_RGBA, H, W, rgba);
    write_png("/tmp/incept_gray.png", PNG_FORMAT_GRAY, H, W, gray);
    write_png("/tmp/incept_gray16.png", PNG_FORMAT_LINEAR_Y, H, W, gray16);
    static unsigned char smooth[H * W * 3]; /* JPEG is for photos: a smooth one */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            smooth[(y * W + x) * 3] = (unsigned char)(x * 8);
            smooth[(y * W + x) * 3 + 1] = (unsigned char)(y * 10);
            smooth[(y * W + x) * 3 + 2] = 200;
        }
    write_jpeg("/tmp/incept_rgb.jpg", H, W, smooth);
    const char *exact[] = {"/tmp/incept_rgb.png", "/tmp/incept_rgba.png"};
    for (int k = 0; k < 2; k++) {
        incept_image im;
        CHECK_OK(incept_image_load(exact[k], &im));
        CHECK(im.c == 3 && im.h == H && im.w == W);
        int same = 1;
        for (int i = 0; i < H * W; i++)
            for (int c = 0; c < 3; c++)
                same &= im.data[c * H * W + i] == rgb[i * 3 + c];
        CHECK_MSG(same, "%s decodes to the pixels written", exact[k]);
        incept_image_free(&im);
    }
    incept_image im;
    CHECK_OK(incept_image_load("/tmp/incept_gray.png", &im));
    CHECK(im.c == 3 && im.data[0 * H * W + 77] == gray[77] && im.data[2 * H * W + 77] == gray[77]);
    incept_image_free(&im);
    CHECK_OK(incept_image_load("/tmp/incept_gray16.png", &im)); /* 16-bit linear: sRGB 8-bit */
    CHECK(im.h == H && im.w == W && im.data[0] == 0.0f && im.data[H * W - 1] > 0.0f);
    incept_image_free(&im);
    CHECK_OK(incept_image_load("/tmp/incept_rgb.jpg", &im));
    double error = 0.0; /* lossy: on average within a few levels */
    for (int i = 0; i < H * W; i++)
        for (int c = 0; c < 3; c++)
            error += fabsf(im.data[c * H * W + i] - smooth[i * 3 + c]);
    error /= 3.0 * H * W;
    CHECK_MSG(im.h == H && im.w == W && error < 3.0, "JPEG within its loss: %g", error);
    incept_image_free(&im);

    /* truncated JPEG and PNG, not an image, missing */
    const char *files[] = {"/tmp/incept_rgb.jpg", "/tmp/incept_rgb.png"};
    for (int k = 0; k < 2; k++) {
        FILE *f = fopen(files[k], "rb");
        unsigned char buf[8192];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        f = fopen("/tmp/incept_cut", "wb");
        fwrite(buf, 1, n / 2, f);
        fclose(f);
        CHECK(incept_image_load("/tmp/incept_cut", &im) == INCEPT_ERR_FORMAT);
        CHECK(strstr(incept_last_error(), "/tmp/incept_cut") != NULL);
    }
    for (int k = 0; k < 2; k++) { /* flipped bytes: decoded or refused, never a crash */
        FILE *src = fopen(files[k], "rb");
        static unsigned char good[16384], bad[16384];
        size_t len = fread(good, 1, sizeof good, src);
        fclose(src);
        unsigned s = 17u + (unsigned)k;
        for (int trial = 0; trial < 150; trial++) {
            memcpy(bad, good, len);
            for (int j = 0; j < 1 + trial % 3; j++) {
                s = s * 1664525u + 1013904223u;
                bad[(s >> 8) % len] ^= (unsigned char)(1 + (s >> 24) % 255);
            }
            FILE *out = fopen("/tmp/incept_cut", "wb");
            fwrite(bad, 1, len, out);
            fclose(out);
            if (incept_image_load("/tmp/incept_cut", &im) == INCEPT_OK)
                incept_image_free(&im);
            else
                CHECK(strstr(incept_last_error(), "/tmp/incept_cut") != NULL);
        }
    }
    FILE *f = fopen("/tmp/incept_cut", "w");
    fputs("hello", f);
    fclose(f);
    CHECK(incept_image_load("/tmp/incept_cut", &im) == INCEPT_ERR_FORMAT);
    CHECK(incept_image_load("/tmp/incept_missing.jpg", &im) == INCEPT_ERR_IO);
    unlink("/tmp/incept_cut");
}

static void test_geometry(void)
{
    float px[2 * 4 * 4];
    for (int i = 0; i < 32; i++)
        px[i] = (float)i;
    incept_image in = {2, 4, 4, px}, out;
    CHECK_OK(incept_image_resize(&in, 2, 2, 1, &out)); /* area: means of 2x2 blocks */
    CHECK(out.data[0] == (0 + 1 + 4 + 5) / 4.0f && out.data[7] == (26 + 27 + 30 + 31) / 4.0f);
    incept_image_free(&out);
    CHECK_OK(incept_image_resize(&in, 4, 4, 0, &out)); /* bilinear to the same size: identity */
    CHECK(memcmp(out.data, px, sizeof px) == 0);
    incept_image_free(&out);
    float crop[2 * 2 * 3];
    incept_image_crop(&in, 1, 1, 2, 3, 1, crop); /* rows 1-2, columns 1-3, mirrored */
    CHECK(crop[0] == 7 && crop[2] == 5 && crop[3] == 11 && crop[6] == 23);

    incept_preprocess p;
    CHECK_OK(incept_preprocess_preset("caffe", &p));
    float rgb[3 * 224 * 224], net[3 * 224 * 224];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 224 * 224; i++)
            rgb[c * 224 * 224 + i] = (float)(10 * (c + 1)); /* R 10, G 20, B 30 */
    incept_image flat = {3, 224, 224, rgb};
    CHECK_OK(incept_image_prepare(&flat, &p, 224, 224, -1, -1, 0, net));
    CHECK(fabsf(net[0] - (30 - 104.0f)) < 1e-4f && fabsf(net[2 * 224 * 224] - (10 - 123.0f)) < 1e-4f);
    CHECK_OK(incept_preprocess_preset("torchvision", &p));
    CHECK_OK(incept_image_prepare(&flat, &p, 224, 224, -1, -1, 0, net));
    CHECK(fabsf(net[0] - (10 / 255.0f - 0.485f) / 0.229f) < 1e-4f);
    CHECK(incept_preprocess_preset("opencv", &p) == INCEPT_ERR_ARG);
}

static int cli_status(const char *args, const char *out_path)
{
    const char *exe = getenv("INCEPT_CLI");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>&1 </dev/null", exe ? exe : "build/incept", args, out_path);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_classify(void)
{
    /* a 3-class net for 32x32 images, random weights: the plumbing, not the answers */
    FILE *f = fopen("/tmp/incept_cls.incept", "w");
    fputs("input data 3 32 32\nconv c 4 3x3 stride 2 relu\nglobalavgpool g\nfc out 3\n", f);
    fclose(f);
    f = fopen("/tmp/incept_cls.labels", "w");
    fputs("red \"thing\"\ngreen\nblue\n", f);
    fclose(f);
    CHECK(cli_status("classify /tmp/incept_cls.incept /tmp/incept_rgb.jpg /tmp/incept_missing.jpg "
                     "/tmp/incept_rgb.png --labels /tmp/incept_cls.labels --top 2 --crops 10 --json",
                     "/tmp/incept_cls.out") == 1); /* one image failed: exit 1, others classified */
    char text[8192] = "";
    f = fopen("/tmp/incept_cls.out", "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    CHECK_MSG(strstr(text, "{\"image\":\"/tmp/incept_rgb.jpg\",\"top\":[{\"class\":") &&
              strstr(text, "{\"image\":\"/tmp/incept_missing.jpg\",\"error\":") &&
              strstr(text, "{\"image\":\"/tmp/incept_rgb.png\",\"top\":[") && strstr(text, "\\\"thing\\\""),
              "classify --json output: %s", text);
    CHECK(cli_status("classify /tmp/incept_cls.incept /tmp/incept_cls.incept /tmp/incept_rgb.png",
                     "/tmp/incept_cls.out") == 0); /* an ensemble of two */
    /* the paper's 144 crops: probabilities still sum to one over the 3 classes */
    CHECK(cli_status("classify /tmp/incept_cls.incept /tmp/incept_rgb.jpg --crops 144 --top 3 --json",
                     "/tmp/incept_cls.out") == 0);
    f = fopen("/tmp/incept_cls.out", "r");
    n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    double sum = 0.0;
    for (const char *p = text; (p = strstr(p, "\"p\":")); p += 4)
        sum += atof(p + 4);
    CHECK_MSG(fabs(sum - 1.0) < 1e-4, "144-crop probabilities sum to %g", sum);
    CHECK(cli_status("classify /tmp/incept_cls.incept /tmp/incept_rgb.jpg --crops 7",
                     "/tmp/incept_cls.out") == 2);
    CHECK(cli_status("classify /tmp/incept_rgb.png", "/tmp/incept_cls.out") == 2);
    unlink("/tmp/incept_cls.incept");
    unlink("/tmp/incept_cls.labels");
    unlink("/tmp/incept_cls.out");
}

/* An ImageNet-layout folder: two classes of PNGs and one corrupt JPEG. */
static void test_folder(void)
{
    CHECK(system("rm -rf /tmp/incept_folder && mkdir -p /tmp/incept_folder/cat /tmp/incept_folder/dog") == 0);
    static unsigned char px[40 * 50 * 3];
    for (int k = 0; k < 6; k++) {
        for (int i = 0; i < 40 * 50; i++)
            for (int c = 0; c < 3; c++)
                px[i * 3 + c] = (unsigned char)(k < 3 ? (c == 0 ? 220 : 20) + i % 7 : (c == 2 ? 220 : 20));
        char path[128];
        snprintf(path, sizeof path, "/tmp/incept_folder/%s/%d.png", k < 3 ? "cat" : "dog", k);
        write_png(path, PNG_FORMAT_RGB, 40, 50, px);
    }
    FILE *f = fopen("/tmp/incept_folder/dog/broken.jpg", "wb");
    fputs("\xff\xd8\xff\xe0 not really", f);
    fclose(f);
    incept_preprocess pre;
    CHECK_OK(incept_preprocess_preset("torchvision", &pre));
    incept_dataset *d = NULL;
    CHECK_OK(incept_dataset_load_folder("/tmp/incept_folder", 32, 32, &pre, &d));
    if (!d)
        return;
    int n, c, h, w, classes;
    incept_dataset_dims(d, &n, &c, &h, &w, &classes);
    CHECK(n == 7 && c == 3 && h == 32 && w == 32 && classes == 2);
    CHECK(!strcmp(incept_dataset_class_name(d, 0), "cat") && !strcmp(incept_dataset_class_name(d, 1), "dog"));
    CHECK(incept_dataset_labels(d)[0] == 0 && incept_dataset_labels(d)[6] == 1);
    CHECK(incept_dataset_images(d) == NULL);
    static float a[3 * 32 * 32], b[3 * 32 * 32], e[3 * 32 * 32];
    CHECK_OK(incept_dataset_sample(d, 0, 0, 0, a)); /* centre crop: red cat */
    CHECK(a[0] > 1.0f && a[2 * 32 * 32] < -1.0f);
    CHECK_OK(incept_dataset_sample(d, 0, 1, 42, b));
    CHECK_OK(incept_dataset_sample(d, 0, 1, 42, e));
    CHECK(memcmp(b, e, sizeof b) == 0);              /* the same seed, the same augmentation */
    CHECK_OK(incept_dataset_sample(d, 0, 1, 43, e));
    CHECK(memcmp(b, e, sizeof b) != 0);              /* another seed, another */
    int bad = -1;
    for (int i = 0; i < n; i++)
        if (strstr(incept_dataset_class_name(d, incept_dataset_labels(d)[i]), "dog") &&
            incept_dataset_sample(d, i, 0, 0, a) != INCEPT_OK)
            bad = i;
    CHECK(bad == 6 && strstr(incept_last_error(), "broken.jpg") != NULL); /* sorted: after 5.png */
    incept_dataset_free(d);
    CHECK(incept_dataset_load_folder("/tmp/incept_no_folder", 32, 32, &pre, &d) == INCEPT_ERR_IO);

    /* train and evaluate on it through the CLI: the corrupt image is reported, not fatal */
    f = fopen("/tmp/incept_folder.incept", "w");
    fputs("input data 3 32 32\nconv c 4 3x3 stride 2 relu\nglobalavgpool g\nfc out 2\n", f);
    fclose(f);
    CHECK(cli_status("train /tmp/incept_folder.incept --train-dir /tmp/incept_folder --test-dir "
                     "/tmp/incept_folder --batch 4 --epochs 2 --lr 0.05 --threads 2 --out "
                     "/tmp/incept_folder.w", "/tmp/incept_cls.out") == 0);
    char text[8192] = "";
    f = fopen("/tmp/incept_cls.out", "r");
    size_t got = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[got] = '\0';
    if (f)
        fclose(f);
    CHECK_MSG(strstr(text, "could not be decoded") && strstr(text, "broken.jpg"), "%s", text);
    CHECK(cli_status("eval /tmp/incept_folder.incept --weights /tmp/incept_folder.w --test-dir "
                     "/tmp/incept_folder", "/tmp/incept_cls.out") == 0);
    f = fopen("/tmp/incept_cls.out", "r");
    got = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[got] = '\0';
    if (f)
        fclose(f);
    CHECK_MSG(strstr(text, "left out") && strstr(text, "n=6"), "%s", text);
    CHECK(system("rm -rf /tmp/incept_folder /tmp/incept_folder.incept /tmp/incept_folder.w "
                 "/tmp/incept_cls.out") == 0);
}

/* The model the README trains classifies a gray PNG by Fashion-MNIST's names (preset fashion,
 * the labels built in), and warns when it is given no weights. */
static void test_classify_fashion(void)
{
    unsigned char gray[28 * 28];
    for (int i = 0; i < 28 * 28; i++)
        gray[i] = (unsigned char)(i % 28 > 8 && i % 28 < 20 ? 230 : 10);
    write_png("/tmp/incept_fashion.png", PNG_FORMAT_GRAY, 28, 28, gray);
    CHECK(cli_status("init-weights models/fashion.incept /tmp/incept_fashion.w --seed 4", "/tmp/incept_cls.out") == 0);
    CHECK(cli_status("classify models/fashion.incept /tmp/incept_fashion.png /tmp/incept_rgb.jpg --weights "
                     "/tmp/incept_fashion.w --top 10", "/tmp/incept_cls.out") == 0);
    char text[8192] = "";
    FILE *f = fopen("/tmp/incept_cls.out", "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    CHECK_MSG(strstr(text, "Ankle boot") && strstr(text, "T-shirt/top") && !strstr(text, "warning"), "%s", text);
    CHECK(cli_status("classify models/fashion.incept /tmp/incept_fashion.png", "/tmp/incept_cls.out") == 0);
    f = fopen("/tmp/incept_cls.out", "r");
    n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    CHECK_MSG(strstr(text, "warning: models/fashion.incept has random weights"), "%s", text);
    CHECK(cli_status("classify models/fashion.incept /tmp/incept_fashion.png --preset caffe",
                     "/tmp/incept_cls.out") == 2); /* an RGB preset for a gray model */
    unlink("/tmp/incept_fashion.png"), unlink("/tmp/incept_fashion.w");
}

int main(void)
{
    test_decoding();
    if (INCEPT_WITH_DATASETS)
        test_folder();
    else
        printf("test_images: image folders skipped: this build reads no dataset files "
               "(INCEPT_WITH_DATASETS=OFF)\n");
    test_geometry();
    test_classify();
    test_classify_fashion();
    const char *names[] = {"rgb.png", "rgba.png", "gray.png", "gray16.png", "rgb.jpg"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/incept_%s", names[i]);
        unlink(path);
    }
    return test_summary("test_images");
}
#else /* a build without image decoding: nothing here can run */
#include <stdio.h>

int main(void)
{
    printf("test_images: skipped: this build has no image decoding (INCEPT_WITH_IMAGES=OFF)\n");
    return 77;
}
#endif
