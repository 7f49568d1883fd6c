/* image_none.c — image decoding in a build without it (INCEPT_WITH_IMAGES=OFF, no libjpeg or
 * libpng): incept_image_load says so, naming the file; resizing, crops and preprocessing
 * (image.c) are there as in any build. */
#include <string.h>

#include "core/status.h"
#include "incept.h"

incept_status incept_image_load(const char *path, incept_image *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: this build of incept decodes no images (it was "
                       "configured with INCEPT_WITH_IMAGES=OFF)", path ? path : "(null)");
}
