/*===- QuantizedMatmulF32.c - Weight-quantized matmul micro-kernels --------===*
 *
 * C += A * W for lowbit.quantized_matmul (lowbit-lower-to-ukernels calls
 * lowbit_uk_quantized_matmul_f32): fp32 activations, W held as one-byte
 * integer levels [N, K] with per-group scales (and zero points).
 *
 * The weight is dequantized inside the kernel, never materialized whole:
 * - few rows of A (decode): each output channel's row of levels is
 *   dequantized into a small buffer (in L1) and dotted with each row of A,
 *   so the weight is read once, one byte per element;
 * - more rows: the fp32 kernel's packed path (Tiles.h), with a pack step
 *   that dequantizes the levels into the panels instead of copying floats.
 *===----------------------------------------------------------------------===*/

#include "UKernels.h"

#include "../ThreadPool.h"
#include "Tiles.h"

#include <stddef.h>

/* Elements of a weight row dequantized at a time by the small-m path. */
#define ROW_CHUNK 4096

void lowbit_uk_quantized_matmul_f32_reference(const lowbit_uk_quantized_matmul_f32_params *p) {
  for (int64_t i = 0; i < p->m; ++i)
    for (int64_t j = 0; j < p->n; ++j) {
      float sum = 0;
      for (int64_t k = 0; k < p->k; ++k) {
        int64_t g = k / p->group_size;
        float zero = p->zeros ? p->zeros[j * p->z_row_stride + g * p->z_col_stride] : 0;
        float w = ((float)p->q[j * p->q_row_stride + k * p->q_col_stride] - zero) *
                  p->scales[j * p->s_row_stride + g * p->s_col_stride];
        sum += p->a[i * p->a_row_stride + k * p->a_col_stride] * w;
      }
      p->c[i * p->c_row_stride + j * p->c_col_stride] += sum;
    }
}

/* out[0, len) = W[k0, k0 + len) of output channel n, group by group (the
 * inner loop vectorizes: one conversion, subtraction and multiplication per
 * element). Requires unit column strides of the levels. */
INLINE void dequantize_row(const lowbit_uk_quantized_matmul_f32_params *p, int64_t n, int64_t k0,
                           int64_t len, float *out) {
  const int8_t *q = p->q + n * p->q_row_stride;
  const float *s = p->scales + n * p->s_row_stride;
  const int8_t *z = p->zeros ? p->zeros + n * p->z_row_stride : NULL;
  for (int64_t k = k0, end = k0 + len; k < end;) {
    int64_t g = k / p->group_size, stop = min64(end, (g + 1) * p->group_size);
    float scale = s[g * p->s_col_stride], zero = z ? (float)z[g * p->z_col_stride] : 0.0f;
    for (; k < stop; ++k)
      out[k - k0] = ((float)q[k] - zero) * scale;
  }
}

/* The pack step of the packed path: panels of `nr` output channels. */
INLINE void pack_dequantized(const lowbit_uk_quantized_matmul_f32_params *p, int64_t k0,
                             int64_t kc, int64_t j0, int64_t nc, const int64_t nr, float *out) {
  float row[KC];
  for (int64_t j = 0; j < (nc + nr - 1) / nr * nr; ++j) {
    float *panel = out + (j / nr) * kc * nr + j % nr;
    if (j < nc)
      dequantize_row(p, j0 + j, k0, kc, row);
    for (int64_t k = 0; k < kc; ++k)
      panel[k * nr] = j < nc ? row[k] : 0.0f;
  }
}

/*===--- AVX-512 -------------------------------------------------------------===*/

AVX512 static void pack_avx512(const void *context, int64_t k0, int64_t kc, int64_t j0,
                               int64_t nc, float *out) {
  pack_dequantized(context, k0, kc, j0, nc, NR512, out);
}

INLINE AVX512 float dot_avx512(const float *x, const float *w, int64_t len) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= len; k += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), _mm512_loadu_ps(w + k), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 16), _mm512_loadu_ps(w + k + 16), acc1);
  }
  for (; k < len; k += 16) {
    __mmask16 mask = mask16(len - k);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, x + k), _mm512_maskz_loadu_ps(mask, w + k),
                           acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

AVX512 void lowbit_uk_quantized_matmul_f32_avx512(const lowbit_uk_quantized_matmul_f32_params *p,
                                                  float *workspace) {
  if (p->q_col_stride != 1 || p->a_col_stride != 1 || p->c_col_stride != 1) {
    lowbit_uk_quantized_matmul_f32_reference(p);
    return;
  }
  if (p->m <= SMALL_M) {
    for (int64_t j = 0; j < p->n; ++j)
      for (int64_t k0 = 0; k0 < p->k; k0 += ROW_CHUNK) {
        int64_t len = min64(ROW_CHUNK, p->k - k0);
        dequantize_row(p, j, k0, len, workspace);
        for (int64_t i = 0; i < p->m; ++i)
          p->c[i * p->c_row_stride + j] += dot_avx512(p->a + i * p->a_row_stride + k0, workspace, len);
      }
    return;
  }
  packed_avx512(p->m, p->n, p->k, p->a, p->a_row_stride, p->a_col_stride, p->c, p->c_row_stride,
                pack_avx512, p, workspace);
}

/*===--- AVX2 ----------------------------------------------------------------===*/

