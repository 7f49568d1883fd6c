/* cli.h — what the command-line program's files share: its options and small helpers. */
#ifndef INCEPT_CLI_H
#define INCEPT_CLI_H

#include "incept.h"

/* What the arguments say, filled by cli/incept.c from the command's option table: its options'
 * defaults, then the arguments; a field the command takes no option for stays 0 (lr NAN, warmup
 * and crop_pad -1: unset, for cli_training_defaults). */
typedef struct {
    const char *model, *weights, *input, *output, *extra;
    int threads, batch, profile, exact, train;
    double seconds;
    unsigned long long seed;
    /* training and evaluation */
    const char *train_images, *train_labels, *test_images, *test_labels, *train_dir, *test_dir;
    const char *inputs, *labels_file, *out, *log, *schedule, *checkpoint, *resume, *plot;
    int epochs, no_shuffle, no_augment;
    long steps, warmup, checkpoint_every, crop_pad;
    float lr, momentum, weight_decay, average, label_smoothing;
    long holdout;   /* train: the last N training images evaluated instead of the test set */
    const char *stages; /* grow */
    long budget, sample;
    double threshold;
    int test_flips; /* train, eval: each image's logits averaged with its mirror's */
    /* classify */
    const char **positional; /* every argument that is not an option, in order */
    int n_positional, crops, top, json, dot;
    int man, words; /* help */
    long bucket_kb;   /* train under mpirun */
    int sync_bn;
    double rank_timeout;
    const char *precision, *calib, *calib_method; /* run, bench, eval, quantize */
    int calib_count;
    const char *preset;
    /* the knobs of a description's variant (summary, bench, train, eval, export, variants):
     * NULL / 0 when not given; width and resolution are lists for `variants` */
    const char *width, *depth, *split, *resolution;
    int round_to;
} options;

/* Prints the library's last error after `what`; returns the exit code 1. */
int cli_fail(const char *what);
/* Loads o->model (with o->weights), or the built-in description `fallback` when no model is
 * named; returns 0 or an exit code. */
int cli_load_or(const options *o, const char *fallback, incept_model **m);
int cli_load(const options *o, incept_model **m);
/* Whether any knob (--width, --round, --depth, --resolution, --split) was given. */
int cli_variant_given(const options *o);
/* The knobs into *v (one width and one resolution); returns 0 or EXIT_USAGE after a message. */
int cli_variant_options(const options *o, incept_variant *v);
/* One --width value (in (0, 16]) or --resolution value ("HxW" or "N", each 1..65536); 1 when
 * it is one, else 0 after a message. */
int cli_parse_width(const char *text, float *width);
int cli_parse_resolution(const char *text, int *h, int *w);
/* Whether path names an ONNX file (".onnx"); knobs apply to descriptions only. */
int cli_is_onnx(const char *path);
/* A session of m running on `threads` threads; returns 0 or an exit code after a message. */
int cli_session(incept_model *m, int threads, incept_session **s);
/* For a model's single float32 input (output 0 when `output`) with declared sizes after the
 * first: the values per sample into *sample and its declared shape into dims; returns its rank,
 * or 0 when the model has no such input (output). */
int cli_sample_size(const incept_model *m, int output, size_t *sample,
                    long long dims[INCEPT_MAX_RANK]);
/* Reads a raw float32 file of whole samples of `sample_floats` values (`shape` names them in
 * messages); returns 0 with a malloc'd *data and *batch, or an exit code after a message. */
int cli_read_samples(const char *path, size_t sample_floats, const char *shape, float **data,
                     int *batch);
/* Writes count floats raw; returns 0 or an exit code after a message. */
int cli_write_floats(const char *path, const float *data, size_t count);
/* --precision and --calib for session s of m: int8 calibrates on the --calib file (raw float32
 * samples of the model's input), else on `fallback` (count samples; named fallback_name, when
 * not NULL, in a note); returns 0 or an exit code after a message. */
int cli_set_precision(const options *o, incept_model *m, incept_session *s, const float *fallback,
                      int count, const char *fallback_name);
/* The --calib file's raw float32 samples of m's input into *samples (malloc'd), *count of
 * them; returns 0 or an exit code after a message. */
int cli_read_calibration(const options *o, const incept_model *m, float **samples, int *count);
/* Calibrates s on count samples by --calib-method (minmax, percentile or entropy); returns 0 or
 * an exit code after a message. */
int cli_calibrate(const options *o, incept_session *s, const float *samples, int count);
double cli_now(void);

/* Whether plotting is there (the module loads): 0, or 1 after a message naming path. */
int cli_plot_check(const char *path);
/* Draws loss and test accuracy per epoch into a PNG; returns 0 or 1 (after a message). */
int cli_plot(const char *path, const double *loss, const double *accuracy, int epochs);
/* The Pareto plot of models (plot.h's incept_plot_pareto) through the same module. */
int cli_pareto(const char *path, const char *title, const double *x, const double *y,
               const int *family, int n, const char *const *names, int families);

/* Fills the training options left unset: the built-in recipe or the plain defaults. */
void cli_training_defaults(options *o);
int cmd_train(const options *o);
int cmd_classify(const options *o);
/* `run`: raw float32 files, or .pb arrays (serialized TensorProtos). */
int cmd_run(const options *o);
int cmd_eval(const options *o);
int cmd_onnx_test(const options *o);
int cmd_quantize(const options *o);
/* `variants`: parameters and multiply-adds of a description's variants. */
int cmd_variants(const options *o);
int cmd_grow(const options *o);
int cmd_pareto(const options *o);
/* The first `count` samples of data (decoded, prepared as its loader prepares them) into *out
 * (malloc'd); returns 0 or 1 after a message. */
int cli_dataset_samples(const incept_dataset *data, int count, float **out);
/* The training (test 0) or test split the options name: idx files (Fashion-MNIST's by default,
 * standardized as training does), raw tensors, or an image folder prepared by --preset; *out
 * NULL where the options give no such split. */
incept_status cli_load_split(const options *o, int test, incept_dataset **out, int c, int h, int w);

#endif
