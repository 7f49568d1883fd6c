/* incept.h — the whole public API of libincept, an engine for the Inception architecture
 * ("Going deeper with convolutions", Szegedy et al., 2014).
 *
 * Conventions:
 *  - Opaque handles (incept_model, incept_session) and integer status codes. Every call that can fail returns an
 *    incept_status; incept_last_error() then says what failed, naming the file, line, node or op.
 *    The message is per thread and stays valid until the next failing call on that thread.
 *  - A model is immutable while it runs; a session holds one run's state (plan, arena,
 *    gradients). Tensors are N-d and row-major; images are NCHW float32, the batch chosen per call.
 *  - The library never exits or aborts on bad input.
 */
#ifndef INCEPT_H
#define INCEPT_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the shared library exports: these functions and nothing else (it is built with hidden
 * visibility, so its internals, and the protobuf-c code it carries for ONNX, never clash with a
 * host's). */
#if defined(__GNUC__) && __GNUC__ >= 4
#define INCEPT_API __attribute__((visibility("default")))
#else
#define INCEPT_API
#endif

#define INCEPT_VERSION "0.2.0"

typedef enum {
    INCEPT_OK = 0,
    INCEPT_ERR_NOMEM = 1,       /* an allocation failed */
    INCEPT_ERR_ARG = 2,         /* a bad argument from the caller */
    INCEPT_ERR_SHAPE = 3,       /* shapes do not fit together */
    INCEPT_ERR_IO = 4,          /* a file could not be opened, read or written */
    INCEPT_ERR_FORMAT = 5,      /* a file is not what it claims to be: syntax error, garbage, truncation */
    INCEPT_ERR_UNSUPPORTED = 6  /* valid input that this engine does not implement (an op, an attribute) */
} incept_status;

/* A short name for a status ("out of memory", "bad format", ...). */
INCEPT_API const char *incept_status_string(incept_status status);
/* The message of the last failure on this thread ("" if none). */
INCEPT_API const char *incept_last_error(void);

/* ---- Tensors ----------------------------------------------------------------------------- */

#define INCEPT_MAX_RANK 8

/* Element types, by ONNX's codes; int32 data is held as int64. */
typedef enum { INCEPT_FLOAT32 = 1, INCEPT_UINT8 = 2, INCEPT_INT64 = 7, INCEPT_BOOL = 9 } incept_dtype;

/* An N-d tensor: row-major data of float, unsigned char, long long or unsigned char (0/1)
 * values. The batch, where a model has one, is dims[0]. */
typedef struct {
    incept_dtype dtype;
    int rank;
    long long dims[INCEPT_MAX_RANK];
    void *data;
} incept_tensor;

/* The number of elements (the product of the dims; 1 for rank 0). */
INCEPT_API size_t incept_tensor_count(const incept_tensor *t);
/* Frees the data of a tensor the library allocated (incept_session_run's outputs, loads). */
INCEPT_API void incept_tensor_free(incept_tensor *t);
/* Reads a tensor from a file holding one serialized ONNX TensorProto (the input_N.pb /
 * output_N.pb of ONNX test data; numpy_helper.from_array(x).SerializeToString() in Python). */
INCEPT_API incept_status incept_tensor_load(const char *path, incept_tensor *out);
/* Writes a tensor as one serialized TensorProto (numpy_helper.to_array reads it back). */
INCEPT_API incept_status incept_tensor_save(const char *path, const incept_tensor *t);

/* The library's version, "MAJOR.MINOR.PATCH" (INCEPT_VERSION of the build). */
INCEPT_API const char *incept_version(void);

/* ---- Models ------------------------------------------------------------------------------ */

/* A model is a graph and its parameters. Once built it is only read by inference, so any number
 * of threads may run sessions of one model at once. Training (a session's SGD step, Polyak
 * averaging) and the parameter calls below write its parameters: do those while no other
 * session of the model runs. */
typedef struct incept_model incept_model;

/* Loads a model by file name: ".onnx" → ONNX import, anything else → a network description
 * (see models/googlenet.incept). weights_path may be NULL: an ONNX file carries its own weights,
 * and a description without weights gets He-initialized weights from a fixed seed. */
INCEPT_API incept_status incept_model_load(const char *path, const char *weights_path,
                                           incept_model **out);
/* An ONNX file. Every node goes onto the engine's NCHW fast path (GEMM, Winograd, fusion,
 * training) where it can; a node the fast path does not take (an op it lacks, other ranks and
 * types, shape arithmetic, a second input) runs on the generic N-d path: its op's reference
 * implementation on tensors of any rank and dtype, shaped as the run goes. Shape arithmetic on
 * constants folds at load, and nodes reading a generic result that is [N, C, H, W] are back on
 * the fast path. Every float initializer is a parameter and trains (ONNX does not say which
 * are buffers); generic nodes train through their ops' N-d backward where they have one, and
 * training names the node where the loss reaches a parameter through one that has none. */
