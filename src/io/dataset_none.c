/* dataset_none.c — dataset files in a build without them (INCEPT_WITH_DATASETS=OFF: no idx, raw
 * or image-folder parser is compiled in): each loader says so, naming the file. */
#include <stddef.h>

#include "core/status.h"
#include "incept.h"

static incept_status none(const char *path, incept_dataset **out)
{
    if (out)
        *out = NULL;
    return incept_fail(INCEPT_ERR_UNSUPPORTED, "%s: this build of incept reads no dataset files (it "
                       "was configured with INCEPT_WITH_DATASETS=OFF)", path ? path : "(null)");
}

incept_status incept_dataset_load_idx(const char *images_path, const char *labels_path,
                                      incept_dataset **out)
{
    (void)labels_path;
    return none(images_path, out);
}

incept_status incept_dataset_load_raw(const char *inputs_path, const char *labels_path, int c, int h,
                                      int w, incept_dataset **out)
{
    (void)labels_path, (void)c, (void)h, (void)w;
    return none(inputs_path, out);
}

incept_status incept_dataset_load_folder(const char *dir, int h, int w,
                                         const incept_preprocess *preprocess, incept_dataset **out)
{
    (void)h, (void)w, (void)preprocess;
    return none(dir, out);
}
