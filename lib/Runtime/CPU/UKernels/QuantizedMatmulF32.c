/*===- QuantizedMatmulF32.c - Weight-quantized matmul micro-kernels --------===*
 *
 * C += A * W for lowbit.quantized_matmul (lowbit-lower-to-ukernels calls
 * lowbit_uk_quantized_matmul_f32): fp32 activations, W held as one-byte
 * integer levels [N, K] with per-group scales (and zero points).
 *
 * The weight is dequantized inside the kernel, never materialized whole.
 * - Few rows of A (decode, up to SMALL_M): dot-product tiles, up to 4 rows
 *   of A by 4 output channels (rows of A and of the weight are both
 *   contiguous along K), each sum in its own vector accumulator over all of
 *   K; the levels are dequantized in registers, group by group, as they
 *   are loaded, so the weight is read once, one byte per element.
 * - More rows: the weight is dequantized into the fp32 kernel's B panels,
 *   256 levels of 16 or 32 channels at a time, each just before the fp32
 *   register tiles (outer products, MatmulF32.c) read it from L1. The
 *   levels are transposed as bytes, 8 x 8, then converted a panel row at a
 *   time. (Dot-product tiles over dequantized channels, as for decode, are
 *   load-bound here: no faster from 5 to 16 rows, 20-30 % slower beyond.)
 *===----------------------------------------------------------------------===*/

#include "UKernels.h"

#include "../../Offload.h"
#include "../ThreadPool.h"
#include "Common.h"

#include <stddef.h>
#include <string.h>

/* Level k of output channel n, whatever the storage. */
static inline int level_at(const lowbit_uk_quantized_matmul_f32_params *p, int64_t n, int64_t k) {
  if (p->level_bits == 4) {
    uint8_t byte = (uint8_t)p->q[n * p->q_row_stride + k / 2];
    return ((k % 2 ? byte >> 4 : byte) & 15) - 8;
  }
  return p->q[n * p->q_row_stride + k * p->q_col_stride];
}

/* C[m, n] += sum_c outlier_a[m, c] * outlier_w[c, n]: a split layer's
 * outlier channels in fp32. Inlined into each variant, whose instruction set
 * the unit-stride loop over n is vectorized for. */
INLINE void add_outlier_product(const lowbit_uk_quantized_matmul_f32_params *p) {
  for (int64_t i = 0; i < p->m; ++i) {
    float *c = p->c + i * p->c_row_stride;
    for (int64_t o = 0; o < p->outliers; ++o) {
      float a = p->outlier_a[i * p->oa_row_stride + o * p->oa_col_stride];
      const float *w = p->outlier_w + o * p->ow_row_stride;
      if (p->c_col_stride == 1 && p->ow_col_stride == 1)
        for (int64_t j = 0; j < p->n; ++j)
          c[j] += a * w[j];
      else
        for (int64_t j = 0; j < p->n; ++j)
          c[j * p->c_col_stride] += a * w[j * p->ow_col_stride];
    }
  }
}

/* W[k, n] from its level, scale and zero point (any group size). */
INLINE float dequantized_at(const lowbit_uk_quantized_matmul_f32_params *p, int64_t n, int64_t k) {
  int64_t g = k / p->group_size;
  float zero = p->zeros ? (float)p->zeros[n * p->z_row_stride + g * p->z_col_stride] : 0.0f;
  return ((float)level_at(p, n, k) - zero) * p->scales[n * p->s_row_stride + g * p->s_col_stride];
}

void lowbit_uk_quantized_matmul_f32_reference(const lowbit_uk_quantized_matmul_f32_params *p) {
  for (int64_t i = 0; i < p->m; ++i)
    for (int64_t j = 0; j < p->n; ++j) {
      float sum = 0;
      for (int64_t k = 0; k < p->k; ++k)
        sum += p->a[i * p->a_row_stride + k * p->a_col_stride] * dequantized_at(p, j, k);
      p->c[i * p->c_row_stride + j * p->c_col_stride] += sum;
    }
  add_outlier_product(p);
}

/*===--- Many rows: the weight dequantized into the fp32 kernel's panels -----===*/

/* Levels [k, k + 8) of a row (k even for two per byte) as 8 bytes: the
 * level, or level + 8 for two per byte. */
INLINE AVX2 __m128i load_eight_level_bytes(const int8_t *row, int64_t k, int nibbles) {
  if (!nibbles)
    return _mm_loadl_epi64((const __m128i *)(row + k));
  int32_t four;
  memcpy(&four, row + k / 2, sizeof four);
  __m128i packed = _mm_cvtsi32_si128(four);
  __m128i low = _mm_and_si128(packed, _mm_set1_epi8(15));
  __m128i high = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(15));
  return _mm_unpacklo_epi8(low, high);
}

/* The scales and zero points (+ bias: 8 for levels stored two per byte,
 * which load as level + 8) of group g of the 8 channels from n0, `channels`
 * of them real (the others' scales 0, so that their weights are 0). */
INLINE AVX2 void group_vectors_avx2(const lowbit_uk_quantized_matmul_f32_params *p, int64_t n0,
                                    int channels, int64_t g, float bias, __m256 *scale,
                                    __m256 *zero) {
  const float *s = p->scales + n0 * p->s_row_stride + g * p->s_col_stride;
  const int8_t *z = p->zeros ? p->zeros + n0 * p->z_row_stride + g * p->z_col_stride : NULL;
  const int64_t srs = p->s_row_stride, zrs = p->z_row_stride;
  if (channels == 8) {
    *scale = _mm256_setr_ps(s[0], s[srs], s[2 * srs], s[3 * srs], s[4 * srs], s[5 * srs],
                            s[6 * srs], s[7 * srs]);
    *zero = _mm256_set1_ps(bias);
    if (z)
      *zero = _mm256_add_ps(*zero, _mm256_cvtepi32_ps(_mm256_setr_epi32(
                                       z[0], z[zrs], z[2 * zrs], z[3 * zrs], z[4 * zrs], z[5 * zrs],
                                       z[6 * zrs], z[7 * zrs])));
    return;
  }
  float sv[8] = {0}, zv[8] = {0};
  for (int c = 0; c < channels; ++c) {
    sv[c] = s[c * srs];
    zv[c] = bias + (z ? (float)z[c * zrs] : 0.0f);
  }
  *scale = _mm256_loadu_ps(sv);
  *zero = _mm256_loadu_ps(zv);
}

/* lowbit_uk_matmul_f32_params.b_pack over the weight of `context` (a
 * lowbit_uk_quantized_matmul_f32_params): W[k0, k0 + kc) of output channels
 * [j0, j0 + nc) as a panel nr wide. Eight channels at a time: 8 levels of
 * each (one load per channel) transposed as bytes (12 unpacks), so that
 * each of the 8 rows of the panel is converted and dequantized as one
 * vector, (q - z) * s with the 8 channels' scales and zero points of the
 * group (as the reference computes it: the same weight to the bit). AVX2
 * code, which the AVX-512 variants use too. */
static AVX2 void pack_dequantized_avx2(const void *context, int64_t k0, int64_t j0, int64_t kc,
                                       int64_t nc, int64_t nr, float *out) {
  const lowbit_uk_quantized_matmul_f32_params *p = context;
  const int64_t gs = p->group_size;
  const int nibbles = p->level_bits == 4;
  const float bias = nibbles ? 8.0f : 0.0f;
  /* The next panel's levels, scales and zero points on their way to L2 while
   * this one is packed and multiplied: each channel's levels are a run of
   * their own (channels are a whole row of levels apart), more streams
   * than the hardware prefetchers follow. */
  int64_t level_bytes = nibbles ? 2 : 1, g0 = k0 / gs;
  for (int64_t j = j0 + nr, end = min64(p->n, j0 + 2 * nr); j < end; ++j) {
    const char *levels = (const char *)(p->q + j * p->q_row_stride + k0 / level_bytes);
    for (int64_t byte = 0; byte < (kc + level_bytes - 1) / level_bytes; byte += 64)
      _mm_prefetch(levels + byte, _MM_HINT_T1);
    _mm_prefetch((const char *)(p->scales + j * p->s_row_stride + g0 * p->s_col_stride),
                 _MM_HINT_T1);
    if (p->zeros)
      _mm_prefetch((const char *)(p->zeros + j * p->z_row_stride + g0 * p->z_col_stride),
                   _MM_HINT_T1);
  }
  /* Whole runs of 8 levels inside one group (k0 is a multiple of 8). */
  int64_t vectorized = gs % 8 == 0 && k0 % 8 == 0 ? kc / 8 * 8 : 0;
  for (int64_t c0 = 0; c0 < nr; c0 += 8) {
    int channels = (int)(nc - c0 < 0 ? 0 : min64(8, nc - c0));
    /* Channels past nc read channel j0's levels again, times a scale of 0. */
    const int8_t *rows[8];
    for (int c = 0; c < 8; ++c)
      rows[c] = p->q + (j0 + c0 + (c < channels ? c : 0)) * p->q_row_stride;
    __m256 scale = _mm256_setzero_ps(), zero = _mm256_setzero_ps();
    int64_t g = g0 - 1, next = k0; /* the group of level k0 + k, and where the next starts */
    for (int64_t k = 0; k < vectorized; k += 8) {
      if (k0 + k >= next) {
        next = (++g + 1) * gs;
        group_vectors_avx2(p, j0 + c0, channels, g, bias, &scale, &zero);
      }
      __m128i r[8];
      for (int c = 0; c < 8; ++c)
        r[c] = load_eight_level_bytes(rows[c], k0 + k, nibbles);
      /* 8 x 8 bytes: d[t / 2] holds levels k + t of the 8 channels in its
       * low (t even) or high 8 bytes. */
      __m128i a[4], b[4], d[4];
      for (int i = 0; i < 4; ++i)
        a[i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
      b[0] = _mm_unpacklo_epi16(a[0], a[1]);
      b[1] = _mm_unpackhi_epi16(a[0], a[1]);
      b[2] = _mm_unpacklo_epi16(a[2], a[3]);
      b[3] = _mm_unpackhi_epi16(a[2], a[3]);
      d[0] = _mm_unpacklo_epi32(b[0], b[2]);
      d[1] = _mm_unpackhi_epi32(b[0], b[2]);
      d[2] = _mm_unpacklo_epi32(b[1], b[3]);
      d[3] = _mm_unpackhi_epi32(b[1], b[3]);
      for (int t = 0; t < 8; ++t) {
        __m128i bytes = t % 2 ? _mm_unpackhi_epi64(d[t / 2], d[t / 2]) : d[t / 2];
        __m256 levels = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
        _mm256_storeu_ps(out + (k + t) * nr + c0,
                         _mm256_mul_ps(_mm256_sub_ps(levels, zero), scale));
      }
    }
    for (int64_t k = vectorized; k < kc; ++k) /* a ragged end, or groups of no multiple of 8 */
      for (int c = 0; c < 8; ++c)
        out[k * nr + c0 + c] = c < channels ? dequantized_at(p, j0 + c0 + c, k0 + k) : 0.0f;
  }
}

/* C += A * W for more rows of A than the decode path takes: the fp32
 * kernel `f32_variant`'s register tiles (outer products, 6 x 16 on AVX2,
 * 8 x 32 on AVX-512) over W dequantized panel by panel. That kernel works
 * on 256 output channels at a time down K, so that their rows of C stay in
 * L2 and their levels' pages (one row of levels each, a page or more
 * apart) in the TLB, and packs A once per block of rows for all of them. */
static void run_many_rows(const lowbit_uk_quantized_matmul_f32_params *p,
                          void (*f32_variant)(const lowbit_uk_matmul_f32_params *, float *),
                          float *workspace) {
  lowbit_uk_matmul_f32_params f = {0};
  f.a = p->a;
  f.a_row_stride = p->a_row_stride;
  f.a_col_stride = 1;
  f.c = p->c;
  f.c_row_stride = p->c_row_stride;
  f.c_col_stride = 1;
  f.m = p->m;
  f.n = p->n;
  f.k = p->k;
  f.b_pack = pack_dequantized_avx2;
  f.b_pack_context = p;
  f32_variant(&f, workspace);
}

/*===--- AVX-512 -------------------------------------------------------------===*/

/* Dot-product tiles: C[i, j] for mr rows of A and nr output channels, each
 * sum in its own vector accumulator over the whole of K (rows of A and of
 * the weight are both contiguous along K), reduced at the end. */

/* Levels k .. k + 15 (up to `count`; k even) of a row stored two per byte,
 * as 32-bit integers level + 8 in [0, 15] (the 8 is folded into the
 * offset of the dequantization). */
INLINE AVX512 __m512i load_nibbles_avx512(const int8_t *row, int64_t k, int64_t count) {
  __mmask16 bytes = (__mmask16)((1u << ((min64(count, 16) + 1) / 2)) - 1);
  __m128i packed = _mm_maskz_loadu_epi8(bytes, row + k / 2);
  __m128i low = _mm_and_si128(packed, _mm_set1_epi8(15));
  __m128i high = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(15));
  return _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(low, high));
}

/* The weight from its levels, dequantized in registers group by group:
 * w = (q - z) * s. For few rows of A, where the weight is read once. */
