/*===- MatmulF32.c - fp32 matmul micro-kernels ----------------------------===*
 *
 * C += A * B for the contractions of fp32 models (lowbit-lower-to-ukernels
 * replaces each one with a call to lowbit_uk_matmul_f32).
 *
 * The vectorized variants block in the manner of BLIS. A block of rows of
 * A (at most A_ROWS, all of K) is packed first, MR rows interleaved along
 * k: a tile then reads one stream of A instead of MR rows a whole row of A
 * apart (16 KiB for 4096 columns: the same L1 set for every row). Then for
 * each block of NB columns, down K: B is packed KC rows at a time into
 * column panels NR wide (zero-padded, so the inner loop never tests the
 * edge), and each panel (KC x NR, in L1) serves every row of the block: an
 * MR x NR tile of C is accumulated in registers over the KC rows (one
 * broadcast of A per row and k). The block's rows of C (at most A_ROWS x
 * NB, 120 KiB) stay in L2 from one KC block to the next; a block of all of
 * N's columns went to the last-level cache and back for each. (Measured
 * against that design, 4096 x 4096, one thread, medians of paired runs:
 * 0.98 of its time at 16 rows, 0.97 at 64, 0.96 at 128, 0.90 at 256.)
 * Packing matters for row-major weights: without it, successive rows
 * of a panel are one weight row apart (16 KiB for 4096 columns) and all map
 * to the same L1 set. With few rows of A (decode), packing would cost as
 * much as the product, so those stream B in place instead. A caller may
 * also hand B over as a function that writes one panel at a time (b_pack):
 * the weight-quantized kernel's many-row path, which dequantizes each
 * panel just before the tiles read it.
 *===----------------------------------------------------------------------===*/

#include "UKernels.h"

#include "../ThreadPool.h"
#include "Common.h"

#include <stdlib.h>
#include <string.h>

/* Level i of int4 bytes: nibble i % 2 of byte i / 2, less 8. */
INLINE float nibble_level(const uint8_t *bytes, int64_t i) {
  return (float)((bytes[i >> 1] >> ((i & 1) << 2) & 15) - 8);
}

/* Element (k, j) of prepacked B (j from b_col0). */
INLINE float panel_at(const lowbit_uk_matmul_f32_params *p, int64_t k, int64_t j) {
  return p->b_panels[LOWBIT_UK_PANEL_INDEX(k, p->b_col0 + j, p->k, p->b_panels_width)];
}

/* Element `at` (k * b_row_stride + j * b_col_stride) of B, whichever form
 * it has (not prepacked). */
INLINE float b_at(const lowbit_uk_matmul_f32_params *p, int64_t at) {
  if (p->b_nibbles)
    return nibble_level(p->b_nibbles, p->b_level0 + at);
  return p->b_levels ? (float)p->b_levels[at] : p->b[at];
}

/* Levels [first, first + count) of int4 bytes as floats (vectorized: pairs
 * of levels from whole bytes, an odd first or last one on its own). */
INLINE void nibbles_to_floats(const uint8_t *bytes, int64_t first, int64_t count, float *out) {
  if (count > 0 && (first & 1)) {
    *out++ = nibble_level(bytes, first++);
    --count;
  }
  const uint8_t *b = bytes + first / 2;
  int64_t pairs = count / 2;
  for (int64_t t = 0; t < pairs; ++t) {
    out[2 * t] = (float)((b[t] & 15) - 8);
    out[2 * t + 1] = (float)((b[t] >> 4) - 8);
  }
  if (count & 1)
    out[count - 1] = nibble_level(bytes, first + count - 1);
}

void lowbit_uk_matmul_f32_reference(const lowbit_uk_matmul_f32_params *p) {
  for (int64_t i = 0; i < p->m; ++i)
    for (int64_t j = 0; j < p->n; ++j) {
      float sum = 0;
      for (int64_t k = 0; k < p->k; ++k)
        sum +=
            p->a[i * p->a_row_stride + k * p->a_col_stride] *
            (p->b_panels ? panel_at(p, k, j) : b_at(p, k * p->b_row_stride + j * p->b_col_stride));
      p->c[i * p->c_row_stride + j * p->c_col_stride] += sum;
    }
}

#define KC 256
#define NB 256             /* columns of C per block */
#define A_ROWS 120         /* rows of A (and C) per block: a multiple of 6 and 8 */
#define A_FLOATS (1 << 19) /* a block of A: A_ROWS rows up to K = 4369 */

_Static_assert(LOWBIT_UK_MATMUL_F32_WORKSPACE == KC * NB + A_FLOATS,
               "the workspace holds a packed block of B, then one of A");

/*===--- Register tiles ------------------------------------------------------===*/

/* Where column `col` starts in row k0 of the k0 block of prepacked B
 * (kc rows in that block). */
INLINE const float *prepacked_column(const lowbit_uk_matmul_f32_params *p, int64_t k0, int64_t kc,
                                     int64_t col) {
  return p->b_panels + k0 * p->b_panels_width + col / LOWBIT_UK_PANEL_NR * kc * LOWBIT_UK_PANEL_NR +
         col % LOWBIT_UK_PANEL_NR;
}

/* AVX-512: 8 x 32 tiles (16 accumulators). */
#define MR512 8
#define NR512 32