INCEPT_API incept_status incept_model_load_onnx(const char *path, incept_model **out);
/* The same for an ONNX model held in memory (size bytes; name is used in messages and may be
 * NULL). The bytes are only read during the call: free them when it returns. */
INCEPT_API incept_status incept_model_load_onnx_memory(const void *data, size_t size,
                                                       const char *name, incept_model **out);
INCEPT_API incept_status incept_model_load_description(const char *path, incept_model **out);
/* Parses a description held in memory; source_name is used in error messages. */
INCEPT_API incept_status incept_model_parse_description(const char *text, const char *source_name,
                                                        incept_model **out);
/* Knobs that make a variant of a described network (the same knobs as a description's `variant`
 * lines; a knob set here replaces the file's, a knob left at 0 / NULL keeps it):
 *  - width: every filter bank times width, in (0, 16]; 0 or 1 keeps the widths as written. It
 *    scales every conv, every Inception width, the internal widths of aux heads (not their
 *    classes) and every fc, except the classifier: the fc or conv whose channels the output
 *    shows (through dropout, flatten, softmax, pooling and the like) keeps its classes. A scaled
 *    width is rounded to the nearest multiple of round_to; one that was non-zero stays at least
 *    round_to, and 0 stays 0.
 *  - round_to: 1..1024 (0: 8), for scaled and split widths.
 *  - input_h, input_w: 1..65536 (0: as the description says).
 *  - depth: "mixed_4b=0,mixed_5a=2": an Inception module of the description dropped (0: the
 *    next layer reads the layer before it; a layer that names it in `from` fails) or built N
 *    times in sequence (N up to 16; the copies are named NAME, NAME_2, ..., NAME_N, and a later
 *    `from NAME` reads the last of them). NULL: as written.
 *  - split: "A:B:C:D", or "A:B:C:D,E:F:G:H": the shares (non-negative, with a positive sum) of
 *    a module's output channels taken by its 1x1, 3x3, 5x5 and pool-projection branches, at
 *    every module (first form) or at the first Inception module and at the last, linearly
 *    interpolated across the modules built, in order (the paper: the share of 3x3 and 5x5
 *    should grow with depth). Each module keeps its total output (the sum of its four output
 *    widths after the width multiplier), each branch rounded to round_to, and each branch keeps
 *    its reduce-to-output ratio of the description. A 1x1, 3x3 or 5x5 share of 0 leaves that
 *    branch out; the pool projection's must be above 0 (a module always has its pool branch).
 *    NULL: as written.
 * A bad value fails with INCEPT_ERR_ARG naming the knob; a depth entry naming no Inception module
 * of the description also fails with INCEPT_ERR_ARG. The model's description (for checkpoints)
 * records the knobs as `variant` lines, so that it rebuilds the variant. */
typedef struct {
    float width;
    int round_to;
    int input_h, input_w;
    const char *depth;
    const char *split;
} incept_variant;
/* parse_description and load_description with a variant (NULL: the description as it says). */
INCEPT_API incept_status incept_model_parse_description_variant(const char *text, const char *source_name,
                                                                const incept_variant *variant,
                                                                incept_model **out);
INCEPT_API incept_status incept_model_load_description_variant(const char *path,
                                                               const incept_variant *variant,
                                                               incept_model **out);
/* Limits on what a file may make the library allocate, checked before anything is allocated
 * (a file that claims more fails naming the file and the limit, never runs the machine out of
 * memory). Defaults keep a file under 1 MB from taking over about 1 GB:
 *  - PARAMETERS: floats in all of a model's parameters (default and ceiling 2^30, 4 GB); a
 *    larger model fails with INCEPT_ERR_SHAPE;
 *  - IMAGE_PIXELS: width x height of a decoded JPEG or PNG (default 2^25, 33.5 megapixels;
 *    ceiling 2^31); a larger image fails with INCEPT_ERR_FORMAT;
 *  - INFLATION: how many times its own size a gzip-compressed dataset may inflate to (default
 *    64; ceiling 1032, deflate's own maximum); past it, INCEPT_ERR_FORMAT.
 * incept_set_limit returns the previous value; 0 restores the default; values above the ceiling
 * are the ceiling. Process wide: a load running in another thread sees the old or the new one. */
typedef enum {
    INCEPT_LIMIT_PARAMETERS,
    INCEPT_LIMIT_IMAGE_PIXELS,
    INCEPT_LIMIT_INFLATION,
    INCEPT_LIMIT_COUNT
} incept_limit_kind;
INCEPT_API size_t incept_set_limit(incept_limit_kind which, size_t value);
/* GoogLeNet exactly as in Table 1 of the paper, with both auxiliary classifiers, built in C
 * from the Inception module; weights He-initialized from seed. */
INCEPT_API incept_status incept_model_googlenet(int classes, unsigned long long seed,
                                                incept_model **out);