INLINE AVX512 void levels_tile_avx512(const int mr, const int nr,
                                      const lowbit_uk_quantized_matmul_f32_params *p, int64_t i0,
                                      int64_t j0) {
  const int nibbles = p->level_bits == 4;
  __m512 acc[4][4];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j)
      acc[i][j] = _mm512_setzero_ps();
  const float *a[4];
  const int8_t *q[4];
  for (int i = 0; i < mr; ++i)
    a[i] = p->a + (i0 + i) * p->a_row_stride;
  for (int j = 0; j < nr; ++j)
    q[j] = p->q + (j0 + j) * p->q_row_stride;
  for (int64_t k0 = 0, g = 0; k0 < p->k; k0 += p->group_size, ++g) {
    int64_t k1 = min64(p->k, k0 + p->group_size);
    /* w = (q - z) * s = q * s + offset, offset = -z * s (-(z + 8) * s for
     * nibbles, which load as q + 8): one fused multiply-add per level. */
    __m512 scale[4], offset[4];
    for (int j = 0; j < nr; ++j) {
      float sc = p->scales[(j0 + j) * p->s_row_stride + g * p->s_col_stride];
      float zero = p->zeros ? (float)p->zeros[(j0 + j) * p->z_row_stride + g * p->z_col_stride] : 0.0f;
      scale[j] = _mm512_set1_ps(sc);
      offset[j] = _mm512_set1_ps(-(zero + (nibbles ? 8.0f : 0.0f)) * sc);
    }
    for (int64_t k = k0; k < k1; k += 16) {
      __mmask16 mask = mask16(k1 - k);
      __m512 w[4];
      for (int j = 0; j < nr; ++j) {
        __m512i levels = nibbles ? load_nibbles_avx512(q[j], k, k1 - k)
                                 : _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mask, q[j] + k));
        w[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(levels), scale[j], offset[j]);
      }
      for (int i = 0; i < mr; ++i) {
        __m512 x = _mm512_maskz_loadu_ps(mask, a[i] + k);
        for (int j = 0; j < nr; ++j)
          acc[i][j] = _mm512_fmadd_ps(x, w[j], acc[i][j]);
      }
    }
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j)
      p->c[(i0 + i) * p->c_row_stride + j0 + j] += _mm512_reduce_add_ps(acc[i][j]);
}

/* Calls TILE(rows, ...) with `rows` (1 to 4) as a constant. */
#define WITH_ROWS(rows, TILE, ...)                                                               \
  switch (rows) {                                                                              \
  case 4: TILE(4, __VA_ARGS__); break;                                                         \
  case 3: TILE(3, __VA_ARGS__); break;                                                         \
  case 2: TILE(2, __VA_ARGS__); break;                                                         \
  default: TILE(1, __VA_ARGS__); break;                                                        \
  }

/* The variant for one instruction set: levels dequantized in registers
 * for up to SMALL_M rows of A; more, the fp32 kernel's tiles over the
 * weight dequantized panel by panel (run_many_rows). */
#define DEFINE_QUANTIZED_VARIANT(NAME, TARGET, LEVELS_TILE, F32_VARIANT)                           \
  TARGET void NAME(const lowbit_uk_quantized_matmul_f32_params *p, float *workspace) {             \
    if (p->q_col_stride != 1 || p->a_col_stride != 1 || p->c_col_stride != 1 ||                    \
        (p->level_bits == 4 && p->group_size % 2)) {                                               \
      lowbit_uk_quantized_matmul_f32_reference(p);                                                 \
      return;                                                                                      \
    }                                                                                              \
    if (p->m <= SMALL_M) {                                                                         \
      int64_t j = 0;                                                                               \
      for (; j + 4 <= p->n; j += 4)                                                                \
        WITH_ROWS(p->m, LEVELS_TILE, 4, p, 0, j)                                                   \
      for (; j < p->n; ++j)                                                                        \
        WITH_ROWS(p->m, LEVELS_TILE, 1, p, 0, j)                                                   \
    } else {                                                                                       \
      run_many_rows(p, F32_VARIANT, workspace);                                                    \
    }                                                                                              \
    add_outlier_product(p);                                                                        \
  }

DEFINE_QUANTIZED_VARIANT(lowbit_uk_quantized_matmul_f32_avx512, AVX512, levels_tile_avx512,
                         lowbit_uk_matmul_f32_avx512)

/*===--- AVX2 ----------------------------------------------------------------===*/

/* The AVX2 twins of the tiles above, 8 lanes wide. */
INLINE AVX2 float reduce_avx2(__m256 v) {
  __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  half = _mm_add_ps(half, _mm_movehl_ps(half, half));
  half = _mm_add_ss(half, _mm_shuffle_ps(half, half, 1));
  return _mm_cvtss_f32(half);
}

/* Levels k .. k + 7 of a row (up to `count`; zeros past it) as floats, from
 * one level per byte or two (k even). */
INLINE AVX2 __m256 load_levels_avx2(const int8_t *row, int64_t k, int64_t count, int nibbles) {
  if (nibbles && count >= 8) /* loaded as level + 8 */
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
        _mm_sub_epi8(load_eight_level_bytes(row, k, nibbles), _mm_set1_epi8(8))));
  int8_t levels[8] = {0};
  const int8_t *source = row + k;
  if (nibbles) {
    const uint8_t *bytes = (const uint8_t *)row + k / 2;
    for (int64_t i = 0; i < 8 && i < count; ++i)
      levels[i] = (int8_t)(((bytes[i / 2] >> (4 * (i % 2))) & 15) - 8);
    source = levels;
  } else if (count < 8) {
    for (int64_t i = 0; i < count; ++i)
      levels[i] = row[k + i];
    source = levels;
  }
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)source)));
}

/* mr rows by nb channels: per group, sum_k x q in float (the levels
 * converted exactly), then scaled once: s (sum x q) - z s (sum x). */
INLINE AVX2 void levels_subtile_avx2(const int mr, const int nb,
                                     const lowbit_uk_quantized_matmul_f32_params *p, int64_t i0,
                                     int64_t j0) {
  const int nibbles = p->level_bits == 4;
  __m256 acc[4][4];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nb; ++j)
      acc[i][j] = _mm256_setzero_ps();
  const int8_t *rows[4];
  for (int j = 0; j < nb; ++j)
    rows[j] = p->q + (j0 + j) * p->q_row_stride;
  for (int64_t k0 = 0, g = 0; k0 < p->k; k0 += p->group_size, ++g) {
    int64_t k1 = min64(p->k, k0 + p->group_size);
    __m256 sum[4][4], xsum[4];
    for (int i = 0; i < mr; ++i) {
      xsum[i] = _mm256_setzero_ps();
      for (int j = 0; j < nb; ++j)
        sum[i][j] = _mm256_setzero_ps();
    }
    int64_t k = k0;
    if (!nibbles)
      for (; k + 8 <= k1; k += 8) {
        __m256 w[4];
        for (int j = 0; j < nb; ++j)
          w[j] = _mm256_cvtepi32_ps(
              _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(rows[j] + k))));
        for (int i = 0; i < mr; ++i) {
          __m256 x = _mm256_loadu_ps(p->a + (i0 + i) * p->a_row_stride + k);
          if (p->zeros)
            xsum[i] = _mm256_add_ps(xsum[i], x);
          for (int j = 0; j < nb; ++j)
            sum[i][j] = _mm256_fmadd_ps(x, w[j], sum[i][j]);
        }
      }
    for (; k < k1; k += 8) { /* levels two per byte, or the group's last < 8 */
      __m256i mask = mask8(k1 - k);
      __m256 w[4];
      for (int j = 0; j < nb; ++j)
        w[j] = load_levels_avx2(rows[j], k, k1 - k, nibbles);
      for (int i = 0; i < mr; ++i) {
        __m256 x = _mm256_maskload_ps(p->a + (i0 + i) * p->a_row_stride + k, mask);
        if (p->zeros)
          xsum[i] = _mm256_add_ps(xsum[i], x);
        for (int j = 0; j < nb; ++j)
          sum[i][j] = _mm256_fmadd_ps(x, w[j], sum[i][j]);
      }
    }
    for (int j = 0; j < nb; ++j) {
      float sc = p->scales[(j0 + j) * p->s_row_stride + g * p->s_col_stride];
      __m256 scale = _mm256_set1_ps(sc);
      __m256 zs = _mm256_set1_ps(
          p->zeros ? (float)p->zeros[(j0 + j) * p->z_row_stride + g * p->z_col_stride] * sc : 0.0f);
      for (int i = 0; i < mr; ++i) {
        acc[i][j] = _mm256_fmadd_ps(sum[i][j], scale, acc[i][j]);
        if (p->zeros)
          acc[i][j] = _mm256_fnmadd_ps(xsum[i], zs, acc[i][j]);
      }
    }
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nb; ++j)
      p->c[(i0 + i) * p->c_row_stride + j0 + j] += reduce_avx2(acc[i][j]);
}

/* The levels tile in sub-tiles that 16 registers hold: 1 row by 4
 * channels, 2 by 2, or 3-4 rows by 1. */
INLINE AVX2 void levels_tile_avx2(const int mr, const int nr,
                                  const lowbit_uk_quantized_matmul_f32_params *p, int64_t i0,
                                  int64_t j0) {
  const int nb = mr == 1 ? 4 : mr == 2 ? 2 : 1;
  if (nr % nb == 0) {
    for (int j = 0; j < nr; j += nb)
      levels_subtile_avx2(mr, nb, p, i0, j0 + j);
  } else {
    for (int j = 0; j < nr; ++j)
      levels_subtile_avx2(mr, 1, p, i0, j0 + j);
  }
}

DEFINE_QUANTIZED_VARIANT(lowbit_uk_quantized_matmul_f32_avx2, AVX2, levels_tile_avx2,
                         lowbit_uk_matmul_f32_avx2)

/*===--- int8 activations (AVX-512 VNNI) ------------------------------------===*/

/* For layers with activation_bits = 8 the IR hands the kernel activations
 * already quantized-and-restored per row (lowbit.quantized_matmul), so
 * quantizing them again here gives the same levels. The products are then
 * taken in integers: vpdpbusd multiplies unsigned by signed bytes, so the
 * weight levels are offset by b = 128 (an xor of the sign bit; b = 8 for
 * levels stored two per byte, which are kept as level + 8) and the offset
 * is taken back, in integers, through each group's sum of activation
 * levels:
 *   sum_k (q - z) x = sum_k (q + b) x - (b + z) sum_k x. */

#define VNNI __attribute__((target("avx512f,avx512vl,avx512bw,avx512vnni,fma")))

/* Weight levels k .. k + 63 of one output channel (`row`: its levels), up
 * to `count`, as unsigned bytes level + weight_bias(p): one byte per level
 * with the sign bit flipped (+128), or two per byte (level_bits 4, stored
 * as level + 8, level k in byte k / 2, low nibble first), spread to one
 * per byte: a 16-bit lane holds levels 2i and 2i + 1 as its low and high
 * byte, which is their order in memory. */
INLINE VNNI __m512i load_weights_vnni(const lowbit_uk_quantized_matmul_f32_params *p,
                                      const int8_t *row, int64_t k, int64_t count) {
  if (p->level_bits == 4) {
    __mmask32 bytes = (__mmask32)(((uint64_t)1 << ((count + 1) / 2)) - 1);
    __m512i pairs = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(bytes, row + k / 2));
    return _mm512_or_si512(_mm512_and_si512(pairs, _mm512_set1_epi16(0x0F)),
                           _mm512_slli_epi16(_mm512_and_si512(pairs, _mm512_set1_epi16(0xF0)), 4));
  }
  __mmask64 mask = count >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << count) - 1);
  return _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, row + k), _mm512_set1_epi8((char)0x80));
}

/* What load_weights_vnni adds to each level. */
INLINE int32_t weight_bias(const lowbit_uk_quantized_matmul_f32_params *p) {
  return p->level_bits == 4 ? 8 : 128;
}

/* Rows of A as int8 levels (zero-padded to a multiple of 64), their scales
 * and, per group, the sum of their levels, laid out in the workspace. */
typedef struct {
  int8_t *levels; /* [m][padded_k] */
  float *scales;  /* [m] */
  int32_t *sums;  /* [m][groups] */
  int64_t padded_k, groups;
} quantized_rows;

/* Where `rows` quantized rows go in the workspace. */
INLINE quantized_rows rows_layout(const lowbit_uk_quantized_matmul_f32_params *p, int64_t rows,
                                  float *workspace) {
  quantized_rows r;
  r.padded_k = (p->k + 63) / 64 * 64;
  r.groups = (p->k + p->group_size - 1) / p->group_size;
  r.levels = (int8_t *)workspace;
  r.scales = (float *)(r.levels + rows * r.padded_k);
  r.sums = (int32_t *)(r.scales + rows);
  return r;
}

/* Row i's sum of levels over each group. */
INLINE void group_sums(const lowbit_uk_quantized_matmul_f32_params *p, quantized_rows *r,
                       int64_t i) {
  const int8_t *levels = r->levels + i * r->padded_k;
  for (int64_t g = 0; g < r->groups; ++g) {
    int32_t sum = 0;
    for (int64_t k = g * p->group_size, end = min64(p->k, k + p->group_size); k < end; ++k)
      sum += levels[k];
    r->sums[i * r->groups + g] = sum;
  }
}

/* Row `a` of A as int8 levels in `out` (zero-padded to padded_k, a
 * multiple of 16); returns its scale. */
INLINE VNNI float quantize_row_vnni(const lowbit_uk_quantized_matmul_f32_params *p, const float *a,
                                    int64_t padded_k, int8_t *out) {
  float scale = p->activation_scale; /* static, or this row's own: */
  if (scale == 0) {
    __m512 amax = _mm512_setzero_ps();
    for (int64_t k = 0; k < p->k; k += 16)
      amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_maskz_loadu_ps(mask16(p->k - k), a + k)));
    float m = _mm512_reduce_max_ps(amax);
    scale = m == 0 ? 1.0f : m / 127.0f;
  }
  __m512 divisor = _mm512_set1_ps(scale);
  for (int64_t k = 0; k < padded_k; k += 16) {
    __m512 x = _mm512_div_ps(_mm512_maskz_loadu_ps(mask16(p->k - k), a + k), divisor);
    __m512 level = _mm512_min_ps(
        _mm512_max_ps(_mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                      _mm512_set1_ps(-127)),
        _mm512_set1_ps(127));
    _mm_storeu_si128((__m128i *)(out + k), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(level)));
  }
  return scale;
}

