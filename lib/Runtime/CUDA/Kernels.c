/*===- Kernels.c - The CUDA kernels' host entries --------------------------===*/

#include "Kernels.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The GEMM kernels' block tile (BlockTile.cuh). */
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

const char *lowbit_cuda_gemv_unsupported(int64_t m, int64_t n, int64_t k, int64_t group_size) {
  if (m < 1 || m > 8 || n < 1 || k < 32 || k % 32 || group_size < 32 || group_size % 32 ||
      k % group_size || !fits_int(m, n, k))
    return "m in 1..8, k and group_size multiples of 32, k a multiple of group_size";
  return NULL;
}

const char *lowbit_cuda_gemm_unsupported(int64_t m, int64_t n, int64_t k, int64_t group_size) {
  if (m < 1 || n < 1 || k < 32 || k % 32 || group_size < 32 || group_size % 32 ||
      !fits_int(m, n, k))
    return "k and group_size multiples of 32";
  return NULL;
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

/* Launches a GEMM kernel over the m x n output; with k split across
 * blocks, y is zeroed first (the slices add into it). */
static void launch_gemm(lowbit_cuda_call *call, const char *kernel, lowbit_cu_deviceptr y,
                        int64_t m, int64_t n, int64_t k, void **parameters) {
  unsigned grid_x = (unsigned)((n + kBlockCols - 1) / kBlockCols);
  unsigned grid_y = (unsigned)((m + kBlockRows - 1) / kBlockRows);
  unsigned slices = k_slices((int64_t)grid_x * grid_y, k);
  if (slices > 1)
    lowbit_cuda_call_zero(call, y, (size_t)(m * n) * sizeof(float));
  lowbit_cuda_call_launch(call, kernel, grid_x, grid_y, slices, kGemmThreads, parameters);
}

void lowbit_cuda_launch_w4_gemv(lowbit_cuda_call *call, lowbit_cu_deviceptr x,
                                lowbit_cu_deviceptr q, lowbit_cu_deviceptr scales,
                                lowbit_cu_deviceptr zeros, lowbit_cu_deviceptr y, int64_t m,
                                int64_t n, int64_t k, int64_t group_size) {
  int im = (int)m, in = (int)n, ik = (int)k, ig = (int)group_size;
  void *params[] = {&x, &q, &scales, &zeros, &y, &im, &in, &ik, &ig};
  const unsigned warps = 4; /* one output channel per warp */
  lowbit_cuda_call_launch(call, "lowbit_cuda_w4_gemv_f32", (unsigned)((n + warps - 1) / warps), 1,
                          1, 32 * warps, params);
}

void lowbit_cuda_launch_weight_only_gemm(lowbit_cuda_call *call, int bits, lowbit_cu_deviceptr x,
                                         lowbit_cu_deviceptr q, lowbit_cu_deviceptr scales,
                                         lowbit_cu_deviceptr zeros, lowbit_cu_deviceptr y,
                                         int64_t m, int64_t n, int64_t k, int64_t group_size) {
  int im = (int)m, in = (int)n, ik = (int)k, ig = (int)group_size;
  void *params[] = {&x, &q, &scales, &zeros, &y, &im, &in, &ik, &ig};
  launch_gemm(call, bits == 4 ? "lowbit_cuda_w4_gemm_f32" : "lowbit_cuda_w8_gemm_f32", y, m, n, k,
              params);
}

void lowbit_cuda_launch_w8a8_gemm(lowbit_cuda_call *call, lowbit_cu_deviceptr x,
                                  float activation_scale, lowbit_cu_deviceptr a_levels,
                                  lowbit_cu_deviceptr a_scales, lowbit_cu_deviceptr q,
                                  lowbit_cu_deviceptr scales, lowbit_cu_deviceptr outlier_a,
                                  lowbit_cu_deviceptr outlier_w, int64_t outliers,
                                  lowbit_cu_deviceptr y, int64_t m, int64_t n, int64_t k,
                                  int64_t group_size) {
  int im = (int)m, in = (int)n, ik = (int)k, ig = (int)group_size, io = (int)outliers;
  float scale = activation_scale;
  void *quantize[] = {&x, &a_levels, &a_scales, &ik, &scale};
  lowbit_cuda_call_launch(call, "lowbit_cuda_quantize_rows_i8", (unsigned)m, 1, 1, 256, quantize);
  void *gemm[] = {&a_levels, &a_scales, &q,  &scales, &outlier_a, &outlier_w,
                  &y,        &im,       &in, &ik,     &ig,        &io};
  launch_gemm(call, "lowbit_cuda_w8a8_gemm_f32", y, m, n, k, gemm);
}

/* The weight-only entries once their arguments are checked: upload,
 * the GEMV (`gemv`) or the GEMM, download. */
static int run_weight_only(int bits, int gemv, const float *x, const uint8_t *q,
                           const float *scales, const int8_t *zeros, float *y, int64_t m, int64_t n,
                           int64_t k, int64_t group_size, char *error, size_t error_size) {
  lowbit_cuda_call call;
  if (lowbit_cuda_call_begin(&call, error, error_size))
    return -1;
  size_t groups = (size_t)((k + group_size - 1) / group_size);
  lowbit_cu_deviceptr dx = lowbit_cuda_call_upload(&call, x, (size_t)(m * k) * sizeof(float));
  lowbit_cu_deviceptr dq = lowbit_cuda_call_upload(&call, q, (size_t)(n * k * bits / 8));
  lowbit_cu_deviceptr ds =
      lowbit_cuda_call_upload(&call, scales, (size_t)n * groups * sizeof(float));
  lowbit_cu_deviceptr dz = lowbit_cuda_call_upload(&call, zeros, (size_t)n * groups);
  lowbit_cu_deviceptr dy = lowbit_cuda_call_alloc(&call, (size_t)(m * n) * sizeof(float));
  if (gemv)
    lowbit_cuda_launch_w4_gemv(&call, dx, dq, ds, dz, dy, m, n, k, group_size);
  else
    lowbit_cuda_launch_weight_only_gemm(&call, bits, dx, dq, ds, dz, dy, m, n, k, group_size);
  lowbit_cuda_call_download(&call, y, dy, (size_t)(m * n) * sizeof(float));
  return lowbit_cuda_call_end(&call);
}

int lowbit_cuda_w4_gemv(const float *x, const uint8_t *q, const float *scales, const int8_t *zeros,
                        float *y, int64_t m, int64_t n, int64_t k, int64_t group_size, char *error,
                        size_t error_size) {
  const char *rule = lowbit_cuda_gemv_unsupported(m, n, k, group_size);
  if (rule || !x || !q || !scales || !y)
    return refuse("lowbit_cuda_w4_gemv", rule ? rule : "a null buffer", m, n, k, group_size, error,
                  error_size);
  return run_weight_only(4, 1, x, q, scales, zeros, y, m, n, k, group_size, error, error_size);
}

int lowbit_cuda_weight_only_gemm(int bits, const float *x, const uint8_t *q, const float *scales,
                                 const int8_t *zeros, float *y, int64_t m, int64_t n, int64_t k,
                                 int64_t group_size, char *error, size_t error_size) {
  const char *rule =
      bits != 4 && bits != 8 ? "bits 4 or 8" : lowbit_cuda_gemm_unsupported(m, n, k, group_size);
  if (rule || !x || !q || !scales || !y)
    return refuse("lowbit_cuda_weight_only_gemm", rule ? rule : "a null buffer", m, n, k,
                  group_size, error, error_size);
  return run_weight_only(bits, 0, x, q, scales, zeros, y, m, n, k, group_size, error, error_size);
}

void lowbit_cuda_gather(const float *matrix, int64_t rows, int64_t cols, int64_t row_stride,
                        int64_t col_stride, float *out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] = matrix[r * row_stride + c * col_stride];
}

