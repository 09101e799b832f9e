/*===- Launch.c - Device buffers and kernel launches of one host call -------===*/

#include "Launch.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* The fatbins of the kernel files (KernelsFatbin.c, from Embed.cmake). */
extern const unsigned char *const lowbit_cuda_fatbins[];
extern const int lowbit_cuda_fatbins_count;

/* Their modules and the functions looked up in them, loaded once per
 * process. */
static pthread_mutex_t module_lock = PTHREAD_MUTEX_INITIALIZER;
static lowbit_cu_module modules[8];
static int modules_loaded;
static struct {
  const char *name; /* a string literal of the caller */
  lowbit_cu_function function;
} functions[16];
static int function_count;

static lowbit_cu_result find_kernel(const lowbit_cuda_driver *d, const char *name,
                                    lowbit_cu_function *function) {
  lowbit_cu_result result = 0;
  pthread_mutex_lock(&module_lock);
  *function = NULL;
  for (int i = 0; i < function_count; ++i)
    if (strcmp(functions[i].name, name) == 0)
      *function = functions[i].function;
  if (!*function) {
    while (result == 0 && modules_loaded < lowbit_cuda_fatbins_count &&
           modules_loaded < (int)(sizeof modules / sizeof modules[0])) {
      result = d->module_load_data(&modules[modules_loaded], lowbit_cuda_fatbins[modules_loaded]);
      if (result == 0)
        ++modules_loaded;
    }
    /* The module that has it (CUDA_ERROR_NOT_FOUND from the others). */
    for (int i = 0; result == 0 && i < modules_loaded && !*function; ++i)
      if (d->module_get_function(function, modules[i], name) != 0)
        *function = NULL;
    if (result == 0 && !*function)
      result = 500; /* CUDA_ERROR_NOT_FOUND */
    if (result == 0 && function_count < (int)(sizeof functions / sizeof functions[0])) {
      functions[function_count].name = name;
      functions[function_count++].function = *function;
    }
  }
  pthread_mutex_unlock(&module_lock);
  return result;
}

static void fail(lowbit_cuda_call *call, lowbit_cu_result result, const char *what,
                 const char *detail) {
  if (result != 0 && call->result == 0) {
    call->result = result;
    snprintf(call->failed, sizeof call->failed, "%s%s", what, detail ? detail : "");
  }
}

int lowbit_cuda_call_begin(lowbit_cuda_call *call, char *error, size_t error_size) {
  memset(call, 0, sizeof *call);
  call->error = error;
  call->error_size = error_size;
  call->driver = lowbit_cuda_driver_open(error, error_size);
  return call->driver ? 0 : -1;
}

lowbit_cu_deviceptr lowbit_cuda_call_alloc_kept(lowbit_cuda_call *call, size_t bytes,
                                                const char *what) {
  lowbit_cu_deviceptr pointer = 0;
  if (call->result != 0 || bytes == 0)
    return 0;
  fail(call, call->driver->mem_alloc(&pointer, bytes), what, NULL);
  return call->result == 0 ? pointer : 0;
}

lowbit_cu_deviceptr lowbit_cuda_call_alloc(lowbit_cuda_call *call, size_t bytes) {
  if (call->result == 0 && bytes != 0 && call->count == LOWBIT_CUDA_CALL_BUFFERS) {
    fail(call, 1, "lowbit_cuda_call_alloc: too many buffers", NULL);
    return 0;
  }
  lowbit_cu_deviceptr pointer =
      lowbit_cuda_call_alloc_kept(call, bytes, "allocating device memory");
  if (pointer)
    call->buffers[call->count++] = pointer;
  return pointer;
}

void lowbit_cuda_call_copy(lowbit_cuda_call *call, lowbit_cu_deviceptr device, const void *host,
                           size_t bytes) {
  if (call->result == 0 && bytes)
    fail(call, call->driver->memcpy_htod(device, host, bytes), "uploading an operand", NULL);
}

void lowbit_cuda_call_zero(lowbit_cuda_call *call, lowbit_cu_deviceptr device, size_t bytes) {
  if (call->result == 0 && bytes)
    fail(call, call->driver->memset_d8(device, 0, bytes), "zeroing device memory", NULL);
}

lowbit_cu_deviceptr lowbit_cuda_call_upload(lowbit_cuda_call *call, const void *host,
                                            size_t bytes) {
  if (!host)
    return 0;
  lowbit_cu_deviceptr pointer = lowbit_cuda_call_alloc(call, bytes);
  lowbit_cuda_call_copy(call, pointer, host, pointer ? bytes : 0);
  return pointer;
}

void lowbit_cuda_call_launch(lowbit_cuda_call *call, const char *kernel, unsigned grid_x,
                             unsigned grid_y, unsigned grid_z, unsigned block, void **parameters) {
  if (call->result != 0)
    return;
  lowbit_cu_function function;
  fail(call, find_kernel(call->driver, kernel, &function), "loading ", kernel);
  if (call->result == 0)
    fail(call,
         call->driver->launch_kernel(function, grid_x, grid_y, grid_z, block, 1, 1, 0, NULL,
                                     parameters, NULL),
         "launching ", kernel);
}

void lowbit_cuda_call_download(lowbit_cuda_call *call, void *host, lowbit_cu_deviceptr device,
                               size_t bytes) {
  if (call->result != 0)
    return;
  fail(call, call->driver->ctx_synchronize(), "running the kernels", NULL);
  if (call->result == 0)
    fail(call, call->driver->memcpy_dtoh(host, device, bytes), "downloading the result", NULL);
}

int lowbit_cuda_call_end(lowbit_cuda_call *call) {
  for (int i = 0; i < call->count; ++i)
    call->driver->mem_free(call->buffers[i]);
  call->count = 0;
  if (call->result == 0)
    return 0;
  return lowbit_cuda_fail(call->driver, call->result, call->failed, call->error, call->error_size);
}