INLINE VNNI quantized_rows quantize_rows_vnni(const lowbit_uk_quantized_matmul_f32_params *p,
                                              int64_t i0, int64_t rows, float *workspace) {
  quantized_rows r = rows_layout(p, rows, workspace);
  for (int64_t i = 0; i < rows; ++i) {
    r.scales[i] = quantize_row_vnni(p, p->a + (i0 + i) * p->a_row_stride, r.padded_k,
                                    r.levels + i * r.padded_k);
    group_sums(p, &r, i);
  }
  return r;
}

/* Small groups (4, 8, 16 or 32 levels; contiguous scales and zero
 * points): one 64-byte vector spans 64 / g groups, lane l of the int32 dot
 * (levels 4l .. 4l + 3) belonging to group 4l / g. Each group's exact
 * offset is taken back in its first lane, then one conversion and one
 * multiply by the lanes' scales serve all the groups of the vector. */
INLINE VNNI void int8_tile_small_groups_vnni(const int mr, const int nr,
                                             const lowbit_uk_quantized_matmul_f32_params *p,
                                             const quantized_rows *r, int64_t i0, int64_t rows0,
                                             int64_t j0) {
  __m512 acc[4][4];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j)
      acc[i][j] = _mm512_setzero_ps();
  const int64_t lanes_per_group = p->group_size / 4, per_vector = 64 / p->group_size;
  int32_t lane_group[16];
  __mmask16 first = 0;
  for (int l = 0; l < 16; ++l) {
    lane_group[l] = (int32_t)(l / lanes_per_group);
    if (l % lanes_per_group == 0)
      first |= (__mmask16)(1u << l);
  }
  const __m512i index = _mm512_loadu_si512(lane_group);
  for (int64_t k0 = 0; k0 < p->k; k0 += 64) {
    int64_t count = min64(64, p->k - k0), g0 = k0 / p->group_size;
    __mmask64 mask = count == 64 ? ~(__mmask64)0 : (((__mmask64)1 << count) - 1);
    __mmask16 groups = mask16(min64(per_vector, r->groups - g0));
    __m512i x[4];
    for (int i = 0; i < mr; ++i)
      x[i] = _mm512_maskz_loadu_epi8(mask, r->levels + (rows0 + i) * r->padded_k + k0);
    for (int j = 0; j < nr; ++j) {
      __m512i w = load_weights_vnni(p, p->q + (j0 + j) * p->q_row_stride, k0, count);
      __m512 scale = _mm512_permutexvar_ps(
          index, _mm512_maskz_loadu_ps(groups, p->scales + (j0 + j) * p->s_row_stride + g0));
      __m512i offset = _mm512_set1_epi32(weight_bias(p));
      if (p->zeros)
        offset = _mm512_add_epi32(
            offset, _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(
                        groups, p->zeros + (j0 + j) * p->z_row_stride + g0)));
      for (int i = 0; i < mr; ++i) {
        __m512i sums = _mm512_maskz_loadu_epi32(groups, r->sums + (rows0 + i) * r->groups + g0);
        __m512i correction =
            _mm512_maskz_permutexvar_epi32(first, index, _mm512_mullo_epi32(offset, sums));
        __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, x[i]);
        acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(dot, correction)), scale,
                                    acc[i][j]);
      }
    }
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j)
      p->c[(i0 + i) * p->c_row_stride + j0 + j] +=
          r->scales[rows0 + i] * _mm512_reduce_add_ps(acc[i][j]);
}

INLINE VNNI void int8_tile_vnni(const int mr, const int nr,
                                const lowbit_uk_quantized_matmul_f32_params *p,
                                const quantized_rows *r, int64_t i0, int64_t rows0, int64_t j0) {
  if (p->group_size < 64 && p->group_size % 4 == 0 && 64 % p->group_size == 0 &&
      p->s_col_stride == 1 && (!p->zeros || p->z_col_stride == 1)) {
    int8_tile_small_groups_vnni(mr, nr, p, r, i0, rows0, j0);
    return;
  }
  __m512 acc[4][4];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j)
      acc[i][j] = _mm512_setzero_ps();
  for (int64_t g = 0; g < r->groups; ++g) {
    int64_t k0 = g * p->group_size, k1 = min64(p->k, k0 + p->group_size);
    __m512i dot[4][4];
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < nr; ++j)
        dot[i][j] = _mm512_setzero_si512();
    for (int64_t k = k0; k < k1; k += 64) {
      int64_t count = min64(64, k1 - k);
      __mmask64 mask = count == 64 ? ~(__mmask64)0 : (((__mmask64)1 << count) - 1);
      __m512i x[4];
      for (int i = 0; i < mr; ++i)
        x[i] = _mm512_maskz_loadu_epi8(mask, r->levels + (rows0 + i) * r->padded_k + k);
      for (int j = 0; j < nr; ++j) {
        __m512i w = load_weights_vnni(p, p->q + (j0 + j) * p->q_row_stride, k, count);
        for (int i = 0; i < mr; ++i)
          dot[i][j] = _mm512_dpbusd_epi32(dot[i][j], w, x[i]);
      }
    }
    /* Take the offset back in integers (exact), in lane 0, before the one
     * conversion to float: the group's sum_k (q - z) x is then exact. */
    for (int j = 0; j < nr; ++j) {
      float scale = p->scales[(j0 + j) * p->s_row_stride + g * p->s_col_stride];
      int32_t zero = p->zeros ? p->zeros[(j0 + j) * p->z_row_stride + g * p->z_col_stride] : 0;
      __m512 vscale = _mm512_set1_ps(scale);
      for (int i = 0; i < mr; ++i) {
        int32_t offset = (weight_bias(p) + zero) * r->sums[(rows0 + i) * r->groups + g];
        __m512i exact = _mm512_mask_sub_epi32(dot[i][j], 1, dot[i][j], _mm512_set1_epi32(offset));
        acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), vscale, acc[i][j]);
      }
    }
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j)
      p->c[(i0 + i) * p->c_row_stride + j0 + j] +=
          r->scales[rows0 + i] * _mm512_reduce_add_ps(acc[i][j]);
}

/* One tile of min(4, rows - i) rows by `nr` channels, the sizes as
 * constants so that the accumulators stay in registers. */
INLINE VNNI void int8_tiles(const lowbit_uk_quantized_matmul_f32_params *p,
                            const quantized_rows *r, int64_t b0, int64_t i, int64_t rows,
                            int64_t j, int nr) {
#define INT8_TILE(MR)                                                                              \
  do {                                                                                             \
    if (nr == 4)                                                                                   \
      int8_tile_vnni(MR, 4, p, r, b0 + i, i, j);                                                   \
    else if (nr == 3)                                                                              \
      int8_tile_vnni(MR, 3, p, r, b0 + i, i, j);                                                   \
    else                                                                                           \
      int8_tile_vnni(MR, 1, p, r, b0 + i, i, j);                                                   \
  } while (0)
  switch (min64(4, rows - i)) {
  case 4: INT8_TILE(4); break;
  case 3: INT8_TILE(3); break;
  case 2: INT8_TILE(2); break;
  default: INT8_TILE(1); break;
  }
#undef INT8_TILE
}

/* The workspace of the group-lane paths (VNNI and AVX2): `channel_bytes`
 * of laid-out channels, one row of natural int8 levels (padded_k), then as
 * many laid-out rows (row_bytes each) as fit, and their scales. */
typedef struct {
  uint8_t *channels;
  int8_t *natural, *rows;
  float *row_scales;
  int64_t block; /* rows at a time; 0: not even one fits */
} lane_workspace;

INLINE lane_workspace carve_lane_workspace(const lowbit_uk_quantized_matmul_f32_params *p,
                                           float *workspace, int64_t channel_bytes,
                                           int64_t padded_k, int64_t row_bytes) {
  lane_workspace ws;
  int64_t free_bytes = (int64_t)LOWBIT_UK_MATMUL_F32_WORKSPACE * 4 - channel_bytes - padded_k;
  ws.block = free_bytes > 0 ? min64(p->m, free_bytes / (row_bytes + 4)) : 0;
  ws.channels = (uint8_t *)workspace;
  ws.natural = (int8_t *)(ws.channels + channel_bytes);
  ws.rows = ws.natural + padded_k;
  ws.row_scales = (float *)(ws.rows + ws.block * row_bytes);
  return ws;
}

/*===--- int8 activations over levels two per byte, many rows (VNNI) -------===*
 *
 * Levels and activations are laid out again so that each 32-bit lane of
 * every 64-byte vector belongs to one group: 16 groups side by side, lane l
 * holding group 16 gb + l. Each group is cut into runs of `span` levels
 * (32 where the group size is a multiple of 32, else the whole group); a
 * superblock holds run r of the 16 groups as span / 4 vectors, vector t
 * holding levels 4t .. 4t + 3 of each run, and the superblocks of one
 * block of groups follow each other. A group's products then add up in one
 * int32 lane over all its vectors, and one conversion and one multiply by
 * the 16 groups' scales (contiguous in memory) serve g / 4 products, where
 * the natural order spends them on every vector. The laid-out levels are
 * q - z + 15 (unsigned, 0 .. 30: the zero point folded in), so the offset
 * to take back is 15 times the group's sum of activation levels whatever
 * the channel: each row's group sums, times -15, start its accumulators,
 * and each group's sum stays exact in integers. The weights are laid out
 * per call, a few channels at a time into the workspace, and the
 * activations once per row. (4096 x 4096, groups of 32, one thread,
 * AVX-512 VNNI Xeon: 2.2 -> 1.1 ms at 4 rows, 9.5 -> 3.1 ms at 16, against
 * tiles over the natural order that spent a multiply, a permute, a
 * conversion and a multiply-add on every vector's product.)
 *===----------------------------------------------------------------------===*/

#define GROUP_LANES_MR 4 /* rows by */
#define GROUP_LANES_NR 3 /* channels per tile: 12 int32 and 12 float accumulators */

typedef struct {
  int64_t span;           /* levels per run: 32, or the group size */
  int64_t vectors;        /* span / 4: vectors per superblock */
  int64_t runs;           /* runs per group: group_size / span */
  int64_t groups, blocks; /* ceil(k / group_size), ceil(groups / 16) */
  int64_t bytes;          /* one row's or channel's levels laid out: blocks * runs * vectors * 64 */
} group_lanes;

INLINE int group_lanes_apply(const lowbit_uk_quantized_matmul_f32_params *p) {
  return p->level_bits == 4 && p->group_size % 4 == 0 && p->k % 4 == 0 && p->k >= 64 &&
         p->s_col_stride == 1 && (!p->zeros || p->z_col_stride == 1);
}

INLINE group_lanes group_lanes_of(const lowbit_uk_quantized_matmul_f32_params *p) {
  group_lanes gl;
  gl.span = p->group_size % 32 == 0 ? 32 : p->group_size;
  gl.vectors = gl.span / 4;
  gl.runs = p->group_size / gl.span;
  gl.groups = (p->k + p->group_size - 1) / p->group_size;
  gl.blocks = (gl.groups + 15) / 16;
  gl.bytes = gl.blocks * gl.runs * gl.vectors * 64;
  return gl;
}

/* Where vector t of run r of groups 16 gb .. 16 gb + 15 starts in the laid-out rows. */
INLINE int64_t group_lane_vector(const group_lanes *gl, int64_t gb, int64_t r, int64_t t) {
  return ((gb * gl->runs + r) * gl->vectors + t) * 64;
}

/* Offsets (in levels) of levels 4t of run r of groups 16 gb .. 16 gb + 15,
 * and which of them lie before K. */
INLINE VNNI __m512i group_lane_offsets(const lowbit_uk_quantized_matmul_f32_params *p,
                                       const group_lanes *gl, int64_t gb, int64_t r, int64_t t,
                                       __mmask16 *valid) {
  __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  __m512i offsets = _mm512_add_epi32(
      _mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32((int32_t)(16 * gb))),
                         _mm512_set1_epi32((int32_t)p->group_size)),
      _mm512_set1_epi32((int32_t)(r * gl->span + 4 * t)));
  *valid = _mm512_cmplt_epi32_mask(offsets, _mm512_set1_epi32((int32_t)p->k));
  return offsets;
}

/* Four packed levels (the low 16 bits of each lane, two per byte, low
 * nibble first) as four bytes: (w | w << 12) & 0x0f0f0f0f holds n0 n2 n1 n3. */
INLINE VNNI __m512i spread_nibbles(__m512i words) {
  const __m512i order = _mm512_set4_epi32(0x0f0d0e0c, 0x0b090a08, 0x07050604, 0x03010200);
  __m512i mixed = _mm512_ternarylogic_epi32(words, _mm512_slli_epi32(words, 12),
                                            _mm512_set1_epi32(0x0f0f0f0f), 0xA8); /* (a | b) & c */
  return _mm512_shuffle_epi8(mixed, order);
}

/* Levels 4t .. 4t + 3 of 16 runs of 32 levels (16 bytes each) as the low
 * 16 bits of each lane: `half0` and `half1` hold runs 0-7 and 8-15 as words
 * (run l: words 8l .. 8l + 7 of its half), transposed for four t at once. */
