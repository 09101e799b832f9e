/*===- Model.c - The C API of a compiled model (lowbit-c/Runtime.h) -------===*
 *
 * Linked into every model library. It reads the signature string that
 * lowbitc embeds (`lowbit_main_graph_signature`: one line per input/output,
 * `in|out NAME ELEMENT RANK D0 D1 ...`, -1 for dynamic sizes), validates
 * the caller's tensors against it, builds MLIR memref descriptors and calls
 * `lowbit_main_graph_packed(void **args)`: args[0] points at the results'
 * descriptors, laid out one after another, args[1..] at the inputs'.
 * A descriptor is {allocated, aligned, offset, sizes[rank], strides[rank]},
 * all 64-bit. Results are allocated by the generated code (Allocator.c);
 * they are copied into the caller's (or a fresh) buffer and freed here.
 *===----------------------------------------------------------------------===*/

#define _GNU_SOURCE /* dladdr */
#include "../Offload.h"
#include "ThreadPool.h"
#include "lowbit-c/Runtime.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

extern const char lowbit_main_graph_signature[];
extern void lowbit_main_graph_packed(void **args);
/* Allocator.c: how the generated code's buffers are freed. */
void _mlir_memref_to_llvm_free(void *ptr);
/* MemrefCopy.c */
void lowbit_strided_copy(int64_t element_size, int64_t rank, const int64_t *sizes,
                         const char *src, const int64_t *src_strides, char *dst,
                         const int64_t *dst_strides);

struct lowbit_model {
  int64_t num_inputs, num_outputs;
  lowbit_tensor_info *inputs, *outputs;
  char *names; /* storage for the info names */
  int num_threads;
  lowbit_pool *pool; /* when num_threads > 1 */
  lowbit_offload *offload; /* when its quantized products run on a GPU */
  char device_note[600];   /* where it runs, when that is the CPU */
  char device_text[700];   /* lowbit_model_device's answer */
  char error[512];
};

size_t lowbit_dtype_size(lowbit_dtype dtype) {
  switch (dtype) {
  case LOWBIT_F64:
  case LOWBIT_I64:
  case LOWBIT_U64:
    return 8;
  case LOWBIT_F32:
  case LOWBIT_I32:
  case LOWBIT_U32:
    return 4;
  case LOWBIT_F16:
  case LOWBIT_BF16:
  case LOWBIT_I16:
  case LOWBIT_U16:
    return 2;
  case LOWBIT_I8: case LOWBIT_U8: case LOWBIT_BOOL: return 1;
  case LOWBIT_F8E4M3FN:
  case LOWBIT_F8E4M3FNUZ:
  case LOWBIT_F8E5M2:
  case LOWBIT_F8E5M2FNUZ:
  case LOWBIT_F8E8M0FNU:
  case LOWBIT_F4E2M1FN:
  case LOWBIT_I4:
  case LOWBIT_U4:
  case LOWBIT_I2:
  case LOWBIT_U2:
    return 1;
  default: return 0;
  }
}

static lowbit_dtype parse_dtype(const char *element) {
  static const struct { const char *name; lowbit_dtype dtype;
  } table[] = {{"f32", LOWBIT_F32},
               {"f64", LOWBIT_F64},
               {"f16", LOWBIT_F16},
               {"bf16", LOWBIT_BF16},
               {"i64", LOWBIT_I64},
               {"i32", LOWBIT_I32},
               {"i16", LOWBIT_I16},
               {"i8", LOWBIT_I8},
               {"ui8", LOWBIT_U8},
               {"ui16", LOWBIT_U16},
               {"ui32", LOWBIT_U32},
               {"ui64", LOWBIT_U64},
               {"i1", LOWBIT_BOOL},
               {"f8E4M3FN", LOWBIT_F8E4M3FN},
               {"f8E4M3FNUZ", LOWBIT_F8E4M3FNUZ},
               {"f8E5M2", LOWBIT_F8E5M2},
               {"f8E5M2FNUZ", LOWBIT_F8E5M2FNUZ},
               {"f8E8M0FNU", LOWBIT_F8E8M0FNU},
               {"f4E2M1FN", LOWBIT_F4E2M1FN},
               {"i4", LOWBIT_I4},
               {"ui4", LOWBIT_U4},
               {"i2", LOWBIT_I2},
               {"ui2", LOWBIT_U2}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; ++i)
    if (strcmp(element, table[i].name) == 0)
      return table[i].dtype;
  return LOWBIT_UNSUPPORTED;
}

