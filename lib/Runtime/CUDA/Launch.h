/*===- Launch.h - Device buffers and kernel launches of one host call -------===*
 *
 * The host entries (Kernels.c) upload their operands, launch kernels from
 * the embedded fatbin and download the results. A lowbit_cuda_call keeps
 * the device buffers of one such call and its first failure: every step
 * after a failure does nothing, and lowbit_cuda_call_end frees everything
 * and reports what failed, so an entry reads as the sequence of its steps.
 *===----------------------------------------------------------------------===*/

#ifndef LOWBIT_RUNTIME_CUDA_LAUNCH_H
#define LOWBIT_RUNTIME_CUDA_LAUNCH_H

#include "Driver.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { LOWBIT_CUDA_CALL_BUFFERS = 16 };

typedef struct {
  const lowbit_cuda_driver *driver;
  lowbit_cu_deviceptr buffers[LOWBIT_CUDA_CALL_BUFFERS];
  int count;
  lowbit_cu_result result; /* the first failure (0: none) */
  char failed[160];        /* what failed */
  char *error;
  size_t error_size;
} lowbit_cuda_call;

/* Opens the driver (device 0); -1 with the reason in `error` when there is
 * no driver or GPU. */
int lowbit_cuda_call_begin(lowbit_cuda_call *call, char *error, size_t error_size);

/* A device buffer of `bytes`, or holding a copy of `host` (0 for no bytes
 * or no `host`), freed by lowbit_cuda_call_end. */
lowbit_cu_deviceptr lowbit_cuda_call_alloc(lowbit_cuda_call *call, size_t bytes);
lowbit_cu_deviceptr lowbit_cuda_call_upload(lowbit_cuda_call *call, const void *host, size_t bytes);

/* A device buffer of `bytes` that outlives the call (the caller frees it
 * with the driver's mem_free); 0 for no bytes or after a failure, which the
 * call records as `what`. */
lowbit_cu_deviceptr lowbit_cuda_call_alloc_kept(lowbit_cuda_call *call, size_t bytes,
                                                const char *what);

/* Copies `bytes` of `host` into `device` (a buffer the caller keeps), or
 * zeroes them. */
void lowbit_cuda_call_copy(lowbit_cuda_call *call, lowbit_cu_deviceptr device, const void *host,
                           size_t bytes);
void lowbit_cuda_call_zero(lowbit_cuda_call *call, lowbit_cu_deviceptr device, size_t bytes);

/* Launches `kernel` (by name, from the embedded fatbin; loaded once per
 * process) on a grid of blocks of `block` threads. */
void lowbit_cuda_call_launch(lowbit_cuda_call *call, const char *kernel, unsigned grid_x,
                             unsigned grid_y, unsigned grid_z, unsigned block, void **parameters);

/* Waits for the launches and copies `bytes` of `device` to `host`. */
void lowbit_cuda_call_download(lowbit_cuda_call *call, void *host, lowbit_cu_deviceptr device,
                               size_t bytes);

/* Frees the call's buffers; 0, or -1 with "what failed: CUDA error N
 * (NAME)" in the error buffer given to lowbit_cuda_call_begin. */
int lowbit_cuda_call_end(lowbit_cuda_call *call);

#ifdef __cplusplus
}
#endif

#endif /* LOWBIT_RUNTIME_CUDA_LAUNCH_H */