INLINE VNNI void transpose_runs(const __m512i half0[2], const __m512i half1[2], int64_t t0,
                                __m512i out[4]) {
  /* Word 8l + t0 + d of a half at position 8d + l (d < 4, l < 8); then
   * outputs t0 and t0 + 1 (t0 + 2 and t0 + 3) from both halves' picks. */
  int16_t pick[32], mix0[32], mix1[32];
  for (int d = 0; d < 4; ++d)
    for (int l = 0; l < 8; ++l)
      pick[8 * d + l] = (int16_t)(8 * l + t0 + d);
  for (int e = 0; e < 2; ++e)
    for (int l = 0; l < 16; ++l) {
      mix0[16 * e + l] = (int16_t)(8 * e + (l < 8 ? l : 32 + l - 8));
      mix1[16 * e + l] = (int16_t)(16 + 8 * e + (l < 8 ? l : 32 + l - 8));
    }
  __m512i a = _mm512_permutex2var_epi16(half0[0], _mm512_loadu_si512(pick), half0[1]);
  __m512i b = _mm512_permutex2var_epi16(half1[0], _mm512_loadu_si512(pick), half1[1]);
  __m512i c01 = _mm512_permutex2var_epi16(a, _mm512_loadu_si512(mix0), b);
  __m512i c23 = _mm512_permutex2var_epi16(a, _mm512_loadu_si512(mix1), b);
  out[0] = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(c01));
  out[1] = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(c01, 1));
  out[2] = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(c23));
  out[3] = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(c23, 1));
}

/* 16 bytes of `row` at `at`, zero past `end` bytes. */
INLINE VNNI __m128i load_run(const int8_t *row, int64_t at, int64_t end) {
  int64_t n = end - at;
  return _mm_maskz_loadu_epi8(n >= 16  ? (__mmask16)0xffff
                              : n <= 0 ? 0
                                       : (__mmask16)((1u << n) - 1),
                              row + at);
}

/* Channel j's levels in the group-lane layout, as unsigned bytes q - z + 15
 * (anything where the activations are zero: past K). Runs of 32 levels are
 * 16 bytes, g / 2 apart: a superblock's 16 are loaded into four vectors and
 * transposed as words. Other spans gather each lane's two bytes, reading
 * the dword that ends with them (or, at the row's first byte, starts with
 * them), inside the row. */
INLINE VNNI void lay_out_channel(const lowbit_uk_quantized_matmul_f32_params *p,
                                 const group_lanes *gl, int64_t j, uint8_t *out) {
  const int8_t *row = p->q + j * p->q_row_stride;
  const int64_t row_bytes = (p->k + 1) / 2;
  for (int64_t gb = 0; gb < gl->blocks; ++gb) {
    /* The stored nibbles are q + 8: add 7 - z to each of a lane's four bytes. */
    __m512i add = _mm512_set1_epi32(7);
    if (p->zeros)
      add = _mm512_sub_epi32(
          add, _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(
                   mask16(gl->groups - 16 * gb), p->zeros + j * p->z_row_stride + 16 * gb)));
    add = _mm512_mullo_epi32(add, _mm512_set1_epi32(0x01010101));
    for (int64_t r = 0; r < gl->runs; ++r) {
      uint8_t *dst = out + group_lane_vector(gl, gb, r, 0);
      if (gl->span == 32) {
        /* Run r of group 16 gb + l starts at byte (16 gb + l) g / 2 + 16 r. */
        __m512i parts[4];
        for (int v = 0; v < 4; ++v) {
          int64_t at = (16 * gb + 4 * v) * (p->group_size / 2) + 16 * r;
          if (gl->runs == 1) { /* runs side by side: one load */
            int64_t n = row_bytes - at;
            __mmask64 mask = n >= 64 ? ~(__mmask64)0 : n <= 0 ? 0 : (((__mmask64)1 << n) - 1);
            parts[v] = _mm512_maskz_loadu_epi8(mask, row + at);
            continue;
          }
          int64_t apart = p->group_size / 2;
          __m512i v4 = _mm512_castsi128_si512(load_run(row, at, row_bytes));
          v4 = _mm512_inserti32x4(v4, load_run(row, at + apart, row_bytes), 1);
          v4 = _mm512_inserti32x4(v4, load_run(row, at + 2 * apart, row_bytes), 2);
          parts[v] = _mm512_inserti32x4(v4, load_run(row, at + 3 * apart, row_bytes), 3);
        }
        const __m512i half0[2] = {parts[0], parts[1]}, half1[2] = {parts[2], parts[3]};
        for (int64_t t0 = 0; t0 < 8; t0 += 4) {
          __m512i words[4];
          transpose_runs(half0, half1, t0, words);
          for (int d = 0; d < 4; ++d)
            _mm512_storeu_si512(dst + (t0 + d) * 64,
                                _mm512_add_epi32(spread_nibbles(words[d]), add));
        }
        continue;
      }
      for (int64_t t = 0; t < gl->vectors; ++t) {
        __mmask16 valid;
        __m512i bytes = _mm512_srli_epi32(group_lane_offsets(p, gl, gb, r, t, &valid), 1);
        __mmask16 later = _mm512_cmpge_epi32_mask(bytes, _mm512_set1_epi32(2));
        __m512i at = _mm512_mask_sub_epi32(bytes, later, bytes, _mm512_set1_epi32(2));
        __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid, at, row, 1);
        v = _mm512_and_si512(_mm512_srlv_epi32(v, _mm512_maskz_set1_epi32(later, 16)),
                             _mm512_set1_epi32(0xffff));
        _mm512_storeu_si512(dst + t * 64, _mm512_add_epi32(spread_nibbles(v), add));
      }
    }
  }
}

/* One row's int8 levels (natural order, zero-padded) in the group-lane
 * layout, and each group's sum of them times -15. */
INLINE VNNI void lay_out_row(const lowbit_uk_quantized_matmul_f32_params *p, const group_lanes *gl,
                             const int8_t *levels, int8_t *out, int32_t *offsets) {
  for (int64_t gb = 0; gb < gl->blocks; ++gb) {
    __m512i sums = _mm512_setzero_si512();
    for (int64_t r = 0; r < gl->runs; ++r)
      for (int64_t t = 0; t < gl->vectors; ++t) {
        __mmask16 valid;
        __m512i at = group_lane_offsets(p, gl, gb, r, t, &valid);
        __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid, at, levels, 1);
        _mm512_storeu_si512(out + group_lane_vector(gl, gb, r, t), v);
        sums = _mm512_dpbusd_epi32(sums, _mm512_set1_epi8(1), v);
      }
    _mm512_storeu_si512(offsets + gb * 16, _mm512_sub_epi32(sums, _mm512_slli_epi32(sums, 4)));
  }
}

/* C[i0 .. i0 + mr, j0 .. j0 + nr] += over the laid-out rows (x: row i0,
 * row_bytes apart, each followed by its offsets; their scales) and channels
 * (w: channel j0, gl->bytes apart). */
INLINE VNNI void group_lanes_tile(const int mr, const int nr,
                                  const lowbit_uk_quantized_matmul_f32_params *p,
                                  const group_lanes *gl, const int8_t *x, int64_t row_bytes,
                                  const float *row_scales, const uint8_t *w, int64_t i0,
                                  int64_t j0) {
  __m512 acc[GROUP_LANES_MR][GROUP_LANES_NR];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j)
      acc[i][j] = _mm512_setzero_ps();
  const int64_t per_block = gl->runs * gl->vectors;
  for (int64_t gb = 0; gb < gl->blocks; ++gb) {
    /* Each product starts from its row's offset (-15 times its group sums). */
    __m512i dot[GROUP_LANES_MR][GROUP_LANES_NR];
    for (int i = 0; i < mr; ++i) {
      __m512i offset = _mm512_loadu_si512(x + i * row_bytes + gl->bytes + gb * 64);
      for (int j = 0; j < nr; ++j)
        dot[i][j] = offset;
    }
    const int64_t first = gb * per_block * 64;
    for (int64_t t = 0; t < per_block; ++t) {
      __m512i xs[GROUP_LANES_MR];
      for (int i = 0; i < mr; ++i)
        xs[i] = _mm512_loadu_si512(x + i * row_bytes + first + t * 64);
      for (int j = 0; j < nr; ++j) {
        __m512i levels = _mm512_loadu_si512(w + j * gl->bytes + first + t * 64);
        for (int i = 0; i < mr; ++i)
          dot[i][j] = _mm512_dpbusd_epi32(dot[i][j], levels, xs[i]);
      }
    }
    __mmask16 groups = mask16(gl->groups - 16 * gb);
    for (int j = 0; j < nr; ++j) {
      __m512 scale =
          _mm512_maskz_loadu_ps(groups, p->scales + (j0 + j) * p->s_row_stride + 16 * gb);
      for (int i = 0; i < mr; ++i)
        acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[i][j]), scale, acc[i][j]);
    }
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j)
      p->c[(i0 + i) * p->c_row_stride + j0 + j] += row_scales[i] * _mm512_reduce_add_ps(acc[i][j]);
}

/* The tile for mr x nr with both as constants (registers, not memory). */
INLINE VNNI void group_lanes_tiles(const lowbit_uk_quantized_matmul_f32_params *p,
                                   const group_lanes *gl, const int8_t *x, int64_t row_bytes,
                                   const float *row_scales, const uint8_t *w, int64_t i0, int mr,
                                   int64_t j0, int nr) {
#define GROUP_LANES_TILE(MR, NR)                                                                   \
  case (MR)*4 + (NR):                                                                              \
    group_lanes_tile(MR, NR, p, gl, x, row_bytes, row_scales, w, i0, j0);                          \
    break;
  switch (mr * 4 + nr) {
    GROUP_LANES_TILE(4, 3)
    GROUP_LANES_TILE(4, 2)
    GROUP_LANES_TILE(4, 1)
    GROUP_LANES_TILE(3, 3)
    GROUP_LANES_TILE(3, 2)
    GROUP_LANES_TILE(3, 1)
    GROUP_LANES_TILE(2, 3)
    GROUP_LANES_TILE(2, 2)
    GROUP_LANES_TILE(2, 1)
    GROUP_LANES_TILE(1, 3)
    GROUP_LANES_TILE(1, 2)
    GROUP_LANES_TILE(1, 1)
  }
#undef GROUP_LANES_TILE
}

/* Rows in blocks that fit the workspace after GROUP_LANES_NR laid-out
 * channels; for each block, each few channels laid out once for all its
 * rows. Returns 0 (nothing done) when the workspace cannot hold a row. */
INLINE VNNI int group_lanes_matmul(const lowbit_uk_quantized_matmul_f32_params *p,
                                   float *workspace) {
  group_lanes gl = group_lanes_of(p);
  int64_t padded_k = (p->k + 63) / 64 * 64;
  int64_t channel_bytes = GROUP_LANES_NR * gl.bytes;
  /* Per row: its layout, then its offsets (16 per block of groups). */
  int64_t row_bytes = gl.bytes + gl.blocks * 64;
  lane_workspace ws = carve_lane_workspace(p, workspace, channel_bytes, padded_k, row_bytes);
  if (ws.block < 1)
    return 0;
  for (int64_t b0 = 0; b0 < p->m; b0 += ws.block) {
    int64_t count = min64(ws.block, p->m - b0);
    for (int64_t i = 0; i < count; ++i) {
      ws.row_scales[i] =
          quantize_row_vnni(p, p->a + (b0 + i) * p->a_row_stride, padded_k, ws.natural);
      lay_out_row(p, &gl, ws.natural, ws.rows + i * row_bytes,
                  (int32_t *)(ws.rows + i * row_bytes + gl.bytes));
    }
    for (int64_t j0 = 0; j0 < p->n; j0 += GROUP_LANES_NR) {
      int nr = (int)min64(GROUP_LANES_NR, p->n - j0);
      for (int j = 0; j < nr; ++j)
        lay_out_channel(p, &gl, j0 + j, ws.channels + j * gl.bytes);
      for (int64_t i = 0; i < count; i += GROUP_LANES_MR)
        group_lanes_tiles(p, &gl, ws.rows + i * row_bytes, row_bytes, ws.row_scales + i,
                          ws.channels, b0 + i, (int)min64(GROUP_LANES_MR, count - i), j0, nr);
    }
  }
  return 1;
}

/*===--- int8 activations over levels two per byte, one row (VNNI) ---------===*
 *
 * Decode: the weight is read once and not laid out anywhere. Runs of 32
 * levels are 16 bytes of the packed row; a superblock of 16 runs (256
 * bytes, four vectors) is transposed as dwords so that lane l of vector t
 * holds bytes 4t .. 4t + 3 of run l: levels 8t .. 8t + 7, the even ones in
 * the low nibbles and the odd ones in the high. Masking the nibbles gives
 * two vectors of unsigned levels (q + 8) for the row's even and odd
 * activations, which the row's layout holds in the same order; a run's
 * products add up in one int32 lane, started from -(8 + z) times the run's
 * sum of activation levels (exact), and each superblock ends with one
 * conversion and one multiply-add by the lanes' scales. Groups must be
 * multiples of 32. (4096 x 4096, one thread, AVX-512 VNNI Xeon: 0.62 ->
 * 0.49 ms with groups of 32, 0.60 -> 0.41 ms with groups of 128, against the
 * group-lane layout of many rows.)
 *===----------------------------------------------------------------------===*/

/* The row's runs of 32 levels, ceil(k / 32), 16 to a superblock. */
typedef struct {
  int64_t runs, superblocks;
} packed_runs;

/* Which group each lane of a superblock belongs to: the superblock's first
 * group, how many groups it touches, and each lane's group less the first
 * (for every superblock, once per call). */
typedef struct {
  int32_t first, count;
  int32_t lane[16];
} superblock_groups;

INLINE void find_superblock_groups(const lowbit_uk_quantized_matmul_f32_params *p,
                                   const packed_runs *pr, superblock_groups *out) {
  for (int64_t sb = 0; sb < pr->superblocks; ++sb) {
    int64_t first = 16 * sb * 32 / p->group_size, last = first;
    for (int l = 0; l < 16; ++l) {
      int64_t run = min64(16 * sb + l, pr->runs - 1), g = run * 32 / p->group_size;
      out[sb].lane[l] = (int32_t)(g - first);
      last = g > last ? g : last;
    }
    out[sb].first = (int32_t)first;
    out[sb].count = (int32_t)(last - first + 1);
  }
}