static lowbit_status fail(lowbit_model *model, lowbit_status status, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(model->error, sizeof model->error, format, args);
  va_end(args);
  return status;
}

static int64_t element_count(int64_t rank, const int64_t *dims) {
  int64_t count = 1;
  for (int64_t i = 0; i < rank; ++i)
    count *= dims[i];
  return count;
}

/*===--- Weights in a file (lowbitc --weights=file) ------------------------===*
 * The library then holds, instead of its large constants, a pointer per
 * weight and this table; the file beside the library is mapped read-only
 * while any instance exists (the pages are shared with every process that
 * maps it). Format: see include/lowbit/Target/CPU/Emit.h. */

typedef struct {
  const void **slot;
  uint64_t offset, size;
} weight_entry;

extern const char lowbit_weights_file[] __attribute__((weak));
extern const uint64_t lowbit_weights_id __attribute__((weak));
extern const uint64_t lowbit_weights_count __attribute__((weak));
extern const uint64_t lowbit_weights_size __attribute__((weak));
extern const weight_entry lowbit_weights_table[] __attribute__((weak));

static pthread_mutex_t weights_mutex = PTHREAD_MUTEX_INITIALIZER;
static int weights_users;
static void *weights_map;
static size_t weights_length;

/* The weights file's path: beside the library (or executable) holding the
 * table. */
static void weights_path(char *path, size_t size) {
  Dl_info info;
  const char *self = NULL;
  char exe[4096];
  if (dladdr((const void *)&lowbit_weights_count, &info) && info.dli_fname &&
      strchr(info.dli_fname, '/'))
    self = info.dli_fname;
  else {
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
      exe[n] = '\0';
      self = exe;
    }
  }
  const char *slash = self ? strrchr(self, '/') : NULL;
  if (slash)
    snprintf(path, size, "%.*s/%s", (int)(slash - self), self, lowbit_weights_file);
  else
    snprintf(path, size, "%s", lowbit_weights_file);
}

