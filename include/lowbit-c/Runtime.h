/*===- lowbit-c/Runtime.h - The C API of a compiled lowbit model ----------===*
 *
 * Every shared library that `lowbitc --emit=lib` produces exports this API.
 * A program loads the library (link it, or dlopen it), creates a model
 * instance, asks for its inputs and outputs, and runs it on its own buffers.
 *
 *   char error[256];
 *   lowbit_model *model = lowbit_model_create(error, sizeof error);
 *   lowbit_tensor in = {.name = "input_ids", .dtype = LOWBIT_I64, .rank = 2,
 *                       .dims = {1, 8}, .data = ids};
 *   lowbit_tensor out[11] = {0};          // data == NULL: the model allocates
 *   if (lowbit_model_run(model, &in, 1, out, 11) != LOWBIT_OK)
 *     fprintf(stderr, "%s\n", lowbit_model_last_error(model));
 *   ... out[0].data holds the logits, out[0].dims their shape ...
 *   for (int i = 0; i < 11; ++i) lowbit_tensor_release(&out[i]);
 *   lowbit_model_destroy(model);
 *
 * Ownership: inputs are borrowed for the duration of the call. An output
 * whose `data` is NULL on entry receives a buffer the caller owns and frees
 * with lowbit_tensor_release; an output whose `data` is set must have the
 * exact dtype and dims of the result, which is then copied into it.
 *
 * On a failed run, outputs may already hold buffers the runtime allocated:
 * lowbit_tensor_release them all the same (it is safe on any output).
 *
 * Errors: every entry point that can fail returns a lowbit_status; the
 * instance keeps a message for the last failure (lowbit_model_last_error).
 * A wrong name, dtype, rank or shape, or a NULL pointer, is an error, never
 * a crash. Instances share nothing mutable: two instances may run at the
 * same time on different threads; one instance runs one call at a time.
 *===----------------------------------------------------------------------===*/

#ifndef LOWBIT_C_RUNTIME_H
#define LOWBIT_C_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOWBIT_MAX_RANK 8

typedef enum {
  LOWBIT_OK = 0,
  LOWBIT_INVALID_ARGUMENT = 1, /* NULL pointer, bad index, wrong count */
  LOWBIT_NOT_FOUND = 2,        /* an input name the model does not have */
  LOWBIT_TYPE_MISMATCH = 3,    /* dtype, rank or shape does not match */
  LOWBIT_OUT_OF_MEMORY = 4,
  LOWBIT_UNAVAILABLE = 5, /* the device asked for is not there */
} lowbit_status;

typedef enum {
  LOWBIT_DEVICE_AUTO = 0, /* CUDA when the library holds CUDA code and a GPU is found */
  LOWBIT_DEVICE_CPU = 1,
  LOWBIT_DEVICE_CUDA = 2,
} lowbit_device;

typedef enum {
  LOWBIT_F32 = 0,
  LOWBIT_F64 = 1,
  LOWBIT_F16 = 2,
  LOWBIT_BF16 = 3,
  LOWBIT_I64 = 4,
  LOWBIT_I32 = 5,
  LOWBIT_I16 = 6,
  LOWBIT_I8 = 7,
  LOWBIT_U8 = 8,
  LOWBIT_BOOL = 9, /* one byte per element, 0 or 1 */
  LOWBIT_U16 = 10,
  LOWBIT_U32 = 11,
  LOWBIT_U64 = 12,
  /* Narrow types, one element per byte: the bit pattern in the low bits, the
   * rest zero (as ml_dtypes' numpy types and ONNX Runtime hold them). */
  LOWBIT_F8E4M3FN = 13,
  LOWBIT_F8E4M3FNUZ = 14,
  LOWBIT_F8E5M2 = 15,
  LOWBIT_F8E5M2FNUZ = 16,
  LOWBIT_F8E8M0FNU = 17,
  LOWBIT_F4E2M1FN = 18,
  LOWBIT_I4 = 19,
  LOWBIT_U4 = 20,
  LOWBIT_I2 = 21,
  LOWBIT_U2 = 22,
  LOWBIT_UNSUPPORTED = 100,
} lowbit_dtype;

/* An input or output of the model; dims[i] is -1 where the size is dynamic.
 * The name is owned by the model instance. */
typedef struct {
  const char *name;
  lowbit_dtype dtype;
  int64_t rank;
  int64_t dims[LOWBIT_MAX_RANK];
} lowbit_tensor_info;

/* A dense, row-major tensor. `name` may be NULL (inputs are then taken in
 * the model's order). `owned` is set by the runtime on outputs it allocated. */
typedef struct {
  const char *name;
  lowbit_dtype dtype;
  int64_t rank;
  int64_t dims[LOWBIT_MAX_RANK];
  void *data;
  int owned;
} lowbit_tensor;

typedef struct lowbit_model lowbit_model;

/* Creates an instance. On failure returns NULL and writes a message into
 * `error` (if not NULL) of `error_size` bytes. */
lowbit_model *lowbit_model_create(char *error, size_t error_size);

/* Destroys an instance; NULL is ignored. */
void lowbit_model_destroy(lowbit_model *model);