INLINE int one_row_packed_apply(const lowbit_uk_quantized_matmul_f32_params *p) {
  return p->m == 1 && p->level_bits == 4 && p->group_size % 32 == 0 && p->k % 4 == 0 &&
         p->k >= 64 && p->s_col_stride == 1 && (!p->zeros || p->z_col_stride == 1);
}

/* The row's levels 8t + {0, 2, 4, 6} (even) and 8t + {1, 3, 5, 7} (odd) of
 * each run of a superblock, lane by lane: 8 vectors per superblock
 * (even t, odd t, for t = 0 .. 3), then the runs' sums of levels, negated. */
INLINE VNNI void lay_out_row_packed(const lowbit_uk_quantized_matmul_f32_params *p,
                                    int64_t superblocks, const int8_t *levels, int8_t *out,
                                    int32_t *negated_sums) {
  /* Within each qword: its even bytes, then its odd ones. */
  const __m512i deinterleave = _mm512_set4_epi32(0x0f0d0b09, 0x0e0c0a08, 0x07050301, 0x06040200);
  __m512i even_dwords = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  __m512i odd_dwords = _mm512_add_epi32(even_dwords, _mm512_set1_epi32(1));
  __m256i lane = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
  for (int64_t sb = 0; sb < superblocks; ++sb) {
    __m512i sums = _mm512_setzero_si512();
    for (int64_t t = 0; t < 4; ++t) {
      __m512i halves[2];
      for (int h = 0; h < 2; ++h) {
        __m256i at = _mm256_add_epi32(
            _mm256_mullo_epi32(
                _mm256_add_epi32(lane, _mm256_set1_epi32((int32_t)(16 * sb + 8 * h))),
                _mm256_set1_epi32(32)),
            _mm256_set1_epi32((int32_t)(8 * t)));
        __mmask8 valid = _mm256_cmplt_epi32_mask(at, _mm256_set1_epi32((int32_t)p->k));
        halves[h] = _mm512_shuffle_epi8(
            _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), valid, at, levels, 1),
            deinterleave);
      }
      __m512i even = _mm512_permutex2var_epi32(halves[0], even_dwords, halves[1]);
      __m512i odd = _mm512_permutex2var_epi32(halves[0], odd_dwords, halves[1]);
      _mm512_storeu_si512(out + (sb * 8 + 2 * t) * 64, even);
      _mm512_storeu_si512(out + (sb * 8 + 2 * t + 1) * 64, odd);
      sums = _mm512_dpbusd_epi32(sums, _mm512_set1_epi8(1), even);
      sums = _mm512_dpbusd_epi32(sums, _mm512_set1_epi8(1), odd);
    }
    _mm512_storeu_si512(negated_sums + sb * 16, _mm512_sub_epi32(_mm512_setzero_si512(), sums));
  }
}

/* Dword t of each of the 16 runs (16 bytes each) in z[0..3], as 4 vectors. */
INLINE VNNI void transpose_run_dwords(const __m512i z[4], __m512i out[4]) {
  /* Runs 0-7 of a pair of vectors: dword t of run l at 8 (t % 2) + l. */
  __m512i pick01 = _mm512_set_epi32(29, 25, 21, 17, 13, 9, 5, 1, 28, 24, 20, 16, 12, 8, 4, 0);
  __m512i pick23 = _mm512_add_epi32(pick01, _mm512_set1_epi32(2));
  __m512i low = _mm512_set_epi32(23, 22, 21, 20, 19, 18, 17, 16, 7, 6, 5, 4, 3, 2, 1, 0);
  __m512i high = _mm512_add_epi32(low, _mm512_set1_epi32(8));
  __m512i a01 = _mm512_permutex2var_epi32(z[0], pick01, z[1]);
  __m512i b01 = _mm512_permutex2var_epi32(z[2], pick01, z[3]);
  __m512i a23 = _mm512_permutex2var_epi32(z[0], pick23, z[1]);
  __m512i b23 = _mm512_permutex2var_epi32(z[2], pick23, z[3]);
  out[0] = _mm512_permutex2var_epi32(a01, low, b01);
  out[1] = _mm512_permutex2var_epi32(a01, high, b01);
  out[2] = _mm512_permutex2var_epi32(a23, low, b23);
  out[3] = _mm512_permutex2var_epi32(a23, high, b23);
}

/* C[0, j0 .. j0 + nr] += the row (laid out by lay_out_row_packed, with its
 * scale) times channels j0 .. j0 + nr. */
INLINE VNNI void one_row_packed_channels(const int nr,
                                         const lowbit_uk_quantized_matmul_f32_params *p,
                                         const packed_runs *pr, const superblock_groups *groups,
                                         const int8_t *x, const int32_t *negated_sums,
                                         float row_scale, int64_t j0) {
  const int64_t row_bytes = (p->k + 1) / 2;
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t sb = 0; sb < pr->superblocks; ++sb) {
    const superblock_groups *in = &groups[sb];
    __m512i lane = _mm512_loadu_si512(in->lane);
    __mmask16 touched = mask16(in->count), runs = mask16(pr->runs - 16 * sb);
    __m512i negated = _mm512_loadu_si512(negated_sums + 16 * sb);
    __m512i dot[2];
    for (int j = 0; j < nr; ++j) {
      __m512i bias = _mm512_set1_epi32(8);
      if (p->zeros)
        bias = _mm512_add_epi32(
            bias, _mm512_permutexvar_epi32(
                      lane, _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(
                                touched, p->zeros + (j0 + j) * p->z_row_stride + in->first))));
      dot[j] = _mm512_mullo_epi32(bias, negated);
    }
    __m512i w[2][4];
    int64_t left = row_bytes - sb * 256;
    for (int j = 0; j < nr; ++j) {
      const int8_t *src = p->q + (j0 + j) * p->q_row_stride + sb * 256;
      __m512i z[4];
      for (int v = 0; v < 4; ++v) {
        int64_t n = left - 64 * v;
        __mmask64 mask = n >= 64 ? ~(__mmask64)0 : n <= 0 ? 0 : (((__mmask64)1 << n) - 1);
        z[v] = _mm512_maskz_loadu_epi8(mask, src + 64 * v);
      }
      transpose_run_dwords(z, w[j]);
    }
    for (int64_t t = 0; t < 4; ++t) {
      __m512i even = _mm512_loadu_si512(x + (sb * 8 + 2 * t) * 64);
      __m512i odd = _mm512_loadu_si512(x + (sb * 8 + 2 * t + 1) * 64);
      for (int j = 0; j < nr; ++j) {
        dot[j] = _mm512_dpbusd_epi32(dot[j], _mm512_and_si512(w[j][t], nibble), even);
        dot[j] = _mm512_dpbusd_epi32(dot[j],
                                     _mm512_and_si512(_mm512_srli_epi16(w[j][t], 4), nibble), odd);
      }
    }
    for (int j = 0; j < nr; ++j) {
      __m512 scale = _mm512_maskz_permutexvar_ps(
          runs, lane,
          _mm512_maskz_loadu_ps(touched, p->scales + (j0 + j) * p->s_row_stride + in->first));
      acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[j]), scale, acc[j]);
    }
  }
  for (int j = 0; j < nr; ++j)
    p->c[j0 + j] += row_scale * _mm512_reduce_add_ps(acc[j]);
}

/* Returns 0 (nothing done) when the workspace cannot hold the row. */
INLINE VNNI int one_row_packed_matmul(const lowbit_uk_quantized_matmul_f32_params *p,
                                      float *workspace) {
  packed_runs pr = {(p->k + 31) / 32, ((p->k + 31) / 32 + 15) / 16};
  int64_t padded_k = (p->k + 63) / 64 * 64;
  int64_t table_bytes = pr.superblocks * (int64_t)sizeof(superblock_groups);
  int64_t layout_bytes = pr.superblocks * 8 * 64, sums_bytes = pr.superblocks * 64;
  if (table_bytes + padded_k + layout_bytes + sums_bytes >
      (int64_t)LOWBIT_UK_MATMUL_F32_WORKSPACE * 4)
    return 0;
  superblock_groups *groups = (superblock_groups *)workspace;
  int8_t *natural = (int8_t *)groups + table_bytes;
  int8_t *x = natural + padded_k;
  int32_t *negated_sums = (int32_t *)(x + layout_bytes);
  find_superblock_groups(p, &pr, groups);
  float row_scale = quantize_row_vnni(p, p->a, padded_k, natural);
  lay_out_row_packed(p, pr.superblocks, natural, x, negated_sums);
  int64_t j = 0;
  for (; j + 2 <= p->n; j += 2)
    one_row_packed_channels(2, p, &pr, groups, x, negated_sums, row_scale, j);
  if (j < p->n)
    one_row_packed_channels(1, p, &pr, groups, x, negated_sums, row_scale, j);
  return 1;
}

/* The int8 path: rows of A quantized in blocks that fit the workspace. */
VNNI void lowbit_uk_quantized_matmul_f32_vnni(const lowbit_uk_quantized_matmul_f32_params *p,
                                              float *workspace) {
  int64_t padded_k = (p->k + 63) / 64 * 64, groups = (p->k + p->group_size - 1) / p->group_size;
  int64_t bytes_per_row = padded_k + 4 + 4 * groups;
  int64_t block = min64(p->m, (int64_t)LOWBIT_UK_MATMUL_F32_WORKSPACE * 4 / bytes_per_row / 2 * 2);
  if (block < 1 || p->q_col_stride != 1 || p->a_col_stride != 1 || p->c_col_stride != 1 ||
      (p->level_bits != 8 && p->level_bits != 4)) {
    lowbit_uk_quantized_matmul_f32_avx512(p, workspace);
    return;
  }
  if (one_row_packed_apply(p) && one_row_packed_matmul(p, workspace)) {
    add_outlier_product(p);
    return;
  }
  if (group_lanes_apply(p) && group_lanes_matmul(p, workspace)) {
    add_outlier_product(p);
    return;
  }
  for (int64_t b0 = 0; b0 < p->m; b0 += block) {
    int64_t rows = min64(block, p->m - b0);
    quantized_rows r = quantize_rows_vnni(p, b0, rows, workspace);
    /* Channels outside, rows inside: a few channels' levels stay in L1
     * while every row of the block passes over them. Tiles of up to 4 rows:
     * each weight vector loaded (and spread from nibbles) serves 4 products.
     * By 4 channels for small groups (one accumulator per product), by 3
     * otherwise (an integer and a float accumulator per product: 24 of the
     * 32 registers). */
    int small = p->group_size < 64 && p->group_size % 4 == 0 && 64 % p->group_size == 0;
    int64_t j = 0;
    if (small)
      for (; j + 4 <= p->n; j += 4)
        for (int64_t i = 0; i < rows; i += 4)
          int8_tiles(p, &r, b0, i, rows, j, 4);
    else
      for (; j + 3 <= p->n; j += 3)
        for (int64_t i = 0; i < rows; i += 4)
          int8_tiles(p, &r, b0, i, rows, j, 3);
    for (; j < p->n; ++j)
      for (int64_t i = 0; i < rows; i += 4)
        int8_tiles(p, &r, b0, i, rows, j, 1);
  }
  add_outlier_product(p);
}

/*===--- int8 activations (AVX2) --------------------------------------------===*/

/* The int8 path where there is no VNNI: vpmaddubsw multiplies unsigned by
 * signed bytes into adjacent pairs summed in int16 (saturating), vpmaddwd
 * by ones sums those pairs into int32. The saturation decides the
 * operands. Levels stored two per byte go in as level + 8 <= 15 (a pair
 * sums at most 2 * 15 * 127 = 3810), the offset taken back through each
 * group's sum of activation levels as the VNNI path does; one-byte levels
 * go in as |q| <= 128 with the activations' signs flipped where q < 0 (a
 * pair sums at most 2 * 128 * 127 = 32512 < 32768), exact without an
 * offset. */

/* Rows of A as int8 levels (zero-padded to a multiple of 64), as
 * quantize_rows_vnni lays them out: the same levels, round half to even. */
INLINE AVX2 float quantize_row_avx2(const lowbit_uk_quantized_matmul_f32_params *p, const float *a,
                                    int64_t padded_k, int8_t *out) {
  float scale = p->activation_scale; /* static, or this row's own: */
  if (scale == 0) {
    float m = 0;
    for (int64_t k = 0; k < p->k; ++k) /* vectorized */
      m = m > __builtin_fabsf(a[k]) ? m : __builtin_fabsf(a[k]);
    scale = m == 0 ? 1.0f : m / 127.0f;
  }
  for (int64_t k = 0; k < p->k; ++k) {
    float level = __builtin_rintf(a[k] / scale); /* ties to even, as roundscale */
    out[k] = (int8_t)(level < -127 ? -127 : level > 127 ? 127 : level);
  }
  memset(out + p->k, 0, (size_t)(padded_k - p->k));
  return scale;
}

INLINE AVX2 quantized_rows quantize_rows_avx2(const lowbit_uk_quantized_matmul_f32_params *p,
                                              int64_t i0, int64_t rows, float *workspace) {
  quantized_rows r = rows_layout(p, rows, workspace);
  for (int64_t i = 0; i < rows; ++i) {
    r.scales[i] = quantize_row_avx2(p, p->a + (i0 + i) * p->a_row_stride, r.padded_k,
                                    r.levels + i * r.padded_k);
    group_sums(p, &r, i);
  }
  return r;
}

/* 32 bytes of which the first `count` (0..32) are kept: a mask for the
 * tail of a group. */
static const int8_t tail_mask_bytes[64] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                           -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                           -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
INLINE AVX2 __m256i tail_mask_avx2(int64_t count) {
  return _mm256_loadu_si256((const __m256i *)(tail_mask_bytes + 32 - count));
}

/* Weight levels k .. k + 31 of a row (`row`: its levels), as the unsigned
 * operand: level + 8 for two per byte (spread to one per byte in order),
 * the levels themselves (signed) for one per byte. Past the row's end
 * (k + 32 > p->k) the bytes are copied first, so that nothing past the
 * row is read; what lies past `count` meets zero activations. */