int lowbit_cuda_w8a8_gemm(const float *x, float activation_scale, const int8_t *q,
                          const float *scales, const float *outlier_a, const float *outlier_w,
                          int64_t outliers, float *y, int64_t m, int64_t n, int64_t k,
                          int64_t group_size, char *error, size_t error_size) {
  const char *rule = outliers < 0 || activation_scale < 0 || !fits_int(m, n, outliers)
                         ? "outliers and activation_scale >= 0"
                         : lowbit_cuda_gemm_unsupported(m, n, k, group_size);
  if (rule || !x || !q || !scales || !y || (outliers && (!outlier_a || !outlier_w)))
    return refuse("lowbit_cuda_w8a8_gemm", rule ? rule : "a null buffer", m, n, k, group_size,
                  error, error_size);
  /* The outlier weights as the kernel reads them: [n][outliers]. */
  float *channel_major = outliers ? malloc((size_t)(n * outliers) * sizeof(float)) : NULL;
  if (outliers && !channel_major) {
    snprintf(error, error_size, "lowbit_cuda_w8a8_gemm: out of host memory");
    return -1;
  }
  if (outliers)
    lowbit_cuda_gather(outlier_w, n, outliers, 1, n, channel_major);
  lowbit_cuda_call call;
  int status = lowbit_cuda_call_begin(&call, error, error_size);
  if (status == 0) {
    size_t groups = (size_t)((k + group_size - 1) / group_size);
    lowbit_cu_deviceptr dx = lowbit_cuda_call_upload(&call, x, (size_t)(m * k) * sizeof(float));
    lowbit_cu_deviceptr da = lowbit_cuda_call_alloc(&call, (size_t)(m * k));
    lowbit_cu_deviceptr das = lowbit_cuda_call_alloc(&call, (size_t)m * sizeof(float));
    lowbit_cu_deviceptr dq = lowbit_cuda_call_upload(&call, q, (size_t)(n * k));
    lowbit_cu_deviceptr ds =
        lowbit_cuda_call_upload(&call, scales, (size_t)n * groups * sizeof(float));
    lowbit_cu_deviceptr doa =
        lowbit_cuda_call_upload(&call, outlier_a, (size_t)(m * outliers) * sizeof(float));
    lowbit_cu_deviceptr dow =
        lowbit_cuda_call_upload(&call, channel_major, (size_t)(n * outliers) * sizeof(float));
    lowbit_cu_deviceptr dy = lowbit_cuda_call_alloc(&call, (size_t)(m * n) * sizeof(float));
    lowbit_cuda_launch_w8a8_gemm(&call, dx, activation_scale, da, das, dq, ds, doa, dow, outliers,
                                 dy, m, n, k, group_size);
    lowbit_cuda_call_download(&call, y, dy, (size_t)(m * n) * sizeof(float));
    status = lowbit_cuda_call_end(&call);
  }
  free(channel_major);
  return status;
}

