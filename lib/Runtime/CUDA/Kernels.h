/*===- Kernels.h - The CUDA kernels' host entries --------------------------===*
 *
 * Test and benchmark entries of the CUDA kernels: each uploads its
 * operands, runs the kernels and downloads y (a model instance uploads its
 * weights once instead). The weight is the CPU kernels' layout
 * (lowbit_uk_quantized_matmul_f32_params): level k of channel n in byte
 * n * k_bytes + k / 2 as level + 8, low nibble first (4 bits), or the
 * signed level in byte n * k + k (8 bits); scales (and zero points, NULL:
 * symmetric) [n, ceil(k / group_size)]; x [m, k] and y [m, n] row-major,
 * fp32. Each returns 0, or -1 with the reason in `error` (no driver or GPU,
 * an unsupported shape or a null buffer) and never crashes.
 *===----------------------------------------------------------------------===*/

#ifndef LOWBIT_RUNTIME_CUDA_KERNELS_H
#define LOWBIT_RUNTIME_CUDA_KERNELS_H

#include "Launch.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Decode (m in 1..8), 4-bit weights: one warp per output channel, 128-bit
 * loads. k and group_size multiples of 32, k a multiple of group_size. */
int lowbit_cuda_w4_gemv(const float *x, const uint8_t *q, const float *scales, const int8_t *zeros,
                        float *y, int64_t m, int64_t n, int64_t k, int64_t group_size, char *error,
                        size_t error_size);

/* Prefill, 4- or 8-bit weights (`bits`) on f16 tensor cores, the weight
 * dequantized in registers (x rounded to f16, scales applied in fp32 per
 * group). Any m; k and group_size multiples of 32. */
int lowbit_cuda_weight_only_gemm(int bits, const float *x, const uint8_t *q, const float *scales,
                                 const int8_t *zeros, float *y, int64_t m, int64_t n, int64_t k,
                                 int64_t group_size, char *error, size_t error_size);

/* W8A8 on int8 tensor cores: x quantized per row (activation_scale, or 0:
 * each row's max |x| / 127), symmetric one-byte weight levels, and the
 * `outliers` channels of a split layer (outlier_a [m, outliers] and
 * outlier_w [outliers, n], fp32) added in fp32 in the same kernel. Any m;
 * k and group_size multiples of 32. */
int lowbit_cuda_w8a8_gemm(const float *x, float activation_scale, const int8_t *q,
                          const float *scales, const float *outlier_a, const float *outlier_w,
                          int64_t outliers, float *y, int64_t m, int64_t n, int64_t k,
                          int64_t group_size, char *error, size_t error_size);

/* Decode attention over a quantized KV cache (KVAttention.cu): out[h] =
 * softmax(softmax_scale * q[h] K^T) V for one query token per head (q, out
 * [heads, head_dim]), K and V as `bits` 8 or 4 levels ([kv_heads, tokens,
 * head_dim], or head_dim / 2 bytes of two levels for 4 bits) with a scale
 * per token and head ([kv_heads, tokens]); heads a multiple of kv_heads.
 * tokens in 1..8192, head_dim <= 128 (even for 4 bits). */
int lowbit_cuda_attention_decode(int bits, const float *q, const int8_t *k_levels,
                                 const float *k_scales, const int8_t *v_levels,
                                 const float *v_scales, float *out, int64_t heads, int64_t kv_heads,
                                 int64_t tokens, int64_t head_dim, float softmax_scale, char *error,
                                 size_t error_size);

/*===--- On device buffers ---------------------------------------------===*
 * What the entries above run once their operands are on the device, for
 * callers that keep them there (Offload.c: a model instance's weights).
 * Each `*_unsupported` returns NULL when the kernel takes the shape, else
 * the rule broken; the launchers assume it does. */

const char *lowbit_cuda_gemv_unsupported(int64_t m, int64_t n, int64_t k, int64_t group_size);
const char *lowbit_cuda_gemm_unsupported(int64_t m, int64_t n, int64_t k, int64_t group_size);

void lowbit_cuda_launch_w4_gemv(lowbit_cuda_call *call, lowbit_cu_deviceptr x,
                                lowbit_cu_deviceptr q, lowbit_cu_deviceptr scales,
                                lowbit_cu_deviceptr zeros, lowbit_cu_deviceptr y, int64_t m,
                                int64_t n, int64_t k, int64_t group_size);
void lowbit_cuda_launch_weight_only_gemm(lowbit_cuda_call *call, int bits, lowbit_cu_deviceptr x,
                                         lowbit_cu_deviceptr q, lowbit_cu_deviceptr scales,
                                         lowbit_cu_deviceptr zeros, lowbit_cu_deviceptr y,
                                         int64_t m, int64_t n, int64_t k, int64_t group_size);
/* a_levels [m, k] (int8) and a_scales [m] are the launch's scratch;
 * outlier_a [m, outliers] and outlier_w [n, outliers] fp32 (0: none). */
void lowbit_cuda_launch_w8a8_gemm(lowbit_cuda_call *call, lowbit_cu_deviceptr x,
                                  float activation_scale, lowbit_cu_deviceptr a_levels,
                                  lowbit_cu_deviceptr a_scales, lowbit_cu_deviceptr q,
                                  lowbit_cu_deviceptr scales, lowbit_cu_deviceptr outlier_a,
                                  lowbit_cu_deviceptr outlier_w, int64_t outliers,
                                  lowbit_cu_deviceptr y, int64_t m, int64_t n, int64_t k,
                                  int64_t group_size);

/* `rows` x `cols` of `matrix` (row_stride, col_stride) into `out`
 * [rows][cols]: operands laid out as the kernels read them. */
void lowbit_cuda_gather(const float *matrix, int64_t rows, int64_t cols, int64_t row_stride,
                        int64_t col_stride, float *out);

#ifdef __cplusplus
}
#endif

#endif /* LOWBIT_RUNTIME_CUDA_KERNELS_H */