INLINE AVX2 __m256i load_weights_avx2(const lowbit_uk_quantized_matmul_f32_params *p,
                                      const int8_t *row, int64_t k) {
  if (p->level_bits == 4) {
    __m128i packed;
    if (k + 32 > p->k) {
      int8_t bytes[16] = {0};
      memcpy(bytes, row + k / 2, (size_t)((p->k - k + 1) / 2));
      packed = _mm_loadu_si128((const __m128i *)bytes);
    } else {
      packed = _mm_loadu_si128((const __m128i *)(row + k / 2));
    }
    __m256i pairs = _mm256_cvtepu8_epi16(packed);
    return _mm256_or_si256(_mm256_and_si256(pairs, _mm256_set1_epi16(0x0F)),
                           _mm256_slli_epi16(_mm256_and_si256(pairs, _mm256_set1_epi16(0xF0)), 4));
  }
  if (k + 32 > p->k) {
    int8_t bytes[32] = {0};
    memcpy(bytes, row + k, (size_t)(p->k - k));
    return _mm256_loadu_si256((const __m256i *)bytes);
  }
  return _mm256_loadu_si256((const __m256i *)(row + k));
}

/* The int32 lanes of sum w * x over 32 bytes (see above for the operands). */
INLINE AVX2 __m256i dot_avx2(__m256i w, __m256i x, int nibbles) {
  __m256i pairs = nibbles ? _mm256_maddubs_epi16(w, x)
                          : _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

/* mr rows of A by nr output channels: per group, integer dot products over
 * 32 levels at a time, the exact group sum converted once and scaled. */
INLINE AVX2 void int8_tile_avx2(const int mr, const int nr,
                                const lowbit_uk_quantized_matmul_f32_params *p,
                                const quantized_rows *r, int64_t i0, int64_t rows0, int64_t j0) {
  const int nibbles = p->level_bits == 4;
  __m256 acc[4][4];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j)
      acc[i][j] = _mm256_setzero_ps();
  for (int64_t g = 0; g < r->groups; ++g) {
    int64_t k0 = g * p->group_size, k1 = min64(p->k, k0 + p->group_size);
    __m256i dot[4][4];
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < nr; ++j)
        dot[i][j] = _mm256_setzero_si256();
    for (int64_t k = k0; k < k1; k += 32) {
      int64_t count = min64(32, k1 - k);
      __m256i x[4];
      for (int i = 0; i < mr; ++i) {
        x[i] = _mm256_loadu_si256((const __m256i *)(r->levels + (rows0 + i) * r->padded_k + k));
        if (count < 32)
          x[i] = _mm256_and_si256(x[i], tail_mask_avx2(count));
      }
      for (int j = 0; j < nr; ++j) {
        __m256i w = load_weights_avx2(p, p->q + (j0 + j) * p->q_row_stride, k);
        for (int i = 0; i < mr; ++i)
          dot[i][j] = _mm256_add_epi32(dot[i][j], dot_avx2(w, x[i], nibbles));
      }
    }
    /* sum (q - z) x = dot - offset * sum x, in integers, in lane 0. */
    for (int j = 0; j < nr; ++j) {
      float scale = p->scales[(j0 + j) * p->s_row_stride + g * p->s_col_stride];
      int32_t zero = p->zeros ? p->zeros[(j0 + j) * p->z_row_stride + g * p->z_col_stride] : 0;
      int32_t offset = (nibbles ? 8 : 0) + zero;
      __m256 vscale = _mm256_set1_ps(scale);
      for (int i = 0; i < mr; ++i) {
        __m256i taken =
            _mm256_setr_epi32(offset * r->sums[(rows0 + i) * r->groups + g], 0, 0, 0, 0, 0, 0, 0);
        acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(dot[i][j], taken)), vscale,
                                    acc[i][j]);
      }
    }
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j)
      p->c[(i0 + i) * p->c_row_stride + j0 + j] += r->scales[rows0 + i] * reduce_avx2(acc[i][j]);
}

/* Lane g of the result: the sum of the 8 lanes of d[g]. */
INLINE AVX2 __m256i sum_lanes8_avx2(const __m256i d[8]) {
  __m256i t0 = _mm256_hadd_epi32(d[0], d[1]), t1 = _mm256_hadd_epi32(d[2], d[3]);
  __m256i t2 = _mm256_hadd_epi32(d[4], d[5]), t3 = _mm256_hadd_epi32(d[6], d[7]);
  /* u0 lanes: d0..d3's sums of lanes 0-3, then of lanes 4-7; u1: d4..d7. */
  __m256i u0 = _mm256_hadd_epi32(t0, t1), u1 = _mm256_hadd_epi32(t2, t3);
  return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                          _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* acc + (dots - (bias + z) * sums) * s for eight groups: lane g of `dots`
 * the row's integer dot product over group g, `scales`, `zeros` (NULL: 0)
 * and `sums` (the row's sums of activation levels) from group 0 on. The
 * offsets come back exactly, in integers, before the one conversion. */
INLINE AVX2 __m256 add_eight_groups_avx2(__m256 acc, __m256i dots, int32_t bias,
                                         const float *scales, const int8_t *zeros,
                                         const int32_t *sums) {
  __m256i offset = _mm256_set1_epi32(bias);
  if (zeros)
    offset =
        _mm256_add_epi32(offset, _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)zeros)));
  __m256i exact =
      _mm256_sub_epi32(dots, _mm256_mullo_epi32(offset, _mm256_loadu_si256((const __m256i *)sums)));
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(exact), _mm256_loadu_ps(scales), acc);
}

/* One row of A by one output channel for groups of a multiple of 32 levels
 * (decode): each group's dot product in its own int32 vector, eight groups
 * at a time; their sums gathered into one vector's lanes, the offsets
 * taken back there in integers (exact), and one conversion and one
 * multiply by eight contiguous scales serve the eight groups. */
INLINE AVX2 float int8_row_avx2(const lowbit_uk_quantized_matmul_f32_params *p,
                                const quantized_rows *r, int64_t row, int64_t j,
                                const int nibbles) {
  const int8_t *x = r->levels + row * r->padded_k;
  const int8_t *q = p->q + j * p->q_row_stride;
  const float *scales = p->scales + j * p->s_row_stride;
  const int8_t *zeros = p->zeros ? p->zeros + j * p->z_row_stride : NULL;
  const int32_t *sums = r->sums + row * r->groups;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t g0 = 0; g0 < r->groups; g0 += 8) {
    int64_t count = min64(8, r->groups - g0);
    __m256i dot[8];
    for (int g = 0; g < 8; ++g)
      dot[g] = _mm256_setzero_si256();
    if (count == 8 && (g0 + 8) * p->group_size <= p->k) {
      /* Eight whole groups: vector t of each in turn (the eight sums stay
       * in registers), the weights read in place. */
      for (int64_t t = 0; t < p->group_size; t += 32) {
#pragma GCC unroll 8
        for (int g = 0; g < 8; ++g) {
          int64_t k = (g0 + g) * p->group_size + t;
          __m256i w;
          if (nibbles) {
            __m256i pairs = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(q + k / 2)));
            w = _mm256_or_si256(
                _mm256_and_si256(pairs, _mm256_set1_epi16(0x0F)),
                _mm256_slli_epi16(_mm256_and_si256(pairs, _mm256_set1_epi16(0xF0)), 4));
          } else {
            w = _mm256_loadu_si256((const __m256i *)(q + k));
          }
          dot[g] = _mm256_add_epi32(
              dot[g], dot_avx2(w, _mm256_loadu_si256((const __m256i *)(x + k)), nibbles));
        }
      }
    } else {
      for (int g = 0; g < count; ++g) {
        int64_t k0 = (g0 + g) * p->group_size, k1 = min64(p->k, k0 + p->group_size);
        for (int64_t k = k0; k < k1; k += 32) {
          __m256i levels = _mm256_loadu_si256((const __m256i *)(x + k));
          if (k1 - k < 32)
            levels = _mm256_and_si256(levels, tail_mask_avx2(k1 - k));
          dot[g] = _mm256_add_epi32(dot[g], dot_avx2(load_weights_avx2(p, q, k), levels, nibbles));
        }
      }
    }
    if (count == 8) {
      acc = add_eight_groups_avx2(acc, sum_lanes8_avx2(dot), nibbles ? 8 : 0, scales + g0,
                                  zeros ? zeros + g0 : NULL, sums + g0);
    } else {
      /* The last groups; zeros past them (those lanes add nothing). */
      float sv[8] = {0};
      int32_t sumv[8] = {0};
      int8_t zv[8] = {0};
      for (int64_t g = 0; g < count; ++g) {
        sv[g] = scales[g0 + g];
        sumv[g] = sums[g0 + g];
        zv[g] = zeros ? zeros[g0 + g] : 0;
      }
      acc = add_eight_groups_avx2(acc, sum_lanes8_avx2(dot), nibbles ? 8 : 0, sv, zv, sumv);
    }
  }
  return reduce_avx2(acc);
}

/* Decode over levels two per byte, groups of a multiple of 32, K a
 * multiple of 64: 32 bytes of weights hold levels 64b .. 64b + 63, even
 * ones in the low nibbles, odd ones in the high; masking and one shift
 * give the two halves (three instructions for 64 levels, no spreading)
 * when the row of activations is laid out to match: per 64-level block,
 * its 32 even levels, then its 32 odd ones (`split`, from
 * split_even_odd). Lane l of a block's int32 dot then sums levels 64b + 8l
 * .. 64b + 8l + 7: lanes 0-3 the block's first 32 levels, 4-7 the rest. */
INLINE AVX2 void split_even_odd(const int8_t *x, int64_t padded_k, int8_t *split) {
  for (int64_t b = 0; b < padded_k; b += 64)
    for (int i = 0; i < 32; ++i) {
      split[b + i] = x[b + 2 * i];
      split[b + 32 + i] = x[b + 2 * i + 1];
    }
}

INLINE AVX2 __m256i block_dot_avx2(const int8_t *q, const int8_t *split, int64_t k) {
  __m256i bytes = _mm256_loadu_si256((const __m256i *)(q + k / 2));
  __m256i low = _mm256_and_si256(bytes, _mm256_set1_epi8(0x0F));
  __m256i high = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), _mm256_set1_epi8(0x0F));
  /* Pair sums of at most 2 * 15 * 127: even and odd add in int16. */
  __m256i even = _mm256_maddubs_epi16(low, _mm256_loadu_si256((const __m256i *)(split + k)));
  __m256i odd = _mm256_maddubs_epi16(high, _mm256_loadu_si256((const __m256i *)(split + k + 32)));
  return _mm256_madd_epi16(_mm256_add_epi16(even, odd), _mm256_set1_epi16(1));
}