int64_t lowbit_model_num_inputs(const lowbit_model *model);
int64_t lowbit_model_num_outputs(const lowbit_model *model);

/* Fills `info` for input/output `index`. */
lowbit_status lowbit_model_input_info(const lowbit_model *model, int64_t index,
                                      lowbit_tensor_info *info);
lowbit_status lowbit_model_output_info(const lowbit_model *model, int64_t index,
                                       lowbit_tensor_info *info);

/* The number of threads the instance may use (default 1). With more than
 * one, the instance starts that many - 1 worker threads, which sleep between
 * runs and end with lowbit_model_destroy; matrix products large enough to
 * gain are split among them (the rest of the graph runs on the calling
 * thread). Returns LOWBIT_OUT_OF_MEMORY if the threads cannot be started. */
lowbit_status lowbit_model_set_num_threads(lowbit_model *model, int num_threads);

/* Where the instance runs. A library compiled with `lowbitc
 * --target=cpu,cuda` holds CUDA code beside the CPU code: on CUDA, its
 * quantized matrix products (weight-only W4/W8 and W8A8) run on GPU 0, their
 * weights uploaded once per instance, and the rest of the graph on the CPU
 * (whole-model GPU execution is not built yet). New instances start on
 * LOWBIT_DEVICE_AUTO: CUDA where a GPU and driver are found, else the CPU.
 * LOWBIT_DEVICE_CUDA returns LOWBIT_UNAVAILABLE (and says why) when the
 * library has no CUDA code or there is no GPU; the instance then stays on
 * the CPU. If the GPU fails during a run, the instance goes on on the CPU
 * and the device says so. */
lowbit_status lowbit_model_set_device(lowbit_model *model, lowbit_device device);

/* Where the instance runs, in words: "cpu", "cpu (no GPU: <reason>)",
 * "cuda (<GPU name>): N of M quantized matrix products so far on the GPU,
 * ...", or "cpu (the GPU failed: <reason>)". Valid until the next call on
 * the instance. */
const char *lowbit_model_device(lowbit_model *model);

/* Runs the model: `inputs` are matched by name (or position when names are
 * NULL); `outputs` receive the results in the model's output order. */
lowbit_status lowbit_model_run(lowbit_model *model, const lowbit_tensor *inputs,
                               int64_t num_inputs, lowbit_tensor *outputs,
                               int64_t num_outputs);

/* The message of the last failed call on this instance ("" if none). */
const char *lowbit_model_last_error(const lowbit_model *model);

/* Frees an output's data if the runtime allocated it; resets `data`. */
void lowbit_tensor_release(lowbit_tensor *tensor);

/* Bytes per element of a dtype (0 for LOWBIT_UNSUPPORTED). */
size_t lowbit_dtype_size(lowbit_dtype dtype);

/*===--- Decode sessions (language models with a KV cache) -----------------===*
 * A session keeps the model's KV cache between steps, in whatever layout
 * it has (f32, or integer levels and scales after --quantize=kv-cache): the
 * caller gives token ids and reads logits. Batch 1. The model needs inputs
 * input_ids [batch, seq] (i64) and past.X, outputs logits [batch, seq,
 * vocab] (f32) and present.X for each past.X. Not thread-safe: one session
 * per thread, each over its own model instance. */

typedef struct lowbit_session lowbit_session;

/* A session over `model` (which must outlive it), with an empty cache.
 * NULL and a message in `error` if the model is not such a language model. */
lowbit_session *lowbit_session_create(lowbit_model *model, char *error, size_t error_size);

/* Runs `count` tokens after those already seen; writes their logits
 * [count, vocab] into `logits` (if not NULL; `logits_size` floats). */
lowbit_status lowbit_session_step(lowbit_session *session, const int64_t *ids, int64_t count,
                                  float *logits, int64_t logits_size);

/* Tokens seen so far; forget them (an empty cache); free the session. */
int64_t lowbit_session_length(const lowbit_session *session);
void lowbit_session_reset(lowbit_session *session);
void lowbit_session_destroy(lowbit_session *session);

/* The message of the session's last failed step ("" if none). */
const char *lowbit_session_last_error(const lowbit_session *session);

/*===--- Calibration (models compiled with --instrument-calibration) ------===*
 * Each lowbit.calibration_tap of such a model folds the rows it sees into
 * per-channel statistics shared by the whole process: max |x|, mean |x|,
 * the sum over rows of x^T x, and the number of rows (tokens). */

/* The taps' names, one per line in tap-id order, or NULL if the model has
 * no taps. */
const char *lowbit_calibration_taps(void);

/* Statistics of tap `id`: its channel count and tokens (0 if it has seen
 * nothing), then, where the pointers are not NULL, abs_max[channels],
 * mean_abs[channels] and xtx[channels * channels] (row-major). Call with
 * NULL arrays first to learn the channel count. */
lowbit_status lowbit_calibration_stats(int64_t id, int64_t *channels, int64_t *tokens,
                                       double *abs_max, double *mean_abs, double *xtx);

/* Forgets all statistics gathered so far. */
void lowbit_calibration_reset(void);

#ifdef __cplusplus
}
#endif

#endif /* LOWBIT_C_RUNTIME_H */