INLINE AVX512 void tile_avx512(const int mr, int64_t kc, const float *a, int64_t ars, int64_t acs,
                               const float *panel, int64_t ps, float *c, int64_t crs,
                               __mmask16 mask0, __mmask16 mask1, const float *prefetch) {
  __m512 acc[MR512][2];
  for (int i = 0; i < mr; ++i)
    acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    if (prefetch) { /* the next panel's two lines of this k, into L2 */
      _mm_prefetch((const char *)(prefetch + k * ps), _MM_HINT_T1);
      _mm_prefetch((const char *)(prefetch + k * ps + 16), _MM_HINT_T1);
    }
    __m512 b0 = _mm512_loadu_ps(panel + k * ps), b1 = _mm512_loadu_ps(panel + k * ps + 16);
    for (int i = 0; i < mr; ++i) {
      __m512 ai = _mm512_set1_ps(a[i * ars + k * acs]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < mr; ++i) {
    float *row = c + i * crs;
    _mm512_mask_storeu_ps(row, mask0, _mm512_add_ps(_mm512_maskz_loadu_ps(mask0, row), acc[i][0]));
    _mm512_mask_storeu_ps(row + 16, mask1,
                          _mm512_add_ps(_mm512_maskz_loadu_ps(mask1, row + 16), acc[i][1]));
  }
}

/* AVX2: 6 x 16 tiles (12 accumulators). */
#define MR256 6
#define NR256 16

INLINE AVX2 void tile_avx2(const int mr, int64_t kc, const float *a, int64_t ars, int64_t acs,
                           const float *panel, int64_t ps, float *c, int64_t crs, __m256i mask0,
                           __m256i mask1, const float *prefetch) {
  __m256 acc[MR256][2];
  for (int i = 0; i < mr; ++i)
    acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    if (prefetch) /* the next panel's line of this k, into L2 */
      _mm_prefetch((const char *)(prefetch + k * ps), _MM_HINT_T1);
    __m256 b0 = _mm256_loadu_ps(panel + k * ps), b1 = _mm256_loadu_ps(panel + k * ps + 8);
    for (int i = 0; i < mr; ++i) {
      __m256 ai = _mm256_broadcast_ss(a + i * ars + k * acs);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  /* A whole tile with plain stores (masked ones are microcoded on AMD). */
  if (_mm256_movemask_ps(_mm256_castsi256_ps(mask1)) == 0xFF) {
    for (int i = 0; i < mr; ++i) {
      float *row = c + i * crs;
      _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), acc[i][0]));
      _mm256_storeu_ps(row + 8, _mm256_add_ps(_mm256_loadu_ps(row + 8), acc[i][1]));
    }
    return;
  }
  for (int i = 0; i < mr; ++i) {
    float *row = c + i * crs;
    _mm256_maskstore_ps(row, mask0, _mm256_add_ps(_mm256_maskload_ps(row, mask0), acc[i][0]));
    _mm256_maskstore_ps(row + 8, mask1,
                        _mm256_add_ps(_mm256_maskload_ps(row + 8, mask1), acc[i][1]));
  }
}

/* R rows where the tile has them (the switch below covers up to 8 rows;
 * cases beyond MR cannot happen, and compile as 1-row tiles). */
#define ROWS(R, MR) ((R) <= (MR) ? (R) : 1)

/* Levels converted per run, on the stack, by the small-m paths over int4 B. */
#define NIBBLE_RUN 256

/* Few rows of A and B transposed (its k contiguous: attention's K^T):
 * each element of C is a dot product along k, B read once, in memory
 * order. Eight partial sums per dot product, one vector register's lanes,
 * so that the loop vectorizes without reassociating any sum. */
INLINE void small_m_dots(const lowbit_uk_matmul_f32_params *p) {
  int64_t k8 = p->k / 8 * 8;
  for (int64_t j = 0; j < p->n; ++j) {
    int64_t column = j * p->b_col_stride;
    for (int64_t i = 0; i < p->m; ++i) {
      const float *a = p->a + i * p->a_row_stride;
      float lanes[8] = {0};
      if (p->b_nibbles) {
        /* A run of B's column at a time, as floats. */
        float run[NIBBLE_RUN];
        for (int64_t k0 = 0; k0 < k8; k0 += NIBBLE_RUN) {
          int64_t count = min64(NIBBLE_RUN, k8 - k0);
          nibbles_to_floats(p->b_nibbles, p->b_level0 + column + k0, count, run);
          for (int64_t k = 0; k < count; k += 8)
            for (int l = 0; l < 8; ++l)
              lanes[l] += a[k0 + k + l] * run[k + l];
        }
      } else if (p->b_levels) {
        const int8_t *b = p->b_levels + column;
        for (int64_t k = 0; k < k8; k += 8)
          for (int l = 0; l < 8; ++l)
            lanes[l] += a[k + l] * (float)b[k + l];
      } else {
        const float *b = p->b + column;
        for (int64_t k = 0; k < k8; k += 8)
          for (int l = 0; l < 8; ++l)
            lanes[l] += a[k + l] * b[k + l];
      }
      float sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
                  ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
      for (int64_t k = k8; k < p->k; ++k)
        sum += a[k] * b_at(p, column + k);
      p->c[i * p->c_row_stride + j] += sum;
    }
  }
}

/* Few rows of A and int8 levels in B's rows (attention's V): each row of B
 * converted and added into the rows of C, read once, in memory order. */
INLINE void small_m_levels(const lowbit_uk_matmul_f32_params *p) {
  if (p->b_nibbles) {
    /* int4: a run of the row converted once for all the rows of A. */
    float run[NIBBLE_RUN];
    for (int64_t k = 0; k < p->k; ++k)
      for (int64_t j0 = 0; j0 < p->n; j0 += NIBBLE_RUN) {
        int64_t count = min64(NIBBLE_RUN, p->n - j0);
        nibbles_to_floats(p->b_nibbles, p->b_level0 + k * p->b_row_stride + j0, count, run);
        for (int64_t i = 0; i < p->m; ++i) {
          float a = p->a[i * p->a_row_stride + k * p->a_col_stride];
          float *c = p->c + i * p->c_row_stride + j0;
          for (int64_t j = 0; j < count; ++j) /* vectorized */
            c[j] += a * run[j];
        }
      }
    return;
  }
  for (int64_t k = 0; k < p->k; ++k) {
    const int8_t *b = p->b_levels + k * p->b_row_stride;
    for (int64_t i = 0; i < p->m; ++i) {
      float a = p->a[i * p->a_row_stride + k * p->a_col_stride];
      float *c = p->c + i * p->c_row_stride;
      for (int64_t j = 0; j < p->n; ++j) /* vectorized */
        c[j] += a * (float)b[j];
    }
  }
}

