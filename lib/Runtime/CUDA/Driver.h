/*===- Driver.h - The CUDA driver API, loaded when first needed ------------===*
 *
 * The runtime reaches the GPU through the CUDA driver API, resolved from
 * libcuda.so.1 with dlopen on first use, so that a library built with CUDA
 * support loads and runs on a machine without a GPU or driver (the CPU path
 * runs, and the CUDA entry points return an error with a message). Only the
 * few functions the runtime calls are declared here, with the driver's ABI
 * (cuda.h is not needed to build this file).
 *===----------------------------------------------------------------------===*/

#ifndef LOWBIT_RUNTIME_CUDA_DRIVER_H
#define LOWBIT_RUNTIME_CUDA_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int lowbit_cu_result; /* CUresult: 0 is success */
typedef int lowbit_cu_device;
typedef struct lowbit_cu_context_st *lowbit_cu_context;
typedef struct lowbit_cu_module_st *lowbit_cu_module;
typedef struct lowbit_cu_function_st *lowbit_cu_function;
typedef uint64_t lowbit_cu_deviceptr;

/* The driver functions the runtime uses (the _v2 symbols where cuda.h maps
 * the name to one). */
typedef struct {
  lowbit_cu_result (*init)(unsigned flags);
  lowbit_cu_result (*device_get_count)(int *count);
  lowbit_cu_result (*device_get)(lowbit_cu_device *device, int ordinal);
  lowbit_cu_result (*device_get_name)(char *name, int length, lowbit_cu_device device);
  lowbit_cu_result (*primary_ctx_retain)(lowbit_cu_context *context, lowbit_cu_device device);
  lowbit_cu_result (*ctx_set_current)(lowbit_cu_context context);
  lowbit_cu_result (*ctx_synchronize)(void);
  lowbit_cu_result (*module_load_data)(lowbit_cu_module *module, const void *image);
  lowbit_cu_result (*module_get_function)(lowbit_cu_function *function, lowbit_cu_module module,
                                          const char *name);
  lowbit_cu_result (*mem_alloc)(lowbit_cu_deviceptr *pointer, size_t bytes);
  lowbit_cu_result (*mem_free)(lowbit_cu_deviceptr pointer);
  lowbit_cu_result (*memcpy_htod)(lowbit_cu_deviceptr destination, const void *source,
                                  size_t bytes);
  lowbit_cu_result (*memcpy_dtoh)(void *destination, lowbit_cu_deviceptr source, size_t bytes);
  lowbit_cu_result (*memset_d8)(lowbit_cu_deviceptr destination, unsigned char value, size_t count);
  lowbit_cu_result (*device_get_attribute)(int *value, int attribute, lowbit_cu_device device);
  lowbit_cu_result (*launch_kernel)(lowbit_cu_function function, unsigned grid_x, unsigned grid_y,
                                    unsigned grid_z, unsigned block_x, unsigned block_y,
                                    unsigned block_z, unsigned shared_bytes, void *stream,
                                    void **parameters, void **extra);
  lowbit_cu_result (*get_error_string)(lowbit_cu_result result, const char **text);
} lowbit_cuda_driver;

/* The driver and device 0 with its primary context current on this
 * thread, loaded once per process; NULL when there is none, with the
 * reason in `error` (e.g. "libcuda.so.1 not found (no NVIDIA driver on
 * this machine)", "no CUDA device"). Thread-safe. */
const lowbit_cuda_driver *lowbit_cuda_driver_open(char *error, size_t error_size);

/* Makes the runtime use `table` instead of loading libcuda.so.1: the CUDA
 * emulator of the unit tests (unittests/Runtime/CUDA) runs the kernels on
 * the CPU through it. Only before the first lowbit_cuda_driver_open. */
void lowbit_cuda_driver_replace(const lowbit_cuda_driver *table);

/* `what` failed with `result`: "what: CUDA error N (NAME)" into `error`;
 * returns -1. */
int lowbit_cuda_fail(const lowbit_cuda_driver *driver, lowbit_cu_result result, const char *what,
                     char *error, size_t error_size);

/* The name of the device in use ("" when none). */
const char *lowbit_cuda_device_name(void);

/* The number of streaming multiprocessors of the device in use (0 when
 * none): how many blocks fill it. */
int lowbit_cuda_multiprocessors(void);

#ifdef __cplusplus
}
#endif

#endif /* LOWBIT_RUNTIME_CUDA_DRIVER_H */