/* GoogLeNet under a variant's knobs (incept_variant above; NULL: Table 1 itself), applied as they
 * apply to models/googlenet.incept: the same knobs give the same network from either, layer for
 * layer and parameter for parameter. The classifier and the aux heads keep `classes`; depth names
 * the modules inception_3a ... inception_5b (aux1 and aux2 read what comes out where 4a and 4d
 * stand, dropped or repeated); the final average pool is global, so a resolution down to 79x79
 * (the aux heads' 5x5 pool must fit) works. A bad knob fails with INCEPT_ERR_ARG naming it. */
INCEPT_API incept_status incept_model_googlenet_variant(int classes, unsigned long long seed,
                                                        const incept_variant *variant,
                                                        incept_model **out);
INCEPT_API void incept_model_free(incept_model *model);
/* The text of a description built into the library: "googlenet" (models/googlenet.incept) or
 * "fashion" (models/fashion.incept, for 28x28 images); NULL for other names. */
INCEPT_API const char *incept_builtin_description(const char *name);
/* Class names built into the library, one a line in class order: "imagenet" (the 1000 classes
 * of ImageNet as torchvision's pretrained models name them, models/imagenet.labels) or
 * "fashion" (Fashion-MNIST's 10); NULL for other names. */
INCEPT_API const char *incept_builtin_labels(const char *name);

/* The value of a model's metadata key (an ONNX file's metadata_props: scripts/export_pretrained.py
 * records "incept.preset" and "incept.labels" there), or NULL. */
INCEPT_API const char *incept_model_metadata(const incept_model *model, const char *key);
/* How many of the model's nodes run on the generic N-d path (0: all on the fast path), and then
 * why the first of them is not on the fast path (NULL otherwise). */
INCEPT_API int incept_model_generic_nodes(const incept_model *model);
INCEPT_API const char *incept_model_generic_reason(const incept_model *model);

/* The model's inputs and outputs, by name, in order. The declared shape's rank is returned
 * (-1 if the file declares none); dims holds -1 where a size is chosen per run (the batch). */
INCEPT_API int incept_model_inputs(const incept_model *model);
INCEPT_API int incept_model_outputs(const incept_model *model);
INCEPT_API const char *incept_model_input_name(const incept_model *model, int i);
INCEPT_API const char *incept_model_output_name(const incept_model *model, int i);
INCEPT_API int incept_model_input_shape(const incept_model *model, int i, incept_dtype *dtype,
                                        long long dims[INCEPT_MAX_RANK]);
INCEPT_API int incept_model_output_shape(const incept_model *model, int i, incept_dtype *dtype,
                                         long long dims[INCEPT_MAX_RANK]);
/* For a model of one batch-first image input: its per-sample dims (C, H, W), and those of the
 * first output (an FC output has H = W = 1). Zeros where the model has no such input. */
INCEPT_API void incept_model_input_dims(const incept_model *model, int *c, int *h, int *w);
INCEPT_API void incept_model_output_dims(const incept_model *model, int *c, int *h, int *w);
/* Whether the output is already a probability distribution (the network ends in a softmax). */
INCEPT_API int incept_model_output_is_probability(const incept_model *model);

/* Layers (nodes) in execution order: name, op and output shape (dims[0] = -1: the batch).
 * Every layer's output can be asked for by name in incept_session_run. */
INCEPT_API int incept_model_layer_count(const incept_model *model);
INCEPT_API incept_status incept_model_layer(const incept_model *model, int index, const char **name,
                                            const char **op, int *rank,
                                            long long dims[INCEPT_MAX_RANK]);

/* ---- Sessions ---------------------------------------------------------------------------- */

/* A session runs a model: it holds the plan for the batch size last run, the activation arena,
 * the workspace, the profile and, once it trains, the gradients, SGD momentum and Polyak average.
 * One thread uses a session at a time; sessions of one model are independent. */
typedef struct incept_session incept_session;

INCEPT_API incept_status incept_session_new(incept_model *model, incept_session **out);
INCEPT_API void incept_session_free(incept_session *session);
INCEPT_API incept_model *incept_session_model(const incept_session *session);

/* Threads of this session's passes (default: 1). */
INCEPT_API incept_status incept_session_set_threads(incept_session *session, int threads);
/* Exact mode: no reassociating transforms (no Winograd), results within 1e-5 of a direct
 * computation. Off by default: the fast path stays within 1e-4 of max |logit|. */
INCEPT_API incept_status incept_session_set_exact(incept_session *session, int exact);

/* Arithmetic of inference: FP32 (the default); BF16: every convolution of one group multiplies
 * bfloat16 weights (rounded once, here) by its input rounded to bfloat16, summing in float
 * (AVX-512 BF16 where the CPU has it: twice the multiply-adds of float; elsewhere a portable
 * kernel slower than FP32), Winograd included, every other layer in float; or INT8: every convolution runs with 8-bit
 * weights (a scale per output channel) and 8-bit inputs (one scale and zero point per tensor,
 * from the ranges the model holds: incept_session_calibrate), summed exactly in 32-bit integers
 * (AVX-512 VNNI where the CPU has it), its output float again; other layers stay float. Changing
 * the model's parameters afterwards needs set_precision again. Training needs FP32. */