/* Few rows of A over prepacked B: each 32-column panel streamed once per
 * two rows, block after block down K, its 32 sums per row in registers. */
INLINE AVX2 void small_m_panels(const lowbit_uk_matmul_f32_params *p) {
  const int64_t NRP = LOWBIT_UK_PANEL_NR;
  for (int64_t j0 = 0; j0 < p->n; j0 += NRP) {
    int64_t col = p->b_col0 + j0, width = min64(NRP, p->n - j0);
    for (int64_t i0 = 0; i0 < p->m; i0 += 2) {
      int rows = p->m - i0 >= 2 ? 2 : 1;
      __m256 acc[2][4];
      for (int i = 0; i < 2; ++i)
        for (int v = 0; v < 4; ++v)
          acc[i][v] = _mm256_setzero_ps();
      for (int64_t k0 = 0; k0 < p->k; k0 += LOWBIT_UK_PANEL_KC) {
        int64_t kc = min64(LOWBIT_UK_PANEL_KC, p->k - k0);
        const float *panel = p->b_panels + k0 * p->b_panels_width + col / NRP * kc * NRP;
        const float *a0 = p->a + i0 * p->a_row_stride + k0 * p->a_col_stride;
        const float *a1 = rows == 2 ? a0 + p->a_row_stride : a0;
        for (int64_t k = 0; k < kc; ++k) {
          const float *b = panel + k * NRP;
          __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), b2 = _mm256_loadu_ps(b + 16),
                 b3 = _mm256_loadu_ps(b + 24);
          __m256 x0 = _mm256_set1_ps(a0[k * p->a_col_stride]);
          acc[0][0] = _mm256_fmadd_ps(x0, b0, acc[0][0]);
          acc[0][1] = _mm256_fmadd_ps(x0, b1, acc[0][1]);
          acc[0][2] = _mm256_fmadd_ps(x0, b2, acc[0][2]);
          acc[0][3] = _mm256_fmadd_ps(x0, b3, acc[0][3]);
          if (rows == 2) {
            __m256 x1 = _mm256_set1_ps(a1[k * p->a_col_stride]);
            acc[1][0] = _mm256_fmadd_ps(x1, b0, acc[1][0]);
            acc[1][1] = _mm256_fmadd_ps(x1, b1, acc[1][1]);
            acc[1][2] = _mm256_fmadd_ps(x1, b2, acc[1][2]);
            acc[1][3] = _mm256_fmadd_ps(x1, b3, acc[1][3]);
          }
        }
      }
      for (int i = 0; i < rows; ++i) {
        float *c = p->c + (i0 + i) * p->c_row_stride + j0;
        for (int v = 0; v < 4; ++v) {
          if (width >= 8 * (v + 1)) {
            _mm256_storeu_ps(c + 8 * v, _mm256_add_ps(_mm256_loadu_ps(c + 8 * v), acc[i][v]));
          } else if (width > 8 * v) {
            __m256i mask = mask8(width - 8 * v);
            _mm256_maskstore_ps(c + 8 * v, mask,
                                _mm256_add_ps(_mm256_maskload_ps(c + 8 * v, mask), acc[i][v]));
          }
        }
      }
    }
  }
}

/* The variant for one instruction set: the decode path (SMALL_M_KERNEL)
 * for few rows of A, else C += A * B: blocks of A's rows packed by pack_a
 * into the workspace after B's block; for each, blocks of NB columns of B
 * packed by pack_b, KC rows at a time, into `workspace`, each NR-wide
 * panel serving every MR rows of the block. */