INLINE AVX2 float int8_row_nibbles_avx2(const lowbit_uk_quantized_matmul_f32_params *p,
                                        const quantized_rows *r, const int8_t *split, int64_t row,
                                        int64_t j) {
  const int8_t *x = r->levels + row * r->padded_k;
  const int8_t *q = p->q + j * p->q_row_stride;
  const float *scales = p->scales + j * p->s_row_stride;
  const int8_t *zeros = p->zeros ? p->zeros + j * p->z_row_stride : NULL;
  const int32_t *sums = r->sums + row * r->groups;
  const int64_t gs = p->group_size;
  __m256 acc = _mm256_setzero_ps();
  int64_t g0 = 0;
  for (; g0 + 8 <= r->groups; g0 += 8) {
    __m256i dots; /* lane g: group g0 + g */
    if (gs == 32) {
      /* Four blocks, two groups each: the hadds leave groups 0, 2, 4, 6,
       * then 1, 3, 5, 7, put back in order. */
      __m256i d[4];
#pragma GCC unroll 4
      for (int b = 0; b < 4; ++b)
        d[b] = block_dot_avx2(q, split, g0 * 32 + 64 * b);
      __m256i u = _mm256_hadd_epi32(_mm256_hadd_epi32(d[0], d[1]), _mm256_hadd_epi32(d[2], d[3]));
      dots = _mm256_permutevar8x32_epi32(u, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    } else {
      __m256i d[8];
#pragma GCC unroll 8
      for (int g = 0; g < 8; ++g)
        d[g] = _mm256_setzero_si256();
      for (int64_t t = 0; t < gs; t += 64)
#pragma GCC unroll 8
        for (int g = 0; g < 8; ++g)
          d[g] = _mm256_add_epi32(d[g], block_dot_avx2(q, split, (g0 + g) * gs + t));
      dots = sum_lanes8_avx2(d);
    }
    acc = add_eight_groups_avx2(acc, dots, 8, scales + g0, zeros ? zeros + g0 : NULL, sums + g0);
  }
  float sum = reduce_avx2(acc);
  /* The last groups (fewer than eight), level by level in natural order. */
  for (int64_t g = g0; g < r->groups; ++g) {
    int32_t dot = 0;
    for (int64_t k = g * gs, end = min64(p->k, k + gs); k < end; ++k)
      dot += ((((uint8_t)q[k / 2]) >> (4 * (k % 2))) & 15) * x[k];
    int32_t offset = 8 + (zeros ? zeros[g] : 0);
    sum += (float)(dot - offset * sums[g]) * scales[g];
  }
  return sum;
}

/* For several rows over the same layout: per 64-level block of a row, lane
 * 0 holds the sum of the row's levels over the group that the block's
 * first 32 levels start (0 when they do not start one), lane 4 the same
 * for its last 32, so that each group's offset is taken back once, exactly,
 * in the block where it starts. Groups of a multiple of 32. */
INLINE AVX2 void block_sums_avx2(const lowbit_uk_quantized_matmul_f32_params *p,
                                 const quantized_rows *r, int64_t row, int32_t *out) {
  for (int64_t k = 0; k < r->padded_k; k += 64)
    for (int half = 0; half < 2; ++half) {
      int64_t level = k + 32 * half;
      int32_t *lanes = out + k / 8 + 4 * half;
      lanes[0] = level < p->k && level % p->group_size == 0
                     ? r->sums[row * r->groups + level / p->group_size]
                     : 0;
      lanes[1] = lanes[2] = lanes[3] = 0;
    }
}

/* mr rows (of the block, from rows0; C's from i0) by nr output channels
 * (from j) over levels [kb0, kb1) two per byte, K and kb0 multiples of 64,
 * groups of any multiple of 32 levels. Per 64-level block each channel's
 * weights are split once into even and odd halves for all the rows, and
 * each row's matching activations are loaded once for all the channels;
 * every block is widened and scaled on its own, the scales of its two
 * 32-level halves side by side (int32 lanes 0-3 sum the block's first 32
 * levels, 4-7 the rest; a block may hold two groups of 32 or 96), less 8
 * times the sums of the row's levels of the groups starting there (levels
 * load as q + 8). Zero points come off after the loop, s z times the
 * row's sum over each group, with s z formed once for all the rows. The
 * accumulators stay in registers. */
INLINE AVX2 void int8_tile_nibbles_avx2(const int mr, const int nr,
                                        const lowbit_uk_quantized_matmul_f32_params *p,
                                        const quantized_rows *r, const int8_t *split,
                                        const int32_t *block_sums, int64_t i0, int64_t rows0,
                                        int64_t j, int64_t kb0, int64_t kb1) {
  const __m256i ones = _mm256_set1_epi16(1), low_nibbles = _mm256_set1_epi8(0x0F);
  const float *scales[2];
  for (int c = 0; c < nr; ++c)
    scales[c] = p->scales + (j + c) * p->s_row_stride;
  __m256 acc[3][2];
  for (int i = 0; i < mr; ++i)
    for (int c = 0; c < nr; ++c)
      acc[i][c] = _mm256_setzero_ps();
  for (int64_t k = kb0; k < kb1; k += 64) {
    int64_t g0 = k / p->group_size, g1 = (k + 32) / p->group_size;
    __m256i low[2], high[2];
    __m256 scale[2];
    for (int c = 0; c < nr; ++c) {
      __m256i bytes =
          _mm256_loadu_si256((const __m256i *)(p->q + (j + c) * p->q_row_stride + k / 2));
      low[c] = _mm256_and_si256(bytes, low_nibbles);
      high[c] = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low_nibbles);
      scale[c] = _mm256_set_m128(_mm_set1_ps(scales[c][g1 * p->s_col_stride]),
                                 _mm_set1_ps(scales[c][g0 * p->s_col_stride]));
    }
    for (int i = 0; i < mr; ++i) {
      const int8_t *x = split + (rows0 + i) * r->padded_k + k;
      __m256i even = _mm256_loadu_si256((const __m256i *)x);
      __m256i odd = _mm256_loadu_si256((const __m256i *)(x + 32));
      /* The groups starting in this block: 8 times their sums of levels
       * come off (levels load as q + 8). */
      __m256i sums = _mm256_loadu_si256(
          (const __m256i *)(block_sums + (rows0 + i) * (r->padded_k / 8) + k / 8));
      __m256i taken = _mm256_slli_epi32(sums, 3);
      for (int c = 0; c < nr; ++c) {
        __m256i dot = _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(low[c], even),
                                                         _mm256_maddubs_epi16(high[c], odd)),
                                        ones);
        acc[i][c] =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(dot, taken)), scale[c], acc[i][c]);
      }
    }
  }
  /* Zero points, out of the loop above: s z times the row's sum of levels,
   * for each group that starts in this slice (a group spanning two slices
   * is taken once, where it starts), with s z for the two channels'
   * groups formed once for all the rows. */
  if (p->zeros) {
    int64_t g_begin = (kb0 + p->group_size - 1) / p->group_size,
            g_end = (kb1 - 1) / p->group_size + 1;
    float scaled_zero[2][4096 / 32];
    for (int64_t g0 = g_begin; g0 < g_end; g0 += 4096 / 32) {
      int64_t count = min64(4096 / 32, g_end - g0);
      for (int c = 0; c < nr; ++c)
        for (int64_t g = 0; g < count; ++g)
          scaled_zero[c][g] =
              scales[c][(g0 + g) * p->s_col_stride] *
              (float)p->zeros[(j + c) * p->z_row_stride + (g0 + g) * p->z_col_stride];
      for (int i = 0; i < mr; ++i) {
        const int32_t *sums = r->sums + (rows0 + i) * r->groups + g0;
        int64_t g = 0;
        for (; g + 8 <= count; g += 8) {
          __m256 row_sums = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(sums + g)));
          for (int c = 0; c < nr; ++c)
            acc[i][c] = _mm256_fnmadd_ps(_mm256_loadu_ps(scaled_zero[c] + g), row_sums, acc[i][c]);
        }
        for (; g < count; ++g)
          for (int c = 0; c < nr; ++c)
            acc[i][c] = _mm256_sub_ps(
                acc[i][c], _mm256_setr_ps(scaled_zero[c][g] * (float)sums[g], 0, 0, 0, 0, 0, 0, 0));
      }
    }
  }
  for (int i = 0; i < mr; ++i)
    for (int c = 0; c < nr; ++c)
      p->c[(i0 + i) * p->c_row_stride + j + c] += r->scales[rows0 + i] * reduce_avx2(acc[i][c]);
}

/* Rows [0, rows) of the block by all output channels: K in slices, channels
 * in pairs and rows in threes (the most that keep the tile's accumulators,
 * weights and activations in the 16 registers). Measured at 64 rows of
 * 4096 x 4096 against the tiles before it (an int16-window tile for groups
 * of a multiple of 64 levels, one channel by four rows for 32 or 96): g32
 * min 31.7 -> 26.4 and 32.7 -> 22.0 ms symmetric, 39.1 -> 26.7 with zero
 * points; g128 30.1 -> 26.8 symmetric, 28.7 -> 23.2 with zero points. */
INLINE AVX2 void int8_rows_nibbles_avx2(const lowbit_uk_quantized_matmul_f32_params *p,
                                        const quantized_rows *r, const int8_t *split,
                                        const int32_t *block_sums, int64_t b0, int64_t rows) {
  const int64_t slice = 4096; /* levels */
  for (int64_t kb0 = 0; kb0 < p->k; kb0 += slice) {
    int64_t kb1 = min64(p->k, kb0 + slice);
    for (int64_t j = 0; j < p->n; j += 2)
      for (int64_t i = 0; i < rows; i += 3) {
        int mr = (int)min64(3, rows - i), nr = p->n - j >= 2 ? 2 : 1;
#define LOWBIT_TILE(MR, NR)                                                                        \
  case MR * 2 + NR - 1:                                                                            \
    int8_tile_nibbles_avx2(MR, NR, p, r, split, block_sums, b0 + i, i, j, kb0, kb1);               \
    break;
        switch (mr * 2 + nr - 1) {
          LOWBIT_TILE(3, 2)
          LOWBIT_TILE(3, 1)
          LOWBIT_TILE(2, 2)
          LOWBIT_TILE(2, 1)
          LOWBIT_TILE(1, 2)
          LOWBIT_TILE(1, 1)
        }
#undef LOWBIT_TILE
      }
  }
}

/*===--- int8 activations over levels two per byte, many rows (AVX2) -------===*
 *
 * The VNNI group-lane layout (above) with 8 lanes: run r of groups
 * 8 gb .. 8 gb + 7 as 8 vectors of 32 bytes, lane l of vector t holding
 * levels 4t .. 4t + 3 of group 8 gb + l's run, the levels as q - z + 15.
 * vpmaddubsw then vpmaddwd stand for vpdpbusd: pairs of products are at
 * most 2 * 30 * 127 = 7620, far from saturating int16. Groups must be
 * multiples of 32. A channel's runs are transposed as 8 x 8 words with
 * unpacks; the rows' layout is copied lane by lane. (4096 x 4096, one
 * thread, the AVX2 variant on the AVX-512 Xeon, clang-22: 6.0 -> 3.8 ms at
 * 16 rows, 24.7 -> 15.0 ms at 64; about even at 4 rows, slower below.)
 *===----------------------------------------------------------------------===*/

#define AVX2_LANES_MIN_ROWS 4 /* fewer: the tiles over even/odd halves below are faster */
#define AVX2_LANES_MR 4       /* rows by */
#define AVX2_LANES_NR 2       /* channels per tile: 8 int32 accumulators */

typedef struct {
  int64_t runs;           /* runs of 32 levels per group */
  int64_t groups, blocks; /* ceil(k / group_size), ceil(groups / 8) */
  int64_t bytes;          /* one row's or channel's levels laid out */
} avx2_lanes;

INLINE int avx2_lanes_apply(const lowbit_uk_quantized_matmul_f32_params *p) {
  return p->m >= AVX2_LANES_MIN_ROWS && p->level_bits == 4 && p->group_size % 32 == 0 &&
         p->k % 4 == 0 && p->k >= 64 && p->s_col_stride == 1 && (!p->zeros || p->z_col_stride == 1);
}

INLINE avx2_lanes avx2_lanes_of(const lowbit_uk_quantized_matmul_f32_params *p) {
  avx2_lanes al;
  al.runs = p->group_size / 32;
  al.groups = (p->k + p->group_size - 1) / p->group_size;
  al.blocks = (al.groups + 7) / 8;
  al.bytes = al.blocks * al.runs * 8 * 32;
  return al;
}

/* One row's int8 levels (natural order, zero-padded) laid out, and each
 * group's sum of them times -15. */
INLINE AVX2 void lay_out_row_avx2(const lowbit_uk_quantized_matmul_f32_params *p,
                                  const avx2_lanes *al, const int8_t *levels, int8_t *out,
                                  int32_t *offsets) {
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  for (int64_t gb = 0; gb < al->blocks; ++gb) {
    __m256i sums = _mm256_setzero_si256();
    for (int64_t r = 0; r < al->runs; ++r)
      for (int64_t t = 0; t < 8; ++t) {
        int32_t lanes[8];
        for (int l = 0; l < 8; ++l) {
          int64_t at = (8 * gb + l) * p->group_size + 32 * r + 4 * t;
          lanes[l] = 0;
          if (at < p->k)
            memcpy(&lanes[l], levels + at, 4);
        }
        __m256i v = _mm256_loadu_si256((const __m256i *)lanes);
        _mm256_storeu_si256((__m256i *)(out + ((gb * al->runs + r) * 8 + t) * 32), v);
        sums = _mm256_add_epi32(sums, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v), ones16));
      }
    _mm256_storeu_si256((__m256i *)(offsets + gb * 8),
                        _mm256_sub_epi32(sums, _mm256_slli_epi32(sums, 4)));
  }
}

/* Channel j's levels laid out, as unsigned bytes q - z + 15: run r of 8
 * groups (16 bytes each, g / 2 apart; zero past the row) transposed as
 * 8 x 8 words, each word's four nibbles spread to four bytes. */
INLINE AVX2 void lay_out_channel_avx2(const lowbit_uk_quantized_matmul_f32_params *p,
                                      const avx2_lanes *al, int64_t j, uint8_t *out) {
  const int8_t *row = p->q + j * p->q_row_stride;
  const int64_t row_bytes = (p->k + 1) / 2, apart = p->group_size / 2;
  const __m256i order = _mm256_set_epi32(0x0f0d0e0c, 0x0b090a08, 0x07050604, 0x03010200, 0x0f0d0e0c,
                                         0x0b090a08, 0x07050604, 0x03010200);
  const __m256i nibbles = _mm256_set1_epi32(0x0f0f0f0f);
  for (int64_t gb = 0; gb < al->blocks; ++gb) {
    /* The stored nibbles are q + 8: add 7 - z to each of a lane's four bytes. */
    int32_t shift[8];
    for (int l = 0; l < 8; ++l) {
      int64_t g = min64(8 * gb + l, al->groups - 1);
      shift[l] = (7 - (p->zeros ? p->zeros[j * p->z_row_stride + g] : 0)) * 0x01010101;
    }
    __m256i add = _mm256_loadu_si256((const __m256i *)shift);
    for (int64_t r = 0; r < al->runs; ++r) {
      __m128i x[8];
      for (int l = 0; l < 8; ++l) {
        int64_t at = (8 * gb + l) * apart + 16 * r;
        if (at + 16 <= row_bytes) {
          x[l] = _mm_loadu_si128((const __m128i *)(row + at));
        } else {
          uint8_t tail[16] = {0};
          if (at < row_bytes)
            memcpy(tail, row + at, (size_t)(row_bytes - at));
          x[l] = _mm_loadu_si128((const __m128i *)tail);
        }
      }
      /* 8 x 8 words: c[t] holds word t of runs 0 .. 7. */
      __m128i a[8], b[8], c[8];
      for (int l = 0; l < 8; l += 2) {
        a[l] = _mm_unpacklo_epi16(x[l], x[l + 1]);
        a[l + 1] = _mm_unpackhi_epi16(x[l], x[l + 1]);
      }
      for (int h = 0; h < 8; h += 4) {
        b[h] = _mm_unpacklo_epi32(a[h], a[h + 2]);
        b[h + 1] = _mm_unpackhi_epi32(a[h], a[h + 2]);
        b[h + 2] = _mm_unpacklo_epi32(a[h + 1], a[h + 3]);
        b[h + 3] = _mm_unpackhi_epi32(a[h + 1], a[h + 3]);
      }
      for (int q = 0; q < 4; ++q) {
        c[2 * q] = _mm_unpacklo_epi64(b[q], b[q + 4]);
        c[2 * q + 1] = _mm_unpackhi_epi64(b[q], b[q + 4]);
      }
      for (int t = 0; t < 8; ++t) {
        __m256i words = _mm256_cvtepu16_epi32(c[t]);
        __m256i mixed = _mm256_and_si256(_mm256_or_si256(words, _mm256_slli_epi32(words, 12)),
                                         nibbles); /* n0 n2 n1 n3 */
        _mm256_storeu_si256((__m256i *)(out + ((gb * al->runs + r) * 8 + t) * 32),
                            _mm256_add_epi32(_mm256_shuffle_epi8(mixed, order), add));
      }
    }
  }
}