typedef enum { INCEPT_PRECISION_FP32 = 0, INCEPT_PRECISION_BF16 = 1, INCEPT_PRECISION_INT8 = 2 } incept_precision;
INCEPT_API incept_status incept_session_set_precision(incept_session *session, incept_precision precision);
/* The micro-kernels a precision's products run on this CPU: for FP32 "avx512", "avx2" or
 * "generic"; BF16 "avx512bf16" or "generic"; INT8 "avx512vnni", "avx2" or "generic" (NULL for
 * an unknown precision). "generic" is portable C: for BF16 slower than FP32. */
INCEPT_API const char *incept_precision_kernels(incept_precision precision);
/* Records, for int8, the range of every convolution's input and output over `count` samples
 * (float32 batch-first, C*H*W each), run in float: a few hundred representative images. Ranges
 * already held widen to cover these. The ranges are the model's: calibrating writes the model,
 * so no other session of it may run meanwhile (then set the precision of each again). */
INCEPT_API incept_status incept_session_calibrate(incept_session *session, const float *inputs, int count);
/* The same with a choice of how a range is drawn from what the samples showed: MINMAX (the
 * above: everything they took), or, for values that are never negative (after a ReLU: most of
 * an Inception network's), the top clipped at the PERCENTILE (99.99% of the values below it) or
 * where a 256-level code loses the least information (ENTROPY: TensorRT's Kullback-Leibler
 * calibration); these replace the ranges held. Values that go negative keep min/max. */
typedef enum { INCEPT_CALIBRATE_MINMAX, INCEPT_CALIBRATE_PERCENTILE, INCEPT_CALIBRATE_ENTROPY } incept_calibration;
INCEPT_API incept_status incept_session_calibrate_with(incept_session *session, const float *inputs,
                                                       int count, incept_calibration method);

/* Runs inference. inputs[k] is the value named input_names[k] (NULL: the model's inputs in
 * order); outputs[k] receives the value named output_names[k], which may be any layer's output
 * (NULL: the model's outputs in order). An output whose data is NULL is allocated (release it
 * with incept_tensor_free); otherwise its dtype, rank and dims must be what the model computes and
 * the result is written into its data. Auxiliary (training-only) heads are not run. At most 64
 * outputs a call; a failed run leaves none of the outputs it allocated. */
INCEPT_API incept_status incept_session_run(incept_session *session, int n_inputs,
                                            const char *const *input_names,
                                            const incept_tensor *inputs, int n_outputs,
                                            const char *const *output_names,
                                            incept_tensor *outputs);
/* The common case: one float32 batch-first input of batch*C*H*W values, the first output into
 * batch * (its per-sample size) floats. */
INCEPT_API incept_status incept_session_forward(incept_session *session, const float *input,
                                                int batch, float *output);

/* Per-layer timing: while on, every pass adds each layer's wall time; the report prints a table
 * (time per pass, GFLOP/s, share) over the passes since profiling was switched on. */
INCEPT_API incept_status incept_session_set_profiling(incept_session *session, int on);
INCEPT_API incept_status incept_session_profile_report(const incept_session *session, FILE *out);

/* ---- Parameters -------------------------------------------------------------------------- */

/* Parameters are one contiguous float array; each has a name (PyTorch-style "conv1.weight",
 * or the ONNX initializer name) and a shape of up to 4 dims. */
INCEPT_API int incept_model_param_count(const incept_model *model);
INCEPT_API incept_status incept_model_param(incept_model *model, int index, const char **name,
                                            int *ndim, int dims[4], float **data);
/* A frozen parameter keeps its values in training (SGD skips it; its gradient is still
 * computed). Batch normalization's running statistics are frozen from the start; an imported
 * initializer that is a constant of the model, not a weight (a mean subtracted from the input),
 * may be frozen here. */
INCEPT_API incept_status incept_model_param_set_frozen(incept_model *model, int index, int frozen);
INCEPT_API int incept_model_param_frozen(const incept_model *model, int index);
/* Re-initializes every weight (He/Kaiming normal, fan-in) and bias (uniform in [-0.1, 0.1))
 * from a seed. */
INCEPT_API void incept_model_init_weights(incept_model *model, unsigned long long seed);
/* Saves and loads all parameters by name (incept weights file, versioned and checksummed). */
INCEPT_API incept_status incept_model_save_weights(const incept_model *model, const char *path);
INCEPT_API incept_status incept_model_load_weights(incept_model *model, const char *path);
/* The same from a weights file's bytes in memory (name for messages, may be NULL). */
INCEPT_API incept_status incept_model_load_weights_memory(incept_model *model, const void *data,
                                                          size_t size, const char *name);

/* ---- Training ---------------------------------------------------------------------------- */

