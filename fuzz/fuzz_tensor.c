/* fuzz_tensor.c — libFuzzer harness: one serialized ONNX TensorProto (incept_tensor_load, the
 * input_N.pb of ONNX test data), and what loads written back and read again. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256], again[300];
    if (!fuzz_write_file(data, size, ".pb", path, sizeof path))
        return 0;
    incept_tensor t, back;
    if (incept_tensor_load(path, &t) == INCEPT_OK) {
        snprintf(again, sizeof again, "%s.again", path);
        if (incept_tensor_save(again, &t) == INCEPT_OK && incept_tensor_load(again, &back) == INCEPT_OK)
            incept_tensor_free(&back);
        remove(again);
        incept_tensor_free(&t);
    }
    remove(path);
    return 0;
}