AVX2 static void pack_avx2(const void *context, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                           float *out) {
  pack_dequantized(context, k0, kc, j0, nc, NR256, out);
}

INLINE AVX2 float dot_avx2(const float *x, const float *w, int64_t len) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= len; k += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(w + k), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_loadu_ps(w + k + 8), acc1);
  }
  for (; k < len; k += 8) {
    __m256i mask = mask8(len - k);
    acc0 = _mm256_fmadd_ps(_mm256_maskload_ps(x + k, mask), _mm256_maskload_ps(w + k, mask), acc0);
  }
  __m256 sum = _mm256_add_ps(acc0, acc1);
  __m128 half = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
  half = _mm_add_ps(half, _mm_movehl_ps(half, half));
  half = _mm_add_ss(half, _mm_shuffle_ps(half, half, 1));
  return _mm_cvtss_f32(half);
}

AVX2 void lowbit_uk_quantized_matmul_f32_avx2(const lowbit_uk_quantized_matmul_f32_params *p,
                                              float *workspace) {
  if (p->q_col_stride != 1 || p->a_col_stride != 1 || p->c_col_stride != 1) {
    lowbit_uk_quantized_matmul_f32_reference(p);
    return;
  }
  if (p->m <= SMALL_M) {
    for (int64_t j = 0; j < p->n; ++j)
      for (int64_t k0 = 0; k0 < p->k; k0 += ROW_CHUNK) {
        int64_t len = min64(ROW_CHUNK, p->k - k0);
        dequantize_row(p, j, k0, len, workspace);
        for (int64_t i = 0; i < p->m; ++i)
          p->c[i * p->c_row_stride + j] += dot_avx2(p->a + i * p->a_row_stride + k0, workspace, len);
      }
    return;
  }
  packed_avx2(p->m, p->n, p->k, p->a, p->a_row_stride, p->a_col_stride, p->c, p->c_row_stride,
              pack_avx2, p, workspace);
}

/*===--- Dispatch and threads ------------------------------------------------===*/

static void run_variant(const lowbit_uk_quantized_matmul_f32_params *p) {
  switch (lowbit_uk_isa()) {
  case LOWBIT_UK_AVX512: lowbit_uk_quantized_matmul_f32_avx512(p, lowbit_uk_workspace()); break;
  case LOWBIT_UK_AVX2: lowbit_uk_quantized_matmul_f32_avx2(p, lowbit_uk_workspace()); break;
  default: lowbit_uk_quantized_matmul_f32_reference(p); break;
  }
}

typedef struct {
  const lowbit_uk_quantized_matmul_f32_params *whole;
  int64_t chunk; /* output channels per task */
} split;

static void run_slice(void *context, int index) {
  const split *s = context;
  lowbit_uk_quantized_matmul_f32_params p = *s->whole;
  int64_t begin = index * s->chunk;
  p.n = min64(s->chunk, p.n - begin);
  p.q += begin * p.q_row_stride;
  p.scales += begin * p.s_row_stride;
  if (p.zeros)
    p.zeros += begin * p.z_row_stride;
  p.c += begin * p.c_col_stride;
  run_variant(&p);
}

/* As for the fp32 kernel: below this many multiply-adds one thread. */
#define PARALLEL_WORK (1 << 23)

void lowbit_uk_quantized_matmul_f32(int64_t a_address, int64_t a_offset, int64_t a_row_stride,
                                    int64_t a_col_stride, int64_t q_address, int64_t q_offset,
                                    int64_t q_row_stride, int64_t q_col_stride,
                                    int64_t s_address, int64_t s_offset, int64_t s_row_stride,
                                    int64_t s_col_stride, int64_t z_address, int64_t z_offset,
                                    int64_t z_row_stride, int64_t z_col_stride,
                                    int64_t c_address, int64_t c_offset, int64_t c_row_stride,
                                    int64_t c_col_stride, int64_t m, int64_t n, int64_t k,
                                    int64_t group_size) {
  if (m <= 0 || n <= 0 || k <= 0 || group_size <= 0)
    return;
  lowbit_uk_quantized_matmul_f32_params p = {
      (const float *)(intptr_t)a_address + a_offset,
      a_row_stride,
      a_col_stride,
      (const int8_t *)(intptr_t)q_address + q_offset,
      q_row_stride,
      q_col_stride,
      (const float *)(intptr_t)s_address + s_offset,
      s_row_stride,
      s_col_stride,
      z_address ? (const int8_t *)(intptr_t)z_address + z_offset : NULL,
      z_row_stride,
      z_col_stride,
      (float *)(intptr_t)c_address + c_offset,
      c_row_stride,
      c_col_stride,
      m,
      n,
      k,
      group_size};
  lowbit_pool *pool = lowbit_current_pool;
  int64_t threads = lowbit_pool_size(pool);
  if (threads > 1 && m * n * k >= PARALLEL_WORK) {
    /* Output channels, in multiples of 64 (whole panels). */
    int64_t chunk = ((n + threads - 1) / threads + 63) / 64 * 64;
    if (chunk < n) {
      split s = {&p, chunk};
      lowbit_pool_run(pool, (int)((n + chunk - 1) / chunk), run_slice, &s);
      return;
    }
  }
  run_variant(&p);
}