/* One forward and backward pass over a labelled batch (labels: class indices). The loss is the
 * mean softmax cross-entropy of the main output plus aux_weight (0.3, as in the paper) times
 * that of each auxiliary classifier; *loss receives it. Afterwards incept_session_param_grad
 * gives each parameter's gradient (the gradients of this batch only). Dropout is on unless
 * switched off; its masks come from the training seed and the step count. */
INCEPT_API incept_status incept_session_train_step(incept_session *session, const float *input,
                                                   const int *labels, int batch, float *loss);
INCEPT_API incept_status incept_session_param_grad(const incept_session *session, int index,
                                                   const float **grad);
/* aux_weight: the auxiliary heads' share of the loss; dropout: 0 turns it off in training;
 * seed: the dropout masks' seed. */
INCEPT_API incept_status incept_session_set_training(incept_session *session, float aux_weight,
                                                     int dropout, unsigned long long seed);
/* Label smoothing (Szegedy et al. 2016, PyTorch's cross_entropy label_smoothing): every head's
 * target is (1 - e) for the true class plus e / classes for each class; e in [0, 1). 0: off. */
INCEPT_API incept_status incept_session_set_label_smoothing(incept_session *session, float e);

/* SGD with momentum and weight decay in PyTorch's form: v = momentum v + (g + decay w);
 * w -= learning_rate v, on the model's parameters. decay_biases 0 leaves biases (1-D
 * parameters) undecayed. */
typedef struct {
    float learning_rate, momentum, weight_decay;
    int decay_biases;
} incept_sgd;
INCEPT_API incept_status incept_session_sgd_step(incept_session *session, const incept_sgd *sgd);

/* Polyak averaging (the paper used it for the final model): with decay d > 0, every SGD step
 * also updates avg = d avg + (1 - d) w. incept_session_use_average(session, 1) swaps the
 * averaged weights into the model (to evaluate or save them), 0 swaps the trained ones back. */
INCEPT_API incept_status incept_session_set_averaging(incept_session *session, float decay);
INCEPT_API incept_status incept_session_use_average(incept_session *session, int on);

/* ---- Images ------------------------------------------------------------------------------ */

/* A decoded picture: planar float RGB in 0..255. */
typedef struct {
    int c, h, w;
    float *data;
} incept_image;
/* JPEG or PNG (gray, RGB, RGBA over black, 16-bit, palette), by content. Errors name the file. */
INCEPT_API incept_status incept_image_load(const char *path, incept_image *out);
INCEPT_API void incept_image_free(incept_image *image);
/* Bilinear (half-pixel centres), or area averaging when `area` and shrinking. */
INCEPT_API incept_status incept_image_resize(const incept_image *in, int h, int w, int area,
                                             incept_image *out);
/* The h x w window at (top, left), mirrored if asked, zeros outside, into out (planar). */
INCEPT_API void incept_image_crop(const incept_image *in, int top, int left, int h, int w,
                                  int mirror, float *out);

/* How a network expects its input: x' = (x * scale - mean[c]) / std[c], channels optionally
 * BGR, after resizing the shorter side to resize_shorter * (input height / 224) (0: to the
 * input's height). gray: the network takes one channel, the luma 0.299 R + 0.587 G + 0.114 B,
 * normalized with mean[0] and std[0]. */
typedef struct {
    int bgr;
    float mean[3], std[3];
    float scale;
    int resize_shorter;
    int area; /* area averaging instead of bilinear when shrinking */
    int gray;
} incept_preprocess;
/* "caffe": BGR, mean 104/117/123, shorter side 256, centre 224; "torchvision": RGB / 255,
 * mean 0.485/0.456/0.406, std 0.229/0.224/0.225, shorter side 256, centre 224; "fashion": gray
 * / 255, mean 0.5, std 0.5 (what `incept train` makes of Fashion-MNIST), the image resized to
 * the input (area averaging), centre crop. */
INCEPT_API incept_status incept_preprocess_preset(const char *name, incept_preprocess *preprocess);
/* x (3 x h x w, RGB 0..255) into the network's form, in place (gray: into its first plane). */
INCEPT_API void incept_image_normalize(const incept_preprocess *preprocess, int h, int w, float *x);
/* The image resized and cropped to h x w (crop_top/left: -1 centre, -2 bottom/right, else the
 * offset), mirrored if asked, normalized into out (3 x h x w floats; gray: 1 x h x w). */
INCEPT_API incept_status incept_image_prepare(const incept_image *image,
                                              const incept_preprocess *preprocess, int h, int w,
                                              int crop_top, int crop_left, int mirror, float *out);

/* The paper's training augmentation into out (3 x h x w, normalized; gray: 1 x h x w): a random crop of 8%-100% of
 * the area with aspect ratio in [3/4, 4/3], a random flip, a random interpolation (bilinear or
 * area), photometric distortion (brightness, contrast, saturation in [0.6, 1.4]) and PCA lighting
 * noise; every choice drawn from `seed`. */
