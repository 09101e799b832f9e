/*===- Kernels.c - The CUDA kernels' host entries --------------------------===*/

#include "Kernels.h"

#include "Launch.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The GEMM kernels' block tile (QuantizedGemm.cu, Int8Gemm.cu). */
enum { kBlockRows = 64, kBlockCols = 128, kTileK = 32, kGemmThreads = 256 };

static int refuse(const char *entry, const char *rule, int64_t m, int64_t n, int64_t k,
                  int64_t group_size, char *error, size_t error_size) {
  snprintf(error, error_size, "%s: unsupported arguments m=%lld n=%lld k=%lld group_size=%lld (%s)",
           entry, (long long)m, (long long)n, (long long)k, (long long)group_size, rule);
  return -1;
}

static int fits_int(int64_t m, int64_t n, int64_t k) {
  return m * k < INT_MAX && n * k < INT_MAX && m * n < INT_MAX;
}

/* Slices of k that give the grid about two blocks per multiprocessor (the
 * GEMM kernels' registers allow two), each slice at least 4 tiles. */
static unsigned k_slices(int64_t blocks, int64_t k) {
  int64_t target = 2 * (int64_t)lowbit_cuda_multiprocessors();
  int64_t slices = (target + blocks - 1) / blocks, most = k / kTileK / 4;
  if (slices > most)
    slices = most;
  return slices < 1 ? 1u : (unsigned)slices;
}

int lowbit_cuda_w4_gemv(const float *x, const uint8_t *q, const float *scales, const int8_t *zeros,
                        float *y, int64_t m, int64_t n, int64_t k, int64_t group_size, char *error,
                        size_t error_size) {
  if (m < 1 || m > 8 || n < 1 || k < 32 || k % 32 || group_size < 32 || group_size % 32 ||
      k % group_size || !fits_int(m, n, k))
    return refuse("lowbit_cuda_w4_gemv",
                  "m in 1..8, k and group_size multiples of 32, k a multiple of group_size", m, n,
                  k, group_size, error, error_size);
  if (!x || !q || !scales || !y)
    return refuse("lowbit_cuda_w4_gemv", "a null buffer", m, n, k, group_size, error, error_size);
  lowbit_cuda_call call;
  if (lowbit_cuda_call_begin(&call, error, error_size))
    return -1;
  size_t groups = (size_t)(k / group_size);
  lowbit_cu_deviceptr dx = lowbit_cuda_call_upload(&call, x, (size_t)(m * k) * sizeof(float));
  lowbit_cu_deviceptr dq = lowbit_cuda_call_upload(&call, q, (size_t)(n * k / 2));
  lowbit_cu_deviceptr ds =
      lowbit_cuda_call_upload(&call, scales, (size_t)n * groups * sizeof(float));
  lowbit_cu_deviceptr dz = lowbit_cuda_call_upload(&call, zeros, (size_t)n * groups);
  lowbit_cu_deviceptr dy = lowbit_cuda_call_alloc(&call, (size_t)(m * n) * sizeof(float), 0);
  int im = (int)m, in = (int)n, ik = (int)k, ig = (int)group_size;
  void *params[] = {&dx, &dq, &ds, &dz, &dy, &im, &in, &ik, &ig};
  const unsigned warps = 4; /* one output channel per warp */
  lowbit_cuda_call_launch(&call, "lowbit_cuda_w4_gemv_f32", (unsigned)((n + warps - 1) / warps), 1,
                          1, 32 * warps, params);
  lowbit_cuda_call_download(&call, y, dy, (size_t)(m * n) * sizeof(float));
  return lowbit_cuda_call_end(&call);
}