/* C[i0 .. i0 + mr, j0 .. j0 + nr] += over the laid-out rows (x: row i0,
 * row_bytes apart, each followed by its offsets) and channels (w: channel
 * j0, al->bytes apart). */
INLINE AVX2 void avx2_lanes_tile(const int mr, const int nr,
                                 const lowbit_uk_quantized_matmul_f32_params *p,
                                 const avx2_lanes *al, const int8_t *x, int64_t row_bytes,
                                 const float *row_scales, const uint8_t *w, int64_t i0,
                                 int64_t j0) {
  const __m256i ones16 = _mm256_set1_epi16(1);
  __m256 acc[AVX2_LANES_MR][AVX2_LANES_NR];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j)
      acc[i][j] = _mm256_setzero_ps();
  const int64_t per_block = al->runs * 8;
  for (int64_t gb = 0; gb < al->blocks; ++gb) {
    __m256i dot[AVX2_LANES_MR][AVX2_LANES_NR];
    for (int i = 0; i < mr; ++i) {
      __m256i offset = _mm256_loadu_si256((const __m256i *)(x + i * row_bytes + al->bytes) + gb);
      for (int j = 0; j < nr; ++j)
        dot[i][j] = offset;
    }
    const int64_t first = gb * per_block * 32;
    for (int64_t t = 0; t < per_block; ++t) {
      __m256i xs[AVX2_LANES_MR];
      for (int i = 0; i < mr; ++i)
        xs[i] = _mm256_loadu_si256((const __m256i *)(x + i * row_bytes + first + t * 32));
      for (int j = 0; j < nr; ++j) {
        __m256i levels = _mm256_loadu_si256((const __m256i *)(w + j * al->bytes + first + t * 32));
        for (int i = 0; i < mr; ++i)
          dot[i][j] = _mm256_add_epi32(
              dot[i][j], _mm256_madd_epi16(_mm256_maddubs_epi16(levels, xs[i]), ones16));
      }
    }
    __m256i groups = mask8(al->groups - 8 * gb);
    for (int j = 0; j < nr; ++j) {
      __m256 scale = _mm256_maskload_ps(p->scales + (j0 + j) * p->s_row_stride + 8 * gb, groups);
      for (int i = 0; i < mr; ++i)
        acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[i][j]), scale, acc[i][j]);
    }
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) {
      __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[i][j]), _mm256_extractf128_ps(acc[i][j], 1));
      s = _mm_add_ps(s, _mm_movehl_ps(s, s));
      s = _mm_add_ss(s, _mm_movehdup_ps(s));
      p->c[(i0 + i) * p->c_row_stride + j0 + j] += row_scales[i] * _mm_cvtss_f32(s);
    }
}

INLINE AVX2 void avx2_lanes_tiles(const lowbit_uk_quantized_matmul_f32_params *p,
                                  const avx2_lanes *al, const int8_t *x, int64_t row_bytes,
                                  const float *row_scales, const uint8_t *w, int64_t i0, int mr,
                                  int64_t j0, int nr) {
#define AVX2_LANES_TILE(MR, NR)                                                                    \
  case (MR)*4 + (NR):                                                                              \
    avx2_lanes_tile(MR, NR, p, al, x, row_bytes, row_scales, w, i0, j0);                           \
    break;
  switch (mr * 4 + nr) {
    AVX2_LANES_TILE(4, 2)
    AVX2_LANES_TILE(4, 1)
    AVX2_LANES_TILE(3, 2)
    AVX2_LANES_TILE(3, 1)
    AVX2_LANES_TILE(2, 2)
    AVX2_LANES_TILE(2, 1)
    AVX2_LANES_TILE(1, 2)
    AVX2_LANES_TILE(1, 1)
  }
#undef AVX2_LANES_TILE
}

/* As group_lanes_matmul. Returns 0 when the workspace cannot hold a row. */
INLINE AVX2 int avx2_lanes_matmul(const lowbit_uk_quantized_matmul_f32_params *p,
                                  float *workspace) {
  avx2_lanes al = avx2_lanes_of(p);
  int64_t padded_k = (p->k + 63) / 64 * 64;
  int64_t channel_bytes = AVX2_LANES_NR * al.bytes;
  int64_t row_bytes = al.bytes + al.blocks * 32;
  lane_workspace ws = carve_lane_workspace(p, workspace, channel_bytes, padded_k, row_bytes);
  if (ws.block < 1)
    return 0;
  for (int64_t b0 = 0; b0 < p->m; b0 += ws.block) {
    int64_t count = min64(ws.block, p->m - b0);
    for (int64_t i = 0; i < count; ++i) {
      ws.row_scales[i] =
          quantize_row_avx2(p, p->a + (b0 + i) * p->a_row_stride, padded_k, ws.natural);
      lay_out_row_avx2(p, &al, ws.natural, ws.rows + i * row_bytes,
                       (int32_t *)(ws.rows + i * row_bytes + al.bytes));
    }
    for (int64_t j0 = 0; j0 < p->n; j0 += AVX2_LANES_NR) {
      int nr = (int)min64(AVX2_LANES_NR, p->n - j0);
      for (int j = 0; j < nr; ++j)
        lay_out_channel_avx2(p, &al, j0 + j, ws.channels + j * al.bytes);
      for (int64_t i = 0; i < count; i += AVX2_LANES_MR)
        avx2_lanes_tiles(p, &al, ws.rows + i * row_bytes, row_bytes, ws.row_scales + i, ws.channels,
                         b0 + i, (int)min64(AVX2_LANES_MR, count - i), j0, nr);
    }
  }
  return 1;
}

/* The int8 path on AVX2: rows quantized in blocks that fit the workspace;
 * one row by 4 channels (decode), 2 by 2, or up to 4 rows by one channel
 * (each weight vector spread once for all of them), 16 registers. */
AVX2 void lowbit_uk_quantized_matmul_f32_avx2_int8(const lowbit_uk_quantized_matmul_f32_params *p,
                                                   float *workspace) {
  int64_t padded_k = (p->k + 63) / 64 * 64, groups = (p->k + p->group_size - 1) / p->group_size;
  /* Levels two per byte, groups of a multiple of 32, K of 64: the rows'
   * even/odd copies and block sums follow them in the workspace. */
  int split_layout = p->level_bits == 4 && p->group_size % 32 == 0 && p->k % 64 == 0 &&
                     p->s_col_stride == 1 && (!p->zeros || p->z_col_stride == 1);
  int64_t bytes_per_row = padded_k + 4 + 4 * groups + (split_layout ? padded_k + padded_k / 2 : 0);
  int64_t block = min64(p->m, (int64_t)LOWBIT_UK_MATMUL_F32_WORKSPACE * 4 / bytes_per_row / 2 * 2);
  if (block < 1 || p->q_col_stride != 1 || p->a_col_stride != 1 || p->c_col_stride != 1 ||
      (p->level_bits != 8 && p->level_bits != 4) || (p->level_bits == 4 && p->group_size % 2)) {
    lowbit_uk_quantized_matmul_f32_avx2(p, workspace);
    return;
  }
  if (avx2_lanes_apply(p) && avx2_lanes_matmul(p, workspace)) {
    add_outlier_product(p);
    return;
  }
  for (int64_t b0 = 0; b0 < p->m; b0 += block) {
    int64_t rows = min64(block, p->m - b0);
    quantized_rows r = quantize_rows_avx2(p, b0, rows, workspace);
    int64_t j = 0;
    int contiguous = p->s_col_stride == 1 && (!p->zeros || p->z_col_stride == 1);
    if (split_layout) {
      int8_t *split = (int8_t *)(r.sums + rows * r.groups);
      int32_t *sums = (int32_t *)(split + rows * r.padded_k);
      for (int64_t i = 0; i < rows; ++i)
        split_even_odd(r.levels + i * r.padded_k, r.padded_k, split + i * r.padded_k);
      if (rows == 1) {
        float *c = p->c + b0 * p->c_row_stride;
        for (; j < p->n; ++j)
          c[j] += r.scales[0] * int8_row_nibbles_avx2(p, &r, split, 0, j);
      } else {
        for (int64_t i = 0; i < rows; ++i)
          block_sums_avx2(p, &r, i, sums + i * (r.padded_k / 8));
        int8_rows_nibbles_avx2(p, &r, split, sums, b0, rows);
      }
    } else if (rows == 1 && p->group_size % 32 == 0 && contiguous) {
      float *c = p->c + b0 * p->c_row_stride;
      if (p->level_bits == 4)
        for (; j < p->n; ++j)
          c[j] += r.scales[0] * int8_row_avx2(p, &r, 0, j, 1);
      else
        for (; j < p->n; ++j)
          c[j] += r.scales[0] * int8_row_avx2(p, &r, 0, j, 0);
    } else if (rows == 1) {
      for (; j + 4 <= p->n; j += 4)
        int8_tile_avx2(1, 4, p, &r, b0, 0, j);
      for (; j < p->n; ++j)
        int8_tile_avx2(1, 1, p, &r, b0, 0, j);
    } else if (rows == 2) {
      for (; j + 2 <= p->n; j += 2)
        int8_tile_avx2(2, 2, p, &r, b0, 0, j);
      for (; j < p->n; ++j)
        int8_tile_avx2(2, 1, p, &r, b0, 0, j);
    } else {
      for (; j < p->n; ++j)
        for (int64_t i = 0; i < rows; i += 4)
          switch (min64(4, rows - i)) {
          case 4:
            int8_tile_avx2(4, 1, p, &r, b0 + i, i, j);
            break;
          case 3:
            int8_tile_avx2(3, 1, p, &r, b0 + i, i, j);
            break;
          case 2:
            int8_tile_avx2(2, 1, p, &r, b0 + i, i, j);
            break;
          default:
            int8_tile_avx2(1, 1, p, &r, b0 + i, i, j);
            break;
          }
    }
  }
  add_outlier_product(p);
}

/*===--- Dispatch and threads ------------------------------------------------===*/

static void run_variant(const lowbit_uk_quantized_matmul_f32_params *p) {
  int isa = lowbit_uk_isa();
  if (p->activation_bits == 8 && isa == LOWBIT_UK_AVX512_VNNI)
    lowbit_uk_quantized_matmul_f32_vnni(p, lowbit_uk_workspace());
  else if (p->activation_bits == 8 && isa >= LOWBIT_UK_AVX2)
    lowbit_uk_quantized_matmul_f32_avx2_int8(p, lowbit_uk_workspace());
  else if (isa >= LOWBIT_UK_AVX512)
    lowbit_uk_quantized_matmul_f32_avx512(p, lowbit_uk_workspace());
  else if (isa == LOWBIT_UK_AVX2)
    lowbit_uk_quantized_matmul_f32_avx2(p, lowbit_uk_workspace());
  else
    lowbit_uk_quantized_matmul_f32_reference(p);
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
  p.outlier_w += p.outliers ? begin * p.ow_col_stride : 0;
  run_variant(&p);
}

void lowbit_uk_quantized_matmul_f32(int64_t a_address, int64_t a_offset, int64_t a_row_stride,
                                    int64_t a_col_stride, int64_t q_address, int64_t q_offset,
                                    int64_t q_row_stride, int64_t q_col_stride,
                                    int64_t s_address, int64_t s_offset, int64_t s_row_stride,
                                    int64_t s_col_stride, int64_t z_address, int64_t z_offset,
                                    int64_t z_row_stride, int64_t z_col_stride,
                                    int64_t c_address, int64_t c_offset, int64_t c_row_stride,
                                    int64_t c_col_stride, int64_t m, int64_t n, int64_t k,
                                    int64_t group_size, int64_t level_bits,
                                    int64_t activation_bits, int64_t activation_scale_bits,
                                    int64_t oa_address, int64_t oa_offset, int64_t oa_row_stride,
                                    int64_t oa_col_stride, int64_t ow_address, int64_t ow_offset,
                                    int64_t ow_row_stride, int64_t ow_col_stride,
                                    int64_t outliers) {
  if (m <= 0 || n <= 0 || k <= 0 || group_size <= 0)
    return;
  uint32_t scale_bits = (uint32_t)activation_scale_bits;
  float activation_scale;
  memcpy(&activation_scale, &scale_bits, sizeof activation_scale);
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
      group_size,
      level_bits == 4 ? 4 : 8,
      activation_bits == 8 ? 8 : 0,
      activation_scale > 0 ? activation_scale : 0.0f,
      outliers > 0 ? (const float *)(intptr_t)oa_address + oa_offset : NULL,
      oa_row_stride,
      oa_col_stride,
      outliers > 0 ? (const float *)(intptr_t)ow_address + ow_offset : NULL,
      ow_row_stride,
      ow_col_stride,
      outliers > 0 ? outliers : 0};
  /* An instance on the GPU runs the product there when the kernels take it. */
  lowbit_offload *offload = lowbit_current_offload;
  if (offload && lowbit_offload_quantized_matmul(offload, &p))
    return;
  lowbit_pool *pool = lowbit_current_pool;
  int64_t threads = lowbit_pool_size(pool);
  if (threads > 1 && m * n * k >= PARALLEL_WORK) {
    int64_t chunk = thread_chunk(n, threads, 64); /* output channels */
    if (chunk < n) {
      split s = {&p, chunk};
      lowbit_pool_run(pool, (int)((n + chunk - 1) / chunk), run_slice, &s);
      return;
    }
  }
  run_variant(&p);
}
