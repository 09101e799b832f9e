/*===- QuantizedGemv.c - Host side of the CUDA decode GEMV ------------------===*/

#include "QuantizedGemv.h"

#include "Driver.h"

#include <pthread.h>
#include <stdio.h>

extern const unsigned char lowbit_cuda_kernels_fatbin[];

static pthread_mutex_t module_lock = PTHREAD_MUTEX_INITIALIZER;
static lowbit_cu_function gemv; /* loaded once per process */

/* The kernel, its module loaded from the embedded fatbin on first use. */
static int load_kernel(const lowbit_cuda_driver *d, char *error, size_t error_size) {
  int status = 0;
  pthread_mutex_lock(&module_lock);
  if (!gemv) {
    lowbit_cu_module module;
    lowbit_cu_result result = d->module_load_data(&module, lowbit_cuda_kernels_fatbin);
    if (result == 0)
      result = d->module_get_function(&gemv, module, "lowbit_cuda_w4_gemv_f32");
    if (result != 0)
      status = lowbit_cuda_fail(d, result, "loading the CUDA kernels", error, error_size);
  }
  pthread_mutex_unlock(&module_lock);
  return status;
}

int lowbit_cuda_w4_gemv(const float *x, const uint8_t *q, const float *scales, const int8_t *zeros,
                        float *y, int64_t m, int64_t n, int64_t k, int64_t group_size, char *error,
                        size_t error_size) {
  if (m < 1 || m > 8 || n < 1 || k < 32 || k % 32 || group_size < 32 || group_size % 32 ||
      k % group_size || !x || !q || !scales || !y) {
    snprintf(error, error_size,
             "lowbit_cuda_w4_gemv: unsupported arguments (m %lld in 1..8, k %lld and group size "
             "%lld multiples of 32, k a multiple of the group size, non-null buffers)",
             (long long)m, (long long)k, (long long)group_size);
    return -1;
  }
  const lowbit_cuda_driver *d = lowbit_cuda_driver_open(error, error_size);
  if (!d || load_kernel(d, error, error_size))
    return -1;
  size_t groups = (size_t)(k / group_size);
  size_t bytes[5] = {(size_t)(m * k) * sizeof(float), (size_t)(n * k / 2),
                     (size_t)n * groups * sizeof(float), zeros ? (size_t)n * groups : 0,
                     (size_t)(m * n) * sizeof(float)};
  const void *sources[4] = {x, q, scales, zeros};
  lowbit_cu_deviceptr device[5] = {0};
  lowbit_cu_result result = 0;
  int status = 0;
  for (int i = 0; i < 5 && result == 0; ++i)
    if (bytes[i])
      result = d->mem_alloc(&device[i], bytes[i]);
  for (int i = 0; i < 4 && result == 0; ++i)
    if (bytes[i])
      result = d->memcpy_htod(device[i], sources[i], bytes[i]);
  if (result != 0) {
    status = lowbit_cuda_fail(d, result, "uploading the operands", error, error_size);
  } else {
    int im = (int)m, in = (int)n, ik = (int)k, ig = (int)group_size;
    void *params[] = {&device[0], &device[1], &device[2], &device[3], &device[4],
                      &im,        &in,        &ik,        &ig};
    const unsigned warps = 4; /* output channels per block */
    result = d->launch_kernel(gemv, (unsigned)((n + warps - 1) / warps), 1, 1, 32, warps, 1, 0,
                              NULL, params, NULL);
    if (result == 0)
      result = d->ctx_synchronize();
    if (result == 0)
      result = d->memcpy_dtoh(y, device[4], bytes[4]);
    if (result != 0)
      status = lowbit_cuda_fail(d, result, "running lowbit_cuda_w4_gemv_f32", error, error_size);
  }
  for (int i = 0; i < 5; ++i)
    if (device[i])
      d->mem_free(device[i]);
  return status;
}