INCEPT_API incept_status incept_image_augment(const incept_image *image,
                                              const incept_preprocess *preprocess, int h, int w,
                                              unsigned long long seed, float *out);

/* ---- Datasets ---------------------------------------------------------------------------- */

typedef struct incept_dataset incept_dataset;
/* An idx pair (MNIST / Fashion-MNIST layout, gzip-compressed or not): 8-bit images scaled to
 * [0, 1] and their labels. */
INCEPT_API incept_status incept_dataset_load_idx(const char *images_path, const char *labels_path,
                                                 incept_dataset **out);
/* Raw float32 little-endian NCHW inputs of C x H x W and float32 class indices (the format of
 * ../shared/reference); the sample count comes from the labels file. */
INCEPT_API incept_status incept_dataset_load_raw(const char *inputs_path, const char *labels_path,
                                                 int c, int h, int w, incept_dataset **out);
/* An image folder (ImageNet layout: DIR/CLASS/IMAGE.jpg|png, classes in sorted order), decoded
 * on demand into 3 x h x w samples prepared as `preprocess` says (images_path: file listing only). */
INCEPT_API incept_status incept_dataset_load_folder(const char *dir, int h, int w,
                                                    const incept_preprocess *preprocess,
                                                    incept_dataset **out);
/* The name of class k of an image folder, or NULL. */
INCEPT_API const char *incept_dataset_class_name(const incept_dataset *data, int k);
/* Sample `index` into out: copied from memory, or decoded (centre crop, or with `augment` the
 * paper's augmentation drawn from `seed`). A corrupt image fails with its file named. */
INCEPT_API incept_status incept_dataset_sample(const incept_dataset *data, int index, int augment,
                                               unsigned long long seed, float *out);
INCEPT_API void incept_dataset_dims(const incept_dataset *data, int *n, int *c, int *h, int *w,
                                    int *classes);
/* A copy of samples [first, first + count) as a dataset of its own (an image folder's: those
 * files), e.g. a held-out split of a training set to choose a recipe on. */
INCEPT_API incept_status incept_dataset_split(const incept_dataset *data, int first, int count,
                                              incept_dataset **out);
/* The samples of an in-memory dataset; NULL for an image folder. */
INCEPT_API const float *incept_dataset_images(const incept_dataset *data);
INCEPT_API const int *incept_dataset_labels(const incept_dataset *data);
/* Mean and standard deviation over every value; x = (x - mean) / std in place. */
INCEPT_API void incept_dataset_moments(const incept_dataset *data, float *mean, float *std);
INCEPT_API void incept_dataset_standardize(incept_dataset *data, float mean, float std);
INCEPT_API void incept_dataset_free(incept_dataset *data);

/* Batches from a dataset, prepared on a background thread. Every random choice (the shuffle of
 * each epoch, crops and flips) is a hash of (seed, epoch, position): a run restarted at step
 * first_step sees exactly the batches an uninterrupted one would. */
typedef struct {
    int batch;
    int shuffle;        /* a new permutation every epoch */
    int augment;        /* random crops of the image padded by `pad` zeros, and flips */
    int pad, flip;
    unsigned long long seed;
    /* data-parallel training: this process takes part `shard` of `shards` (0 of 0: all) of every
     * batch, samples prepared as in the whole batch (the same crops at the same positions) */
    int shard, shards;
} incept_loader_options;
typedef struct incept_loader incept_loader;
INCEPT_API incept_status incept_loader_new(const incept_dataset *data,
                                           const incept_loader_options *options, long first_step,
                                           incept_loader **out);
INCEPT_API int incept_loader_batches_per_epoch(const incept_loader *loader);
/* The next batch (the last of an epoch may be smaller); valid until the following call. */
INCEPT_API void incept_loader_next(incept_loader *loader, const float **images, const int **labels,
                                   int *count);
INCEPT_API void incept_loader_free(incept_loader *loader);
/* How many samples of an image folder could not be decoded so far (they trained as zeros), and
 * the last such message (naming the file) into last. */
INCEPT_API long incept_loader_errors(incept_loader *loader, char *last, size_t size);

/* Top-1 and top-5 accuracy of the session's model over a dataset, in batches of `batch`. Images of a folder
 * that cannot be decoded are left out (not counted in *evaluated, which may be NULL). */
INCEPT_API incept_status incept_session_evaluate(incept_session *session,
                                                 const incept_dataset *data, int batch,
                                                 double *top1, double *top5, int *evaluated);
/* The same with test-time flips when `flips` is non-zero: each image's logits averaged with
 * those of its mirror image (twice the passes). */
INCEPT_API incept_status incept_session_evaluate_flips(incept_session *session,
                                                       const incept_dataset *data, int batch,
                                                       int flips, double *top1, double *top5,
                                                       int *evaluated);

/* Checkpoints: everything a training run needs to continue exactly where it stopped, in one
 * versioned, CRC-checked file written atomically (temporary file, fsync, rename): the model's
 * description (or the path of its ONNX source), its parameters and SGD momentum, the training
 * settings and the step reached. Resumed with the same thread count, a run computes exactly what
 * an uninterrupted one would: batches, crops and dropout masks are functions of (seed, step). */
