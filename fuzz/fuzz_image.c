/* fuzz_image.c — libFuzzer harness: JPEG or PNG bytes (incept_image_load, which picks the
 * decoder by content), under a pixel limit of 2^20 so that a header's claim cannot ask for more;
 * then a resize and the network preparation of what decodes. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    incept_set_limit(INCEPT_LIMIT_IMAGE_PIXELS, (size_t)1 << 20);
    char path[256];
    if (!fuzz_write_file(data, size, ".img", path, sizeof path))
        return 0;
    incept_image image, small;
    if (incept_image_load(path, &image) == INCEPT_OK) {
        if (incept_image_resize(&image, 7, 5, size & 1, &small) == INCEPT_OK)
            incept_image_free(&small);
        incept_preprocess pre;
        float out[3 * 8 * 8];
        if (incept_preprocess_preset(size & 2 ? "caffe" : "torchvision", &pre) == INCEPT_OK)
            incept_image_prepare(&image, &pre, 8, 8, -1, -1, (int)(size & 4), out);
        incept_image_free(&image);
    }
    remove(path);
    return 0;
}