#define DEFINE_F32_VARIANT(NAME, TARGET, MR, NR, MASK_T, MASK, TILE, SMALL_M_KERNEL)               \
  TARGET void NAME(const lowbit_uk_matmul_f32_params *p, float *workspace) {                       \
    if (p->b_panels && (p->c_col_stride != 1 || p->b_col0 % LOWBIT_UK_PANEL_NR != 0 ||             \
                        NR > LOWBIT_UK_PANEL_NR)) {                                                \
      lowbit_uk_matmul_f32_reference(p);                                                           \
      return;                                                                                      \
    }                                                                                              \
    if (p->b_panels && p->m <= SMALL_M) {                                                          \
      small_m_panels(p);                                                                           \
      return;                                                                                      \
    }                                                                                              \
    /* Few rows of A over B in memory (neither prepacked nor written by */                         \
    /* b_pack): B streamed in place.                                     */                        \
    if (p->m <= SMALL_M && !p->b_panels && !p->b_pack) {                                           \
      if (p->b_row_stride == 1 && p->b_col_stride != 1 && p->a_col_stride == 1 &&                  \
          p->c_col_stride == 1) {                                                                  \
        small_m_dots(p);                                                                           \
        return;                                                                                    \
      }                                                                                            \
      if ((p->b_levels || p->b_nibbles) && p->b_col_stride == 1 && p->c_col_stride == 1) {         \
        small_m_levels(p);                                                                         \
        return;                                                                                    \
      }                                                                                            \
      if (!p->b_levels && !p->b_nibbles && p->b_col_stride == 1 && p->c_col_stride == 1) {         \
        switch (p->m) {                                                                            \
        case 1:                                                                                    \
          SMALL_M_KERNEL(1, p);                                                                    \
          return;                                                                                  \
        case 2:                                                                                    \
          SMALL_M_KERNEL(2, p);                                                                    \
          return;                                                                                  \
        case 3:                                                                                    \
          SMALL_M_KERNEL(3, p);                                                                    \
          return;                                                                                  \
        case 4:                                                                                    \
          SMALL_M_KERNEL(4, p);                                                                    \
          return;                                                                                  \
        default:                                                                                   \
          return;                                                                                  \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
    if (p->c_col_stride != 1) {                                                                    \
      lowbit_uk_matmul_f32_reference(p);                                                           \
      return;                                                                                      \
    }                                                                                              \
    /* Rows of A per block: as many as fit A_FLOATS (all of K), at most */                         \
    /* A_ROWS, a multiple of MR; an A too deep to pack MR rows of is */                            \
    /* read in place. */                                                                           \
    int64_t fit = A_FLOATS / p->k / MR * MR;                                                       \
    int pack_a_rows = fit >= MR;                                                                   \
    int64_t block_rows = pack_a_rows ? min64(p->m, min64(A_ROWS, fit)) : p->m;                     \
    float *a_block = workspace + KC * NB;                                                          \
    for (int64_t r0 = 0; r0 < p->m; r0 += block_rows) {                                            \
      int64_t rows = min64(block_rows, p->m - r0);                                                 \
      float *c_rows = p->c + r0 * p->c_row_stride;                                                 \
      /* k block k0 of these rows at a_block + k0 * rows */                                        \
      for (int64_t k0 = 0; pack_a_rows && k0 < p->k; k0 += KC)                                     \
        pack_a(p, r0, rows, k0, min64(KC, p->k - k0), MR, a_block + k0 * rows);                    \
      for (int64_t j0 = 0; j0 < p->n; j0 += NB) {                                                  \
        int64_t nc = min64(NB, p->n - j0);                                                         \
        for (int64_t k0 = 0; k0 < p->k; k0 += KC) {                                                \
          int64_t kc = min64(KC, p->k - k0);                                                       \
          if (!p->b_panels && !p->b_pack)                                                          \
            pack_block(p, k0, j0, kc, nc, NR, workspace);                                          \
          for (int64_t jp = 0; jp < nc; jp += NR) {                                                \
            MASK_T m0 = MASK(nc - jp), m1 = MASK(nc - jp - NR / 2);                                \
            /* The packed block, or the prepacked panel holding these NR */                        \
            /* columns (NR divides the panel width). */                                            \
            const float *panel = workspace + jp * kc, *next = workspace + (jp + NR) * kc;          \
            int64_t ps = NR;                                                                       \
            if (p->b_panels) {                                                                     \
              int64_t col = p->b_col0 + j0 + jp;                                                   \
              panel = prepacked_column(p, k0, kc, col);                                            \
              next = prepacked_column(p, k0, kc, col + NR);                                        \
              ps = LOWBIT_UK_PANEL_NR;                                                             \
            }                                                                                      \
            if (p->b_pack) { /* this panel alone, written just before its use */                   \
              p->b_pack(p->b_pack_context, k0, j0 + jp, kc, min64(NR, nc - jp), NR, workspace);    \
              panel = workspace;                                                                   \
              next = NULL;                                                                         \
            }                                                                                      \
            /* The first row tile fetches the next NR columns' panel into */                       \
            /* L2 while it streams this one from memory (measured: 64 rows */                      \
            /* of a 4096 x 4096 weight 10-20 % faster, 128 rows no slower). */                     \
            if (jp + NR >= nc)                                                                     \
              next = NULL;                                                                         \
            for (int64_t i0 = 0; i0 < rows; i0 += MR) {                                            \
              /* Tile i0's rows of A, packed (element (i, k) at a[k * r + */                       \
              /* i], r the rows in the tile) or in place. */                                       \
              int64_t r = min64(MR, rows - i0), crs = p->c_row_stride;                             \
              const float *a = a_block + k0 * rows + i0 * kc;                                      \
              int64_t ars = 1, acs = r;                                                            \
              if (!pack_a_rows) {                                                                  \
                a = p->a + (r0 + i0) * p->a_row_stride + k0 * p->a_col_stride;                     \
                ars = p->a_row_stride;                                                             \
                acs = p->a_col_stride;                                                             \
              }                                                                                    \
              float *c = c_rows + i0 * crs + j0 + jp;                                              \
              if (i0 == 0 && next && rows >= MR) { /* a full tile that prefetches */               \
                TILE(MR, kc, a, ars, acs, panel, ps, c, crs, m0, m1, next);                        \
                continue;                                                                          \
              }                                                                                    \
              /* The rest with a constant NULL: the same code as without. */                       \
              switch (r) {                                                                         \
              case 8:                                                                              \
                TILE(ROWS(8, MR), kc, a, ars, acs, panel, ps, c, crs, m0, m1, NULL);               \
                break;                                                                             \
              case 7:                                                                              \
                TILE(ROWS(7, MR), kc, a, ars, acs, panel, ps, c, crs, m0, m1, NULL);               \
                break;                                                                             \
              case 6:                                                                              \
                TILE(ROWS(6, MR), kc, a, ars, acs, panel, ps, c, crs, m0, m1, NULL);               \
                break;                                                                             \
              case 5:                                                                              \
                TILE(ROWS(5, MR), kc, a, ars, acs, panel, ps, c, crs, m0, m1, NULL);               \
                break;                                                                             \
              case 4:                                                                              \
                TILE(ROWS(4, MR), kc, a, ars, acs, panel, ps, c, crs, m0, m1, NULL);               \
                break;                                                                             \
              case 3:                                                                              \
                TILE(ROWS(3, MR), kc, a, ars, acs, panel, ps, c, crs, m0, m1, NULL);               \
                break;                                                                             \
              case 2:                                                                              \
                TILE(ROWS(2, MR), kc, a, ars, acs, panel, ps, c, crs, m0, m1, NULL);               \
                break;                                                                             \
              default:                                                                             \
                TILE(1, kc, a, ars, acs, panel, ps, c, crs, m0, m1, NULL);                         \
                break;                                                                             \
              }                                                                                    \
            }                                                                                      \
          }                                                                                        \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
  }

/* Packs rows [0, kc) and columns [0, nc) of b into panels of nr columns:
 * panel q holds element (k, q * nr + j) at out[q * kc * nr + k * nr + j].
 * Row-major B is read a row segment at a time, in memory order. */
/* Row k of the block (nc contiguous floats) into its place in every panel. */
INLINE void spread_row(const float *row, int64_t k, int64_t kc, int64_t nc, const int64_t nr,
                       float *out) {
  int64_t full = nc / nr * nr;
  for (int64_t j0 = 0; j0 < full; j0 += nr)
    for (int64_t j = 0; j < nr; ++j) /* vectorized: nr is a constant */
      out[j0 * kc + k * nr + j] = row[j0 + j];
  for (int64_t j = 0; j < nr; ++j)
    if (full < nc)
      out[full * kc + k * nr + j] = full + j < nc ? row[full + j] : 0.0f;
}

INLINE void pack_b(const float *b, int64_t row_stride, int64_t col_stride, int64_t kc, int64_t nc,
                   const int64_t nr, float *out) {
  if (col_stride == 1) {
    for (int64_t k = 0; k < kc; ++k)
      spread_row(b + k * row_stride, k, kc, nc, nr, out);
    return;
  }
  /* Transposed B: walk each column along its own stride. */
  for (int64_t j0 = 0; j0 < nc; j0 += nr, out += kc * nr)
    for (int64_t j = 0; j < nr; ++j)
      for (int64_t k = 0; k < kc; ++k)
        out[k * nr + j] = j0 + j < nc ? b[k * row_stride + (j0 + j) * col_stride] : 0.0f;
}

/* pack_b for int8 levels, each converted exactly to float. */
INLINE void pack_b_levels(const int8_t *b, int64_t row_stride, int64_t col_stride, int64_t kc,
                          int64_t nc, const int64_t nr, float *out) {
  int64_t full = nc / nr * nr;
  if (col_stride == 1) {
    for (int64_t k = 0; k < kc; ++k) {
      const int8_t *row = b + k * row_stride;
      for (int64_t j0 = 0; j0 < full; j0 += nr)
        for (int64_t j = 0; j < nr; ++j) /* vectorized: nr is a constant */
          out[j0 * kc + k * nr + j] = (float)row[j0 + j];
      for (int64_t j = 0; j < nr; ++j)
        if (full < nc)
          out[full * kc + k * nr + j] = full + j < nc ? (float)row[full + j] : 0.0f;
    }
    return;
  }
  for (int64_t j0 = 0; j0 < nc; j0 += nr, out += kc * nr)
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t j = 0; j < nr; ++j)
        out[k * nr + j] = j0 + j < nc ? (float)b[k * row_stride + (j0 + j) * col_stride] : 0.0f;
}

/* pack_b for int4 levels (element (k, j) level first + k * row_stride + j *
 * col_stride), each converted exactly to float. */
INLINE void pack_b_nibbles(const uint8_t *bytes, int64_t first, int64_t row_stride,
                           int64_t col_stride, int64_t kc, int64_t nc, const int64_t nr,
                           float *out) {
  float run[NIBBLE_RUN];
  if (col_stride == 1 && nc <= NIBBLE_RUN) {
    /* Rows of levels (V): each row's run converted once, then spread. */
    for (int64_t k = 0; k < kc; ++k) {
      nibbles_to_floats(bytes, first + k * row_stride, nc, run);
      spread_row(run, k, kc, nc, nr, out);
    }
    return;
  }
  if (row_stride == 1 && kc <= NIBBLE_RUN) {
    /* Columns of levels (K^T): each column's run converted once. */
    for (int64_t j0 = 0; j0 < nc; j0 += nr, out += kc * nr)
      for (int64_t j = 0; j < nr; ++j) {
        if (j0 + j < nc)
          nibbles_to_floats(bytes, first + (j0 + j) * col_stride, kc, run);
        for (int64_t k = 0; k < kc; ++k)
          out[k * nr + j] = j0 + j < nc ? run[k] : 0.0f;
      }
    return;
  }
  for (int64_t j0 = 0; j0 < nc; j0 += nr, out += kc * nr)
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t j = 0; j < nr; ++j)
        out[k * nr + j] = j0 + j < nc
                              ? nibble_level(bytes, first + k * row_stride + (j0 + j) * col_stride)
                              : 0.0f;
}

/* Packs rows [r0, r0 + rows) and columns [k0, k0 + kc) of A in tiles of
 * mr rows (the last may have fewer, r): a tile's element (i, k) goes to
 * out[i0 * kc + k * r + i], i0 its first row. */
INLINE void pack_a(const lowbit_uk_matmul_f32_params *p, int64_t r0, int64_t rows, int64_t k0,
                   int64_t kc, const int64_t mr, float *out) {
  for (int64_t i0 = 0; i0 < rows; i0 += mr) {
    int64_t r = min64(mr, rows - i0);
    const float *a = p->a + (r0 + i0) * p->a_row_stride + k0 * p->a_col_stride;
    float *tile = out + i0 * kc;
    for (int64_t i = 0; i < r; ++i)
      for (int64_t k = 0; k < kc; ++k)
        tile[k * r + i] = a[i * p->a_row_stride + k * p->a_col_stride];
  }
}

/* Packs the kc x nc block of B at (k0, j0), f32, int8 or int4 levels. */
INLINE void pack_block(const lowbit_uk_matmul_f32_params *p, int64_t k0, int64_t j0, int64_t kc,
                       int64_t nc, const int64_t nr, float *out) {
  int64_t at = k0 * p->b_row_stride + j0 * p->b_col_stride;
  if (p->b_nibbles)
    pack_b_nibbles(p->b_nibbles, p->b_level0 + at, p->b_row_stride, p->b_col_stride, kc, nc, nr,
                   out);
  else if (p->b_levels)
    pack_b_levels(p->b_levels + at, p->b_row_stride, p->b_col_stride, kc, nc, nr, out);
  else
    pack_b(p->b + at, p->b_row_stride, p->b_col_stride, kc, nc, nr, out);
}

/*===--- AVX-512 -------------------------------------------------------------===*/

/* Few rows of A: B is read in place, row after row in memory order, four
 * rows at a time; the rows of C stay in cache and are updated once per four
 * rows of B. */
INLINE AVX512 void small_m_avx512(const int mr, const lowbit_uk_matmul_f32_params *p) {
  const int64_t brs = p->b_row_stride;
  for (int64_t k = 0; k < p->k; k += 4) {
    int64_t rows = min64(4, p->k - k);
    float a[SMALL_M][4] = {{0}};
    for (int i = 0; i < mr; ++i)
      for (int64_t r = 0; r < rows; ++r)
        a[i][r] = p->a[i * p->a_row_stride + (k + r) * p->a_col_stride];
    /* Missing rows read row 0 again, times a zero coefficient. */
    const float *b0 = p->b + k * brs, *b1 = b0 + (rows > 1 ? brs : 0),
                *b2 = b0 + (rows > 2 ? 2 * brs : 0), *b3 = b0 + (rows > 3 ? 3 * brs : 0);
    for (int64_t j = 0; j < p->n; j += 16) {
      __mmask16 mask = mask16(p->n - j);
      __m512 v0 = _mm512_maskz_loadu_ps(mask, b0 + j), v1 = _mm512_maskz_loadu_ps(mask, b1 + j),
             v2 = _mm512_maskz_loadu_ps(mask, b2 + j), v3 = _mm512_maskz_loadu_ps(mask, b3 + j);
      for (int i = 0; i < mr; ++i) {
        float *c = p->c + i * p->c_row_stride + j;
        __m512 sum = _mm512_maskz_loadu_ps(mask, c);
        sum = _mm512_fmadd_ps(_mm512_set1_ps(a[i][0]), v0, sum);
        sum = _mm512_fmadd_ps(_mm512_set1_ps(a[i][1]), v1, sum);
        sum = _mm512_fmadd_ps(_mm512_set1_ps(a[i][2]), v2, sum);
        sum = _mm512_fmadd_ps(_mm512_set1_ps(a[i][3]), v3, sum);
        _mm512_mask_storeu_ps(c, mask, sum);
      }
    }
  }
}

DEFINE_F32_VARIANT(lowbit_uk_matmul_f32_avx512, AVX512, MR512, NR512, __mmask16, mask16,
                   tile_avx512, small_m_avx512)

/*===--- AVX2 ----------------------------------------------------------------===*/

INLINE AVX2 void small_m_avx2(const int mr, const lowbit_uk_matmul_f32_params *p) {
  const int64_t brs = p->b_row_stride, full = p->n / 8 * 8;
  for (int64_t k = 0; k < p->k; k += 4) {
    int64_t rows = min64(4, p->k - k);
    __m256 a[SMALL_M][4];
    for (int i = 0; i < mr; ++i)
      for (int64_t r = 0; r < 4; ++r)
        a[i][r] =
            _mm256_set1_ps(r < rows ? p->a[i * p->a_row_stride + (k + r) * p->a_col_stride] : 0.0f);
    const float *b0 = p->b + k * brs, *b1 = b0 + (rows > 1 ? brs : 0),
                *b2 = b0 + (rows > 2 ? 2 * brs : 0), *b3 = b0 + (rows > 3 ? 3 * brs : 0);
    /* Whole vectors with plain loads and stores (masked stores are slow on
     * some CPUs: microcoded on AMD's), then the masked tail. */
    for (int64_t j = 0; j < full; j += 8) {
      __m256 v0 = _mm256_loadu_ps(b0 + j), v1 = _mm256_loadu_ps(b1 + j),
             v2 = _mm256_loadu_ps(b2 + j), v3 = _mm256_loadu_ps(b3 + j);
      for (int i = 0; i < mr; ++i) {
        float *c = p->c + i * p->c_row_stride + j;
        __m256 sum = _mm256_loadu_ps(c);
        sum = _mm256_fmadd_ps(a[i][0], v0, sum);
        sum = _mm256_fmadd_ps(a[i][1], v1, sum);
        sum = _mm256_fmadd_ps(a[i][2], v2, sum);
        sum = _mm256_fmadd_ps(a[i][3], v3, sum);
        _mm256_storeu_ps(c, sum);
      }
    }
    if (full < p->n) {
      __m256i mask = mask8(p->n - full);
      __m256 v0 = _mm256_maskload_ps(b0 + full, mask), v1 = _mm256_maskload_ps(b1 + full, mask),
             v2 = _mm256_maskload_ps(b2 + full, mask), v3 = _mm256_maskload_ps(b3 + full, mask);
      for (int i = 0; i < mr; ++i) {
        float *c = p->c + i * p->c_row_stride + full;
        __m256 sum = _mm256_maskload_ps(c, mask);
        sum = _mm256_fmadd_ps(a[i][0], v0, sum);
        sum = _mm256_fmadd_ps(a[i][1], v1, sum);
        sum = _mm256_fmadd_ps(a[i][2], v2, sum);
        sum = _mm256_fmadd_ps(a[i][3], v3, sum);
        _mm256_maskstore_ps(c, mask, sum);
      }
    }
  }
}

DEFINE_F32_VARIANT(lowbit_uk_matmul_f32_avx2, AVX2, MR256, NR256, __m256i, mask8, tile_avx2,
                   small_m_avx2)

/*===--- Dispatch ---------------------------------------------------------===*/

static int detect_isa(void) {
  int best = LOWBIT_UK_REFERENCE;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    best = LOWBIT_UK_AVX2;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw"))
    best = __builtin_cpu_supports("avx512vnni") ? LOWBIT_UK_AVX512_VNNI : LOWBIT_UK_AVX512;
  static const struct { const char *name; int isa; } caps[] = {
      {"reference", LOWBIT_UK_REFERENCE}, {"avx2", LOWBIT_UK_AVX2}, {"avx512", LOWBIT_UK_AVX512}};
  const char *cap = getenv("LOWBIT_UKERNELS");
  for (size_t i = 0; cap && i < sizeof caps / sizeof caps[0]; ++i)
    if (strcmp(cap, caps[i].name) == 0 && best > caps[i].isa)
      best = caps[i].isa;
  return best;
}

int lowbit_uk_isa(void) {
  static int cached = 0; /* a benign race: every thread computes the same */
  int isa = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (isa == 0) {
    isa = detect_isa();
    __atomic_store_n(&cached, isa, __ATOMIC_RELAXED);
  }
  return isa;
}

const char *lowbit_uk_matmul_f32_variant(void) {
  int isa = lowbit_uk_isa();
  return isa >= LOWBIT_UK_AVX512 ? "avx512" : isa == LOWBIT_UK_AVX2 ? "avx2" : "reference";
}

/* One packed-B block per thread; thread-local storage of a shared library is
 * allocated by the C library on a thread's first use. */
static _Thread_local float workspace[LOWBIT_UK_MATMUL_F32_WORKSPACE]
    __attribute__((aligned(64)));

float *lowbit_uk_workspace(void) { return workspace; }

static void run_variant(const lowbit_uk_matmul_f32_params *p) {
  int isa = lowbit_uk_isa();
  if (isa >= LOWBIT_UK_AVX512)
    lowbit_uk_matmul_f32_avx512(p, workspace);
  else if (isa == LOWBIT_UK_AVX2)
    lowbit_uk_matmul_f32_avx2(p, workspace);
  else
    lowbit_uk_matmul_f32_reference(p);
}

/* A slice of a product for one thread: columns [begin, end) of B and C, or
 * rows of A and C. */
typedef struct {
  const lowbit_uk_matmul_f32_params *whole;
  int64_t chunk;
  int by_rows;
} split;

static void run_slice(void *context, int index) {
  const split *s = context;
  lowbit_uk_matmul_f32_params p = *s->whole;
  int64_t begin = index * s->chunk;
  if (s->by_rows) {
    p.m = min64(s->chunk, p.m - begin);
    p.a += begin * p.a_row_stride;
    p.c += begin * p.c_row_stride;
  } else {
    p.n = min64(s->chunk, p.n - begin);
    if (p.b_panels)
      p.b_col0 += begin;
    else if (p.b_nibbles)
      p.b_level0 += begin * p.b_col_stride;
    else if (p.b_levels)
      p.b_levels += begin * p.b_col_stride;
    else
      p.b += begin * p.b_col_stride;
    p.c += begin * p.c_col_stride;
  }
  run_variant(&p);
}

/* Runs `p` on the current thread pool when it is worth splitting. */
static void run_parallel(lowbit_uk_matmul_f32_params p) {
  if (p.m <= 0 || p.n <= 0 || p.k <= 0)
    return;
  lowbit_pool *pool = lowbit_current_pool;
  int64_t threads = lowbit_pool_size(pool);
  if (threads > 1 && p.m * p.n * p.k >= PARALLEL_WORK) {
    /* Columns, in multiples of 64 (whole register tiles), so that every
     * thread streams its own part of B; rows (multiples of 8) when B is too
     * narrow to share. */
    int64_t columns = thread_chunk(p.n, threads, 64), rows = thread_chunk(p.m, threads, 8);
    split s = {&p, columns, 0};
    if (columns < p.n)
      lowbit_pool_run(pool, (int)((p.n + columns - 1) / columns), run_slice, &s);
    else if (rows < p.m) {
      s.chunk = rows;
      s.by_rows = 1;
      lowbit_pool_run(pool, (int)((p.m + rows - 1) / rows), run_slice, &s);
    } else
      run_variant(&p);
    return;
  }
  run_variant(&p);
}

/* The parameters with A and C from the entry points' integers; B is each
 * entry point's own. */
static lowbit_uk_matmul_f32_params with_a_and_c(int64_t a_address, int64_t a_offset,
                                                int64_t a_row_stride, int64_t a_col_stride,
                                                int64_t c_address, int64_t c_offset,
                                                int64_t c_row_stride, int64_t c_col_stride,
                                                int64_t m, int64_t n, int64_t k) {
  lowbit_uk_matmul_f32_params p = {0};
  p.a = (const float *)(intptr_t)a_address + a_offset;
  p.a_row_stride = a_row_stride;
  p.a_col_stride = a_col_stride;
  p.c = (float *)(intptr_t)c_address + c_offset;
  p.c_row_stride = c_row_stride;
  p.c_col_stride = c_col_stride;
  p.m = m;
  p.n = n;
  p.k = k;
  return p;
}

/* Batch items [index * per, (index + 1) * per) of a batched product, each
 * on this thread alone. */
typedef struct {
  const lowbit_uk_matmul_f32_params *first;
  int64_t count, per, a_stride, b_stride, c_stride;
} batch_split;

/* Item i of a batched product: item 0's parameters moved i strides. */
static lowbit_uk_matmul_f32_params batch_item(const lowbit_uk_matmul_f32_params *first, int64_t i,
                                              int64_t a_stride, int64_t b_stride,
                                              int64_t c_stride) {
  lowbit_uk_matmul_f32_params p = *first;
  p.a += i * a_stride;
  p.c += i * c_stride;
  if (p.b_nibbles)
    p.b_level0 += i * b_stride;
  else if (p.b_levels)
    p.b_levels += i * b_stride;
  else
    p.b += i * b_stride;
  return p;
}

static void run_batch_slice(void *context, int index) {
  const batch_split *s = context;
  for (int64_t i = index * s->per, end = min64(s->count, (index + 1) * s->per); i < end; ++i) {
    lowbit_uk_matmul_f32_params p = batch_item(s->first, i, s->a_stride, s->b_stride, s->c_stride);
    if (p.m > 0 && p.n > 0 && p.k > 0)
      run_variant(&p);
  }
}

void lowbit_uk_matmul_f32_batched(int64_t kind, int64_t count, int64_t a_batch_stride,
                                  int64_t b_batch_stride, int64_t c_batch_stride, int64_t a_address,
                                  int64_t a_offset, int64_t a_row_stride, int64_t a_col_stride,
                                  int64_t b_address, int64_t b_offset, int64_t b_row_stride,
                                  int64_t b_col_stride, int64_t c_address, int64_t c_offset,
                                  int64_t c_row_stride, int64_t c_col_stride, int64_t m, int64_t n,
                                  int64_t k) {
  lowbit_uk_matmul_f32_params p =
      with_a_and_c(a_address, a_offset, a_row_stride, a_col_stride, c_address, c_offset,
                   c_row_stride, c_col_stride, m, n, k);
  p.b_row_stride = b_row_stride;
  p.b_col_stride = b_col_stride;
  if (kind == LOWBIT_UK_B_I4) {
    p.b_nibbles = (const uint8_t *)(intptr_t)b_address;
    p.b_level0 = b_offset;
  } else if (kind == LOWBIT_UK_B_I8) {
    p.b_levels = (const int8_t *)(intptr_t)b_address + b_offset;
  } else {
    p.b = (const float *)(intptr_t)b_address + b_offset;
  }
  lowbit_pool *pool = lowbit_current_pool;
  int64_t threads = lowbit_pool_size(pool);
  if (threads > 1 && count > 1 && m * n * k < PARALLEL_WORK &&
      count * m * n * k >= PARALLEL_WORK / 8) {
    /* Small products (attention's per head): whole items per thread. */
    batch_split s = {
        &p, count, (count + threads - 1) / threads, a_batch_stride, b_batch_stride, c_batch_stride};
    lowbit_pool_run(pool, (int)((count + s.per - 1) / s.per), run_batch_slice, &s);
    return;
  }
  for (int64_t i = 0; i < count; ++i)
    run_parallel(batch_item(&p, i, a_batch_stride, b_batch_stride, c_batch_stride));
}

/* The single products: a batch of one. */
void lowbit_uk_matmul_f32(int64_t a_address, int64_t a_offset, int64_t a_row_stride,
                          int64_t a_col_stride, int64_t b_address, int64_t b_offset,
                          int64_t b_row_stride, int64_t b_col_stride, int64_t c_address,
                          int64_t c_offset, int64_t c_row_stride, int64_t c_col_stride, int64_t m,
                          int64_t n, int64_t k) {
  lowbit_uk_matmul_f32_batched(LOWBIT_UK_B_F32, 1, 0, 0, 0, a_address, a_offset, a_row_stride,
                               a_col_stride, b_address, b_offset, b_row_stride, b_col_stride,
                               c_address, c_offset, c_row_stride, c_col_stride, m, n, k);
}

void lowbit_uk_matmul_f32_i8(int64_t a_address, int64_t a_offset, int64_t a_row_stride,
                             int64_t a_col_stride, int64_t b_address, int64_t b_offset,
                             int64_t b_row_stride, int64_t b_col_stride, int64_t c_address,
                             int64_t c_offset, int64_t c_row_stride, int64_t c_col_stride,
                             int64_t m, int64_t n, int64_t k) {
  lowbit_uk_matmul_f32_batched(LOWBIT_UK_B_I8, 1, 0, 0, 0, a_address, a_offset, a_row_stride,
                               a_col_stride, b_address, b_offset, b_row_stride, b_col_stride,
                               c_address, c_offset, c_row_stride, c_col_stride, m, n, k);
}

void lowbit_uk_matmul_f32_i4(int64_t a_address, int64_t a_offset, int64_t a_row_stride,
                             int64_t a_col_stride, int64_t b_address, int64_t b_offset,
                             int64_t b_row_stride, int64_t b_col_stride, int64_t c_address,
                             int64_t c_offset, int64_t c_row_stride, int64_t c_col_stride,
                             int64_t m, int64_t n, int64_t k) {
  lowbit_uk_matmul_f32_batched(LOWBIT_UK_B_I4, 1, 0, 0, 0, a_address, a_offset, a_row_stride,
                               a_col_stride, b_address, b_offset, b_row_stride, b_col_stride,
                               c_address, c_offset, c_row_stride, c_col_stride, m, n, k);
}

void lowbit_uk_matmul_f32_panels(int64_t a_address, int64_t a_offset, int64_t a_row_stride,
                                 int64_t a_col_stride, int64_t b_address, int64_t c_address,
                                 int64_t c_offset, int64_t c_row_stride, int64_t c_col_stride,
                                 int64_t m, int64_t n, int64_t k) {
  lowbit_uk_matmul_f32_params p =
      with_a_and_c(a_address, a_offset, a_row_stride, a_col_stride, c_address, c_offset,
                   c_row_stride, c_col_stride, m, n, k);
  p.b_panels = (const float *)(intptr_t)b_address;
  p.b_panels_width = (n + LOWBIT_UK_PANEL_NR - 1) / LOWBIT_UK_PANEL_NR * LOWBIT_UK_PANEL_NR;
  run_parallel(p);
}