typedef struct {
    long step, total_steps;
    unsigned long long seed;
    int batch, shuffle, augment, dropout;
    int crop_pad;             /* augment: crops shift by up to this many pixels (0: flips only) */
    float aux_weight;
    incept_sgd sgd;           /* learning_rate: the peak, before the schedule */
    char schedule[16];
    long warmup;
    float average_decay;      /* Polyak averaging, 0 = off */
    /* kept by the trainer, so that a resumed run reports as the uninterrupted one would: */
    double seconds;           /* training time so far, every earlier run of this state included */
    double epoch_loss_sum;    /* the losses of the current epoch's steps so far, and their count */
    long epoch_loss_steps;
    float label_smoothing;    /* the targets' share spread over every class (0: one-hot) */
} incept_train_state;
/* notes: any text the caller keeps with the checkpoint (at most 64 KB; the command line keeps
 * the data options of a run there), read back by incept_checkpoint_notes (NULL: none). */
INCEPT_API incept_status incept_checkpoint_save_notes(const incept_session *session,
                                                      const incept_train_state *state,
                                                      const char *notes, const char *path);
INCEPT_API incept_status incept_checkpoint_notes(const char *path, char **notes);
INCEPT_API incept_status incept_checkpoint_save(const incept_session *session,
                                                const incept_train_state *state, const char *path);
/* Rebuilds the model from the checkpoint with its parameters, and a session of it with the SGD
 * momentum, Polyak average and step restored (free the session before the model). */
INCEPT_API incept_status incept_checkpoint_load(const char *path, incept_model **model,
                                                incept_session **session,
                                                incept_train_state *state);

/* ---- The trainer ------------------------------------------------------------------------- */

/* What the trainer reports: every `report_every` steps and at the end of every epoch. */
typedef struct {
    int epoch, epochs;          /* the epoch this step belongs to (1-based) and the run's count */
    long step, total_steps;     /* steps done, and the run's */
    int steps_per_epoch;
    float learning_rate;        /* of the last step */
    double loss;                /* mean training loss since the epoch began */
    double images_per_second;   /* over the last ~20 steps */
    double seconds;             /* training time so far, earlier runs of a resumed state included
                                   (the evaluations of earlier epochs too, not this one's) */
    double eta_seconds;         /* the steps left at the recent rate */
    double wait_seconds;        /* data-parallel: time this call waited on the ranks' gradients
                                   beyond what backward hid (0 in one process) */
    int end_of_epoch;           /* an epoch ended (or the run): test accuracy was measured */
    double test_top1, test_top5; /* then; NaN without test data */
    long bad_images;            /* images of a folder that could not be decoded so far (trained */
    const char *last_bad_image; /* as zeros), and the last one's message */
    /* this epoch's time so far by part: waiting for the loader's batch, the training steps'
     * forward and backward passes, the SGD update (with the ranks' exchanges), the evaluation */
    double data_seconds, forward_seconds, backward_seconds, update_seconds, eval_seconds;
} incept_train_progress;

/* Non-zero stops training after this step (incept_train then returns INCEPT_OK, state->step
 * saying how far it got). */
typedef int (*incept_train_callback)(const incept_train_progress *progress, void *user);

typedef struct {
    int epochs;              /* when state->total_steps is 0: train this many epochs (default 1) */
    const char *checkpoint;  /* write a checkpoint here every checkpoint_every steps (0: each
                                epoch) and at the end; NULL: none */
    long checkpoint_every;
    int eval_batch;          /* batch of the per-epoch evaluation (0: 256) */
    long report_every;       /* steps between progress reports (0: only at epoch ends) */
    int test_flips;          /* the per-epoch evaluation averages each image with its mirror */
    const char *checkpoint_notes; /* kept with every checkpoint (incept_checkpoint_save_notes);
                                     read when each is written, so the callback may change it */
    /* data-parallel over MPI_COMM_WORLD (a build with MPI; the program has called MPI_Init):
     * every rank trains on its share of each global batch (state->batch), gradients averaged
     * before each SGD step, rank 0's weights the start; every rank evaluates its share of the
     * test set, rank 0 alone writes checkpoints and calls `progress`. A rank that fails or
     * stops answering makes the others fail within rank_timeout; the program then calls
     * MPI_Abort (the command line does) so that none is left waiting (communication may still
     * be in flight after a failure: nothing else is done with MPI). */
    int distributed;
    size_t bucket_bytes;     /* distributed: gradients go out in buckets of about this many bytes
                                as backward finishes them (0: 4 MB) */
    int sync_batch_norm;     /* distributed: batch norm's statistics over the global batch, as one
                                process computes them (0: each rank's own shard's, PyTorch DDP's
                                default) */
    double rank_timeout;     /* distributed: seconds any wait on the other ranks may take before
                                the run fails naming the ranks behind (0: 300) */
    incept_train_callback progress;
    void *user;
} incept_train_options;