/* Maps the weights file (once for all instances). 0 and a message on error. */
static int map_weights(char *error, size_t error_size) {
  if (!&lowbit_weights_count)
    return 1; /* the weights are inside the library */
  int ok = 0;
  pthread_mutex_lock(&weights_mutex);
  if (weights_users > 0) {
    ++weights_users;
    pthread_mutex_unlock(&weights_mutex);
    return 1;
  }
  char path[4096], problem[256] = "";
  weights_path(path, sizeof path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  void *map = MAP_FAILED;
  if (fd < 0 || fstat(fd, &st) != 0)
    snprintf(problem, sizeof problem, "cannot open it: %s", strerror(errno));
  else if ((uint64_t)st.st_size < lowbit_weights_size)
    snprintf(problem, sizeof problem, "it is truncated (%lld bytes, the library needs %llu)",
             (long long)st.st_size, (unsigned long long)lowbit_weights_size);
  else if ((map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
    snprintf(problem, sizeof problem, "cannot map it: %s", strerror(errno));
  else {
    uint64_t id;
    memcpy(&id, (const char *)map + 8, sizeof id);
    if (memcmp(map, "LOWBITW1", 8) != 0 || id != lowbit_weights_id)
      snprintf(problem, sizeof problem,
               "it does not belong to this library (written by another compilation)");
    else
      ok = 1;
  }
  if (fd >= 0)
    close(fd);
  if (ok) {
    weights_map = map;
    weights_length = (size_t)st.st_size;
    for (uint64_t i = 0; i < lowbit_weights_count; ++i)
      *lowbit_weights_table[i].slot = (const char *)map + lowbit_weights_table[i].offset;
    weights_users = 1;
  } else {
    if (map != MAP_FAILED)
      munmap(map, (size_t)st.st_size);
    if (error && error_size)
      snprintf(error, error_size, "weights file %s: %s", path, problem);
  }
  pthread_mutex_unlock(&weights_mutex);
  return ok;
}

static void unmap_weights(void) {
  if (!&lowbit_weights_count)
    return;
  pthread_mutex_lock(&weights_mutex);
  if (--weights_users == 0) {
    for (uint64_t i = 0; i < lowbit_weights_count; ++i)
      *lowbit_weights_table[i].slot = NULL;
    munmap(weights_map, weights_length);
    weights_map = NULL;
  }
  pthread_mutex_unlock(&weights_mutex);
}

lowbit_model *lowbit_model_create(char *error, size_t error_size) {
  if (!map_weights(error, error_size))
    return NULL;
  lowbit_model *model = calloc(1, sizeof *model);
  size_t length = strlen(lowbit_main_graph_signature);
  char *text = model ? malloc(length + 1) : NULL;
  int64_t lines = 0;
  for (size_t i = 0; i < length; ++i)
    lines += lowbit_main_graph_signature[i] == '\n';
  lowbit_tensor_info *infos = text ? calloc(lines ? lines : 1, sizeof *infos) : NULL;
  if (!infos) {
    if (error && error_size)
      snprintf(error, error_size, "lowbit_model_create: out of memory");
    free(text);
    free(model);
    unmap_weights();
    return NULL;
  }
  memcpy(text, lowbit_main_graph_signature, length + 1);
  /* Inputs come first in the signature, then outputs. */
  int64_t count = 0;
  char *position = NULL;
  for (char *line = strtok_r(text, "\n", &position); line;
       line = strtok_r(NULL, "\n", &position)) {
    char *fields[4 + LOWBIT_MAX_RANK];
    int n = 0;
    for (char *p = line; *p && n < 4 + LOWBIT_MAX_RANK;) {
      fields[n++] = p;
      while (*p && *p != ' ')
        ++p;
      if (*p)
        *p++ = '\0';
    }
    lowbit_tensor_info *info = &infos[count++];
    info->name = fields[1];
    info->dtype = parse_dtype(fields[2]);
    info->rank = atoll(fields[3]);
    for (int64_t d = 0; d < info->rank && d < LOWBIT_MAX_RANK; ++d)
      info->dims[d] = atoll(fields[4 + d]);
    if (strcmp(fields[0], "in") == 0)
      model->num_inputs++;
    else
      model->num_outputs++;
  }
  model->inputs = infos;
  model->outputs = infos + model->num_inputs;
  model->names = text;
  model->num_threads = 1;
  lowbit_model_set_device(model, LOWBIT_DEVICE_AUTO);
  return model;
}

void lowbit_model_destroy(lowbit_model *model) {
  if (!model)
    return;
  lowbit_pool_destroy(model->pool);
  if (model->offload)
    lowbit_offload_destroy(model->offload);
  free(model->inputs);
  free(model->names);
  free(model);
  unmap_weights();
}

int64_t lowbit_model_num_inputs(const lowbit_model *model) { return model ? model->num_inputs : 0; }
int64_t lowbit_model_num_outputs(const lowbit_model *model) { return model ? model->num_outputs : 0; }

static lowbit_status get_info(const lowbit_tensor_info *infos, int64_t count, int64_t index,
                              lowbit_tensor_info *info) {
  if (!infos || !info || index < 0 || index >= count)
    return LOWBIT_INVALID_ARGUMENT;
  *info = infos[index];
  return LOWBIT_OK;
}

lowbit_status lowbit_model_input_info(const lowbit_model *model, int64_t index,
                                      lowbit_tensor_info *info) {
  return model ? get_info(model->inputs, model->num_inputs, index, info) : LOWBIT_INVALID_ARGUMENT;
}

lowbit_status lowbit_model_output_info(const lowbit_model *model, int64_t index,
                                       lowbit_tensor_info *info) {
  return model ? get_info(model->outputs, model->num_outputs, index, info)
               : LOWBIT_INVALID_ARGUMENT;
}

lowbit_status lowbit_model_set_num_threads(lowbit_model *model, int num_threads) {
  if (!model)
    return LOWBIT_INVALID_ARGUMENT;
  if (num_threads < 1)
    return fail(model, LOWBIT_INVALID_ARGUMENT, "num_threads must be at least 1, got %d",
                num_threads);
  if (num_threads == model->num_threads)
    return LOWBIT_OK;
  lowbit_pool *pool = NULL;
  if (num_threads > 1) {
    pool = lowbit_pool_create(num_threads);
    if (!pool || lowbit_pool_size(pool) != num_threads) {
      lowbit_pool_destroy(pool);
      return fail(model, LOWBIT_OUT_OF_MEMORY, "cannot start %d threads", num_threads);
    }
  }
  lowbit_pool_destroy(model->pool);
  model->pool = pool;
  model->num_threads = num_threads;
  return LOWBIT_OK;
}

lowbit_status lowbit_model_set_device(lowbit_model *model, lowbit_device device) {
  if (!model)
    return LOWBIT_INVALID_ARGUMENT;
  if (device != LOWBIT_DEVICE_AUTO && device != LOWBIT_DEVICE_CPU && device != LOWBIT_DEVICE_CUDA)
    return fail(model, LOWBIT_INVALID_ARGUMENT, "unknown device %d", (int)device);
  if (model->offload && device != LOWBIT_DEVICE_CPU)
    return LOWBIT_OK; /* already on the GPU */
  if (model->offload)
    lowbit_offload_destroy(model->offload);
  model->offload = NULL;
  snprintf(model->device_note, sizeof model->device_note, "cpu");
  if (device == LOWBIT_DEVICE_CPU)
    return LOWBIT_OK;
  if (!lowbit_offload_create) { /* a CPU-only library */
    if (device == LOWBIT_DEVICE_CUDA)
      return fail(model, LOWBIT_UNAVAILABLE,
                  "device cuda: this library holds no CUDA code (compile it with lowbitc "
                  "--target=cpu,cuda)");
    return LOWBIT_OK;
  }
  char reason[512] = "";
  model->offload = lowbit_offload_create(reason, sizeof reason);
  if (model->offload)
    return LOWBIT_OK;
  snprintf(model->device_note, sizeof model->device_note, "cpu (no GPU: %s)", reason);
  if (device == LOWBIT_DEVICE_CUDA)
    return fail(model, LOWBIT_UNAVAILABLE, "device cuda: %s", reason);
  return LOWBIT_OK;
}

const char *lowbit_model_device(lowbit_model *model) {
  if (!model)
    return "no model (NULL)";
  if (!model->offload)
    return model->device_note;
  int64_t on_device, on_cpu;
  lowbit_offload_counts(model->offload, &on_device, &on_cpu);
  const char *failure = lowbit_offload_error(model->offload);
  if (failure[0])
    snprintf(model->device_text, sizeof model->device_text, "cpu (the GPU failed: %s)", failure);
  else
    snprintf(model->device_text, sizeof model->device_text,
             "cuda (%s): %lld of %lld quantized matrix products so far on the GPU, the rest of "
             "the graph on the CPU",
             lowbit_offload_device_name(model->offload), (long long)on_device,
             (long long)(on_device + on_cpu));
  return model->device_text;
}

const char *lowbit_model_last_error(const lowbit_model *model) {
  return model ? model->error : "no model (NULL)";
}

void lowbit_tensor_release(lowbit_tensor *tensor) {
  if (!tensor)
    return;
  if (tensor->owned)
    free(tensor->data);
  tensor->data = NULL;
  tensor->owned = 0;
}

/* Checks `tensor` against `info`; the message names the tensor. */
static lowbit_status check_tensor(lowbit_model *model, const lowbit_tensor_info *info,
                                  const lowbit_tensor *tensor, const char *what) {
  if (info->dtype == LOWBIT_UNSUPPORTED)
    return fail(model, LOWBIT_TYPE_MISMATCH, "%s '%s': its element type is not supported by the C API",
                what, info->name);
  if (tensor->dtype != info->dtype)
    return fail(model, LOWBIT_TYPE_MISMATCH, "%s '%s': dtype %d given, the model takes %d", what,
                info->name, (int)tensor->dtype, (int)info->dtype);
  if (tensor->rank != info->rank)
    return fail(model, LOWBIT_TYPE_MISMATCH, "%s '%s': rank %lld given, the model takes %lld",
                what, info->name, (long long)tensor->rank, (long long)info->rank);
  for (int64_t d = 0; d < info->rank; ++d) {
    if (tensor->dims[d] < 0 || (info->dims[d] >= 0 && tensor->dims[d] != info->dims[d]))
      return fail(model, LOWBIT_TYPE_MISMATCH,
                  "%s '%s': size %lld at dimension %lld, the model takes %lld", what, info->name,
                  (long long)tensor->dims[d], (long long)d, (long long)info->dims[d]);
  }
  return LOWBIT_OK;
}

lowbit_status lowbit_model_run(lowbit_model *model, const lowbit_tensor *inputs,
                               int64_t num_inputs, lowbit_tensor *outputs, int64_t num_outputs) {
  if (!model)
    return LOWBIT_INVALID_ARGUMENT;
  model->error[0] = '\0';
  if ((num_inputs && !inputs) || (num_outputs && !outputs))
    return fail(model, LOWBIT_INVALID_ARGUMENT, "inputs or outputs is NULL");
  if (num_inputs != model->num_inputs || num_outputs != model->num_outputs)
    return fail(model, LOWBIT_INVALID_ARGUMENT,
                "the model takes %lld inputs and gives %lld outputs; %lld and %lld given",
                (long long)model->num_inputs, (long long)model->num_outputs,
                (long long)num_inputs, (long long)num_outputs);

  /* Match inputs to the model's order. */
  const lowbit_tensor **ordered = calloc(num_inputs ? num_inputs : 1, sizeof *ordered);
  if (!ordered)
    return fail(model, LOWBIT_OUT_OF_MEMORY, "out of memory");
  lowbit_status status = LOWBIT_OK;
  for (int64_t i = 0; i < num_inputs && status == LOWBIT_OK; ++i) {
    int64_t slot = i;
    if (inputs[i].name) {
      for (slot = 0; slot < model->num_inputs; ++slot)
        if (strcmp(model->inputs[slot].name, inputs[i].name) == 0)
          break;
      if (slot == model->num_inputs) {
        status = fail(model, LOWBIT_NOT_FOUND, "the model has no input '%s'", inputs[i].name);
        break;
      }
    }
    if (ordered[slot])
      status = fail(model, LOWBIT_INVALID_ARGUMENT, "input '%s' is given twice",
                    model->inputs[slot].name);
    else
      ordered[slot] = &inputs[i];
  }
  for (int64_t i = 0; i < num_inputs && status == LOWBIT_OK; ++i) {
    status = check_tensor(model, &model->inputs[i], ordered[i], "input");
    if (status == LOWBIT_OK && !ordered[i]->data && element_count(ordered[i]->rank, ordered[i]->dims))
      status = fail(model, LOWBIT_INVALID_ARGUMENT, "input '%s': data is NULL", model->inputs[i].name);
  }
  if (status != LOWBIT_OK) {
    free(ordered);
    return status;
  }

  /* Descriptors: the results' first, then one per input. */
  int64_t result_words = 0, input_words = 0;
  for (int64_t i = 0; i < num_outputs; ++i)
    result_words += 3 + 2 * model->outputs[i].rank;
  for (int64_t i = 0; i < num_inputs; ++i)
    input_words += 3 + 2 * model->inputs[i].rank;
  int64_t *words = calloc(result_words + input_words + 1, sizeof *words);
  void **args = calloc(1 + num_inputs, sizeof *args);
  if (!words || !args) {
    free(words);
    free(args);
    free(ordered);
    return fail(model, LOWBIT_OUT_OF_MEMORY, "out of memory");
  }
  static char empty; /* the address of zero-size inputs */
  args[0] = words;
  int64_t *cursor = words + result_words;
  for (int64_t i = 0; i < num_inputs; ++i) {
    const lowbit_tensor *t = ordered[i];
    int64_t rank = t->rank, stride = 1;
    intptr_t data = (intptr_t)(t->data ? t->data : &empty);
    cursor[0] = cursor[1] = (int64_t)data;
    cursor[2] = 0;
    for (int64_t d = rank - 1; d >= 0; --d) {
      cursor[3 + d] = t->dims[d];
      cursor[3 + rank + d] = stride;
      stride *= t->dims[d] ? t->dims[d] : 1;
    }
    args[1 + i] = cursor;
    cursor += 3 + 2 * rank;
  }
  free(ordered);

  lowbit_current_pool = model->pool;
  lowbit_current_offload = model->offload;
  lowbit_main_graph_packed(args);
  lowbit_current_pool = NULL;
  lowbit_current_offload = NULL;

  /* Copy each result out (honouring its strides) and free it. */
  int64_t *result = words;
  for (int64_t i = 0; i < num_outputs; ++i) {
    const lowbit_tensor_info *info = &model->outputs[i];
    int64_t rank = info->rank;
    char *allocated = (char *)(intptr_t)result[0], *aligned = (char *)(intptr_t)result[1];
    const int64_t *sizes = result + 3, *strides = result + 3 + rank;
    size_t element = lowbit_dtype_size(info->dtype);
    lowbit_tensor *out = &outputs[i];
    int64_t count = element_count(rank, sizes);
    if (status == LOWBIT_OK && out->data) {
      if (out->rank != rank || out->dtype != info->dtype ||
          memcmp(out->dims, sizes, rank * sizeof(int64_t)) != 0)
        status = fail(model, LOWBIT_TYPE_MISMATCH,
                      "output '%s': the buffer given does not have the result's dtype and shape",
                      info->name);
    } else if (status == LOWBIT_OK) {
      out->data = malloc(count * element > 0 ? count * element : 1);
      out->owned = 1;
      if (!out->data)
        status = fail(model, LOWBIT_OUT_OF_MEMORY, "out of memory for output '%s'", info->name);
    }
    if (status == LOWBIT_OK) {
      out->name = info->name;
      out->dtype = info->dtype;
      out->rank = rank;
      memcpy(out->dims, sizes, rank * sizeof(int64_t));
      int64_t dense[LOWBIT_MAX_RANK], stride = 1;
      for (int64_t d = rank - 1; d >= 0; --d) {
        dense[d] = stride;
        stride *= sizes[d];
      }
      lowbit_strided_copy((int64_t)element, rank, sizes, aligned + result[2] * element, strides,
                          out->data, dense);
    }
    /* Free each allocation once (two results may share one). */
    int shared = 0;
    for (int64_t j = 0, *other = words; j < i; ++j) {
      if ((char *)(intptr_t)other[0] == allocated)
        shared = 1;
      other += 3 + 2 * model->outputs[j].rank;
    }
    if (!shared)
      _mlir_memref_to_llvm_free(allocated);
    result += 3 + 2 * rank;
  }
  free(words);
  free(args);
  return status;
}