int lowbit_cuda_attention_decode(int bits, const float *q, const int8_t *k_levels,
                                 const float *k_scales, const int8_t *v_levels,
                                 const float *v_scales, float *out, int64_t heads, int64_t kv_heads,
                                 int64_t tokens, int64_t head_dim, float softmax_scale, char *error,
                                 size_t error_size) {
  if ((bits != 8 && bits != 4) || heads < 1 || kv_heads < 1 || heads % kv_heads || tokens < 1 ||
      tokens > 8192 || head_dim < 1 || head_dim > 128 || (bits == 4 && head_dim % 2)) {
    snprintf(error, error_size,
             "lowbit_cuda_attention_decode: unsupported arguments bits=%d heads=%lld "
             "kv_heads=%lld tokens=%lld head_dim=%lld (bits 8 or 4, heads a multiple of "
             "kv_heads, tokens in 1..8192, head_dim <= 128 and even for 4 bits)",
             bits, (long long)heads, (long long)kv_heads, (long long)tokens, (long long)head_dim);
    return -1;
  }
  if (!q || !k_levels || !k_scales || !v_levels || !v_scales || !out) {
    snprintf(error, error_size, "lowbit_cuda_attention_decode: a null buffer");
    return -1;
  }
  lowbit_cuda_call call;
  if (lowbit_cuda_call_begin(&call, error, error_size))
    return -1;
  size_t cache = (size_t)(kv_heads * tokens * (bits == 8 ? head_dim : head_dim / 2));
  size_t scales = (size_t)(kv_heads * tokens) * sizeof(float);
  size_t rows = (size_t)(heads * head_dim) * sizeof(float);
  lowbit_cu_deviceptr dq = lowbit_cuda_call_upload(&call, q, rows);
  lowbit_cu_deviceptr dk = lowbit_cuda_call_upload(&call, k_levels, cache);
  lowbit_cu_deviceptr dks = lowbit_cuda_call_upload(&call, k_scales, scales);
  lowbit_cu_deviceptr dv = lowbit_cuda_call_upload(&call, v_levels, cache);
  lowbit_cu_deviceptr dvs = lowbit_cuda_call_upload(&call, v_scales, scales);
  lowbit_cu_deviceptr dout = lowbit_cuda_call_alloc(&call, rows);
  int ih = (int)heads, ikv = (int)kv_heads, it = (int)tokens, id = (int)head_dim, ib = bits;
  float scale = softmax_scale;
  void *params[] = {&dq, &dk, &dks, &dv, &dvs, &dout, &ih, &ikv, &it, &id, &scale, &ib};
  lowbit_cuda_call_launch(&call, "lowbit_cuda_attention_decode_f32", (unsigned)heads, 1, 1, 128,
                          params);
  lowbit_cuda_call_download(&call, out, dout, rows);
  return lowbit_cuda_call_end(&call);
}