/* Trains the session's model with SGD from state->step to state->total_steps: batches from
 * `train` (shuffled, cropped and flipped as the state says, a pure function of seed and step),
 * the learning rate of state->schedule after a linear warm-up of state->warmup steps, the
 * Polyak average if state->average_decay > 0, and after every epoch the test accuracy on `test`
 * (may be NULL; the averaged weights are evaluated when averaging is on). state->step advances
 * as it goes, so a checkpoint written from the same state resumes exactly. Fails if the loss
 * stops being finite (naming the step and learning rate). */
INCEPT_API incept_status incept_train(incept_session *session, const incept_dataset *train,
                                      const incept_dataset *test, incept_train_state *state,
                                      const incept_train_options *options);
/* The learning rate at `step` under the state's schedule: "constant", "cosine" (to 0 over
 * total_steps), "step" (x0.1 from 50%, x0.01 from 75%) or "paper" (-4% every 8 epochs). */
INCEPT_API float incept_learning_rate(const incept_train_state *state, long step,
                                      int steps_per_epoch);
INCEPT_API int incept_schedule_valid(const char *name);

/* ---- Growing a topology ----------------------------------------------------------------- */

/* The paper's topology construction (section 3, after Arora et al.): from a stem, Inception
 * modules are added one at a time, each shaped by the statistics of the layer below it. For each
 * module: the network so far (with a pooled linear classifier on top) trains for `steps` SGD
 * steps from the weights it had; its last layer is measured on `sample` images; its channels
 * are clustered by correlation (average linkage, merging while clusters correlate above
 * `threshold`); each cluster's correlation at distance 1 and 2 (the 3x3 and 5x5 windows)
 * splits it between the 1x1, 3x3 and 5x5 branches; the reductions are as wide as the clusters
 * they cover, and the module as wide as the multiply-add budget allows. A max pool 3x3/2 ends
 * each stage but the last. The result is a description with a comment per module saying what
 * chose its widths; deterministic for a seed and thread count. */
typedef struct {
    const char *stem;       /* description text: the input and the layers to grow on */
    const char *stages;     /* modules per stage, "1,2" (NULL: "1,2", as models/fashion.incept) */
    long long budget;       /* multiply-adds per sample of the whole network (0: 3x the stem's) */
    int classes;            /* of the classifier (0: the dataset's) */
    int sample;             /* images the activations are measured on (0: 256) */
    long steps;             /* SGD steps (batch 128, cosine) before each module (0: 400) */
    float learning_rate;    /* 0: 0.1 */
    double threshold;       /* clustering's |correlation| threshold, in (0, 1) (0: 0.5) */
    unsigned long long seed;
    int threads;            /* 0: 1 */
    void (*progress)(const char *line, void *user); /* what it is doing, a line at a time */
    void *user;
} incept_grow_options;
/* The grown network's description (malloc'd, free() it) into *description. */
INCEPT_API incept_status incept_grow_network(const incept_dataset *data,
                                             const incept_grow_options *options,
                                             char **description);

/* Writes the model as ONNX. A model imported from ONNX is written as that file with every
 * initializer replaced by the model's current parameter of the same name (so weights trained
 * here go back to PyTorch, OpenCV or ncnn under their original names); any other model as a
 * new opset-11 graph of its inference path (auxiliary heads left out), parameters under their
 * names, the batch axis dynamic. */
INCEPT_API incept_status incept_model_save_onnx(const incept_model *model, const char *path);
/* Writes the model as a quantized ONNX file in the QDQ layout (opset 13; ONNX Runtime and
 * TensorRT run it in int8, and so does this engine's int8 session on loading it): every
 * convolution of one group reads its input through QuantizeLinear / DequantizeLinear of the
 * input's range (incept_session_calibrate), its weights as int8 with a scale per output channel
 * and its bias as int32, each through DequantizeLinear — the codes an int8 session uses. Fails
 * if such a convolution's input has no range. */
INCEPT_API incept_status incept_model_save_onnx_int8(const incept_model *model, const char *path);

/* ---- Reporting --------------------------------------------------------------------------- */

typedef struct {
    long long params;          /* weights and biases used by inference */
    long long aux_params;      /* weights and biases of training-only heads */
    long long multiply_adds;   /* per sample, inference graph */
    long long aux_multiply_adds; /* per sample, training-only heads */
} incept_totals;

/* Prints the model in the layout of the paper's Table 1 and fills totals (either may be NULL). */
INCEPT_API incept_status incept_model_summary(const incept_model *model, FILE *out,
                                              incept_totals *totals);
/* The network in Graphviz's DOT language, Inception modules drawn as the paper's Figure 3:
 * branches side by side, the concatenation below (render with `dot -Tsvg`). */
INCEPT_API incept_status incept_model_dot(const incept_model *model, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* INCEPT_H */
