/*===- QuantizedGemv.h - The CUDA weight-only decode GEMV ------------------===*
 *
 * y[m, n] = sum_k x[m, k] * (q[n, k] - z[n, g]) * s[n, g] on the GPU, the
 * weight in the CPU kernel's layout (levels two per byte as level + 8, low
 * nibble first; zeros NULL: symmetric). A test and benchmark entry: it
 * uploads every operand, runs the kernel and downloads y; a model instance
 * uploads its weights once. Returns 0, or -1 with the reason in `error`
 * (no driver or GPU, an unsupported shape: m in 1..8, k and group_size
 * multiples of 32, k a multiple of group_size).
 *===----------------------------------------------------------------------===*/

#ifndef LOWBIT_RUNTIME_CUDA_QUANTIZEDGEMV_H
#define LOWBIT_RUNTIME_CUDA_QUANTIZEDGEMV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int lowbit_cuda_w4_gemv(const float *x, const uint8_t *q, const float *scales, const int8_t *zeros,
                        float *y, int64_t m, int64_t n, int64_t k, int64_t group_size, char *error,
                        size_t error_size);

#ifdef __cplusplus
}
#endif

#endif /* LOWBIT_RUNTIME_CUDA_QUANTIZEDGEMV_H */