int lowbit_cuda_weight_only_gemm(int bits, const float *x, const uint8_t *q, const float *scales,
                                 const int8_t *zeros, float *y, int64_t m, int64_t n, int64_t k,
                                 int64_t group_size, char *error, size_t error_size) {
  if ((bits != 4 && bits != 8) || m < 1 || n < 1 || k < 32 || k % 32 || group_size < 32 ||
      group_size % 32 || !fits_int(m, n, k))
    return refuse("lowbit_cuda_weight_only_gemm", "bits 4 or 8, k and group_size multiples of 32",
                  m, n, k, group_size, error, error_size);
  if (!x || !q || !scales || !y)
    return refuse("lowbit_cuda_weight_only_gemm", "a null buffer", m, n, k, group_size, error,
                  error_size);
  lowbit_cuda_call call;
  if (lowbit_cuda_call_begin(&call, error, error_size))
    return -1;
  size_t groups = (size_t)((k + group_size - 1) / group_size);
  int64_t blocks = ((n + kBlockCols - 1) / kBlockCols) * ((m + kBlockRows - 1) / kBlockRows);
  unsigned slices = k_slices(blocks, k);
  lowbit_cu_deviceptr dx = lowbit_cuda_call_upload(&call, x, (size_t)(m * k) * sizeof(float));
  lowbit_cu_deviceptr dq = lowbit_cuda_call_upload(&call, q, (size_t)(n * k * bits / 8));
  lowbit_cu_deviceptr ds =
      lowbit_cuda_call_upload(&call, scales, (size_t)n * groups * sizeof(float));
  lowbit_cu_deviceptr dz = lowbit_cuda_call_upload(&call, zeros, (size_t)n * groups);
  lowbit_cu_deviceptr dy =
      lowbit_cuda_call_alloc(&call, (size_t)(m * n) * sizeof(float), slices > 1);
  int im = (int)m, in = (int)n, ik = (int)k, ig = (int)group_size;
  void *params[] = {&dx, &dq, &ds, &dz, &dy, &im, &in, &ik, &ig};
  lowbit_cuda_call_launch(&call, bits == 4 ? "lowbit_cuda_w4_gemm_f32" : "lowbit_cuda_w8_gemm_f32",
                          (unsigned)((n + kBlockCols - 1) / kBlockCols),
                          (unsigned)((m + kBlockRows - 1) / kBlockRows), slices, kGemmThreads,
                          params);
  lowbit_cuda_call_download(&call, y, dy, (size_t)(m * n) * sizeof(float));
  return lowbit_cuda_call_end(&call);
}

/* IEEE binary16 of `value`, rounded to nearest even (overflow to inf). */
static uint16_t to_half(float value) {
  uint32_t bits;
  memcpy(&bits, &value, sizeof bits);
  uint32_t sign = (bits >> 16) & 0x8000u, magnitude = bits & 0x7FFFFFFFu;
  if (magnitude >= 0x7F800000u) /* inf, nan */
    return (uint16_t)(sign | 0x7C00u | (magnitude > 0x7F800000u ? 0x200u : 0));
  if (magnitude >= 0x477FF000u) /* rounds to beyond 65504 */
    return (uint16_t)(sign | 0x7C00u);
  if (magnitude < 0x38800000u) { /* below 2^-14: a subnormal half, a multiple of 2^-24 */
    float v;
    memcpy(&v, &magnitude, sizeof v);
    return (uint16_t)(sign | (uint32_t)__builtin_rintf(v * 0x1p24f));
  }
  uint32_t rounded = magnitude + 0xFFFu + ((magnitude >> 13) & 1u);
  return (uint16_t)(sign | ((rounded - 0x38000000u) >> 13));
}

/* `rows` x `cols` of `matrix` (fp32, row_stride, col_stride) as f16 in a
 * [rows][padded] buffer, zero beyond cols. */
static uint16_t *to_half_rows(const float *matrix, int64_t rows, int64_t cols, int64_t row_stride,
                              int64_t col_stride, int64_t padded) {
  uint16_t *out = calloc((size_t)(rows * padded), sizeof *out);
  if (out)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        out[r * padded + c] = to_half(matrix[r * row_stride + c * col_stride]);
  return out;
}

