/* quantize.c — `incept quantize MODEL --out M.int8.onnx`: post-training quantization. The model
 * is calibrated (incept_session_calibrate: the range of every convolution's input over the
 * calibration samples) and written as an ONNX QDQ model (incept_model_save_onnx_int8), which
 * ONNX Runtime and TensorRT run in int8 and which `run`/`bench`/`eval --precision int8` then
 * take without calibrating again. Samples: --calib X.bin (raw float32, prepared as the model's
 * inputs are), else the first --calib-count images of the training data the `train` options
 * name (idx files, Fashion-MNIST's by default, or an image folder with --preset). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The first --calib-count samples of the training split the options name, prepared as
 * training prepares them. */
static int training_samples(const options *o, const incept_model *m, float **out, int *count)
{
    int c, h, w, n;
    incept_model_input_dims(m, &c, &h, &w);
    incept_dataset *data = NULL;
    if (cli_load_split(o, 0, &data, c, h, w) || !data) {
        incept_dataset_free(data);
        return cli_fail("calibration data");
    }
    incept_dataset_dims(data, &n, NULL, NULL, NULL, NULL);
    *count = n < o->calib_count ? n : o->calib_count;
    int rc = cli_dataset_samples(data, *count, out);
    incept_dataset_free(data);
    return rc;
}

int cmd_quantize(const options *o)
{
    if (!o->out) {
        fprintf(stderr, "incept: quantize needs --out M.onnx\n");
        return 2;
    }
    incept_model *m;
    incept_session *s = NULL;
    int rc = cli_load(o, &m);
    if (rc)
        return rc;
    float *samples = NULL;
    int count = 0;
    if (o->calib) {
        rc = cli_read_calibration(o, m, &samples, &count);
    } else {
        rc = training_samples(o, m, &samples, &count);
    }
    if (!rc && !(rc = cli_session(m, o->threads, &s))) {
        if ((rc = cli_calibrate(o, s, samples, count)))
            ;
        else if (incept_session_set_precision(s, INCEPT_PRECISION_INT8))
            rc = cli_fail("int8");
        else if (incept_model_save_onnx_int8(m, o->out))
            rc = cli_fail("writing the quantized model");
        else
            fprintf(stderr, "incept: calibrated (%s) on %d sample(s); quantized model (ONNX QDQ, opset 13) "
                            "written to %s\n", o->calib_method ? o->calib_method : "percentile", count, o->out);
    }
    free(samples);
    incept_session_free(s);
    incept_model_free(m);
    return rc;
}
