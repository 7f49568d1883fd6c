/* fuzz_onnx.c — libFuzzer harness: an ONNX model from bytes (incept_model_load_onnx_memory:
 * parsing, import onto the fast and the generic path, probing), then a bounded forward pass and one training step. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    incept_set_limit(INCEPT_LIMIT_PARAMETERS, FUZZ_MAX_PARAMS);
    incept_model *m = NULL;
    if (incept_model_load_onnx_memory(data, size, "fuzz.onnx", &m) == INCEPT_OK) {
        fuzz_run(m);
        fuzz_train_step(m);
        incept_model_free(m);
    }
    return 0;
}