int lowbit_cuda_w8a8_gemm(const float *x, float activation_scale, const int8_t *q,
                          const float *scales, const float *outlier_a, const float *outlier_w,
                          int64_t outliers, float *y, int64_t m, int64_t n, int64_t k,
                          int64_t group_size, char *error, size_t error_size) {
  if (m < 1 || n < 1 || k < 32 || k % 32 || group_size < 32 || group_size % 32 || outliers < 0 ||
      activation_scale < 0 || !fits_int(m, n, k) || !fits_int(m, n, outliers + 16))
    return refuse("lowbit_cuda_w8a8_gemm",
                  "k and group_size multiples of 32, outliers and activation_scale >= 0", m, n, k,
                  group_size, error, error_size);
  if (!x || !q || !scales || !y || (outliers && (!outlier_a || !outlier_w)))
    return refuse("lowbit_cuda_w8a8_gemm", "a null buffer", m, n, k, group_size, error, error_size);
  /* The outlier channels as the kernel reads them: f16, zero-padded to a
   * multiple of 16 channels, activations [m][c] and weights [n][c]. */
  int64_t padded = (outliers + 15) / 16 * 16;
  uint16_t *half_a = NULL, *half_w = NULL;
  if (outliers) {
    half_a = to_half_rows(outlier_a, m, outliers, outliers, 1, padded);
    half_w = to_half_rows(outlier_w, n, outliers, 1, n, padded);
    if (!half_a || !half_w) {
      free(half_a);
      free(half_w);
      snprintf(error, error_size, "lowbit_cuda_w8a8_gemm: out of host memory");
      return -1;
    }
  }
  lowbit_cuda_call call;
  int status = lowbit_cuda_call_begin(&call, error, error_size);
  if (status == 0) {
    size_t groups = (size_t)((k + group_size - 1) / group_size);
    int64_t blocks = ((n + kBlockCols - 1) / kBlockCols) * ((m + kBlockRows - 1) / kBlockRows);
    unsigned slices = k_slices(blocks, k);
    lowbit_cu_deviceptr dx = lowbit_cuda_call_upload(&call, x, (size_t)(m * k) * sizeof(float));
    lowbit_cu_deviceptr da = lowbit_cuda_call_alloc(&call, (size_t)(m * k), 0);
    lowbit_cu_deviceptr das = lowbit_cuda_call_alloc(&call, (size_t)m * sizeof(float), 0);
    lowbit_cu_deviceptr dq = lowbit_cuda_call_upload(&call, q, (size_t)(n * k));
    lowbit_cu_deviceptr ds =
        lowbit_cuda_call_upload(&call, scales, (size_t)n * groups * sizeof(float));
    lowbit_cu_deviceptr doa = lowbit_cuda_call_upload(&call, half_a, (size_t)(m * padded) * 2);
    lowbit_cu_deviceptr dow = lowbit_cuda_call_upload(&call, half_w, (size_t)(n * padded) * 2);
    lowbit_cu_deviceptr dy =
        lowbit_cuda_call_alloc(&call, (size_t)(m * n) * sizeof(float), slices > 1);
    int im = (int)m, in = (int)n, ik = (int)k, ig = (int)group_size, io = (int)padded;
    float scale = activation_scale;
    void *quantize[] = {&dx, &da, &das, &ik, &scale};
    lowbit_cuda_call_launch(&call, "lowbit_cuda_quantize_rows_i8", (unsigned)m, 1, 1, 256,
                            quantize);
    void *gemm[] = {&da, &das, &dq, &ds, &doa, &dow, &dy, &im, &in, &ik, &ig, &io};
    lowbit_cuda_call_launch(
        &call, "lowbit_cuda_w8a8_gemm_f32", (unsigned)((n + kBlockCols - 1) / kBlockCols),
        (unsigned)((m + kBlockRows - 1) / kBlockRows), slices, kGemmThreads, gemm);
    lowbit_cuda_call_download(&call, y, dy, (size_t)(m * n) * sizeof(float));
    status = lowbit_cuda_call_end(&call);
  }
  free(half_a);
  free(half_w);
  return status;
}
