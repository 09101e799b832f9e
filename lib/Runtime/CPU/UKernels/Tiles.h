/*===- Tiles.h - What the fp32-activation kernels share --------------------===*
 *
 * Internal to UKernels/: blocking constants, lane masks and target
 * attributes (used by MatmulF32.c and QuantizedMatmulF32.c), and the
 * packed-B driver with its register tiles, which takes the packing step as a
 * callback (MatmulF32.c packs fp32 B with it). Every function is static and
 * compiled for its instruction set by target attributes; the callers check
 * the CPU first.
 *===----------------------------------------------------------------------===*/

#ifndef LOWBIT_RUNTIME_CPU_UKERNELS_TILES_H
#define LOWBIT_RUNTIME_CPU_UKERNELS_TILES_H

#include <immintrin.h>
#include <stdint.h>

#define KC 256
#define NC 4096
/* Rows of A up to which B is streamed in place rather than packed. */
#define SMALL_M 4

#define INLINE static inline __attribute__((always_inline))

static int64_t min64(int64_t x, int64_t y) { return x < y ? x : y; }

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,fma")))
#define MR512 8
#define NR512 32

INLINE AVX512 void tile_avx512(const int mr, int64_t kc, const float *a, int64_t ars,
                               int64_t acs, const float *panel, float *c, int64_t crs,
                               __mmask16 mask0, __mmask16 mask1) {
  __m512 acc[MR512][2];
  for (int i = 0; i < mr; ++i)
    acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b0 = _mm512_load_ps(panel + k * NR512), b1 = _mm512_load_ps(panel + k * NR512 + 16);
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

static __mmask16 mask16(int64_t width) {
  return width >= 16 ? (__mmask16)0xffff : width <= 0 ? 0 : (__mmask16)((1u << width) - 1);
}

#define AVX2 __attribute__((target("avx2,fma")))
#define MR256 6
#define NR256 16

/* Lanes [0, width) of an 8-lane mask for maskload/maskstore. */
INLINE AVX2 __m256i mask8(int64_t width) {
  int64_t w = width < 0 ? 0 : width > 8 ? 8 : width;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)w), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

INLINE AVX2 void tile_avx2(const int mr, int64_t kc, const float *a, int64_t ars, int64_t acs,
                           const float *panel, float *c, int64_t crs, __m256i mask0,
                           __m256i mask1) {
  __m256 acc[MR256][2];
  for (int i = 0; i < mr; ++i)
    acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b0 = _mm256_load_ps(panel + k * NR256), b1 = _mm256_load_ps(panel + k * NR256 + 8);
    for (int i = 0; i < mr; ++i) {
      __m256 ai = _mm256_broadcast_ss(a + i * ars + k * acs);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < mr; ++i) {
    float *row = c + i * crs;
    _mm256_maskstore_ps(row, mask0, _mm256_add_ps(_mm256_maskload_ps(row, mask0), acc[i][0]));
    _mm256_maskstore_ps(row + 8, mask1,
                        _mm256_add_ps(_mm256_maskload_ps(row + 8, mask1), acc[i][1]));
  }
}


/* Packs rows [k0, k0 + kc) and columns [j0, j0 + nc) of the virtual fp32
 * matrix B into panels of nr columns (zero-padded): panel q holds element
 * (k, q * nr + j) at out[q * kc * nr + k * nr + j]. */
typedef void (*lowbit_pack_fn)(const void *context, int64_t k0, int64_t kc, int64_t j0,
                               int64_t nc, float *out);

/* R rows where the tile has them (the switch below covers up to 8 rows;
 * cases beyond MR cannot happen, and compile as 1-row tiles). */
#define ROWS(R, MR) ((R) <= (MR) ? (R) : 1)

/* C[m, n] += A[m, k] * B[k, n] over B packed by `pack`, KC x NC blocks at a
 * time into `workspace` (KC * NC floats, 64-byte aligned); C's columns are
 * contiguous. */
#define DEFINE_PACKED_DRIVER(NAME, TARGET, MR, NR, MASK_T, MASK, TILE)                         \
  TARGET __attribute__((unused)) static void NAME(int64_t m, int64_t n, int64_t k,            \
                                                  const float *a_base, int64_t ars,           \
                          int64_t acs, float *c_base, int64_t crs, lowbit_pack_fn pack,         \
                          const void *context, float *workspace) {                             \
    for (int64_t k0 = 0; k0 < k; k0 += KC) {                                                   \
      int64_t kc = min64(KC, k - k0);                                                          \
      for (int64_t j0 = 0; j0 < n; j0 += NC) {                                                 \
        int64_t nc = min64(NC, n - j0);                                                        \
        pack(context, k0, kc, j0, nc, workspace);                                              \
        for (int64_t jp = 0; jp < nc; jp += NR) {                                              \
          MASK_T m0 = MASK(nc - jp), m1 = MASK(nc - jp - NR / 2);                              \
          const float *panel = workspace + jp * kc;                                            \
          for (int64_t i0 = 0; i0 < m; i0 += MR) {                                             \
            const float *a = a_base + i0 * ars + k0 * acs;                                     \
            float *c = c_base + i0 * crs + j0 + jp;                                            \
            switch (min64(MR, m - i0)) {                                                       \
            case 8: TILE(ROWS(8, MR), kc, a, ars, acs, panel, c, crs, m0, m1); break;         \
            case 7: TILE(ROWS(7, MR), kc, a, ars, acs, panel, c, crs, m0, m1); break;         \
            case 6: TILE(ROWS(6, MR), kc, a, ars, acs, panel, c, crs, m0, m1); break;         \
            case 5: TILE(ROWS(5, MR), kc, a, ars, acs, panel, c, crs, m0, m1); break;         \
            case 4: TILE(ROWS(4, MR), kc, a, ars, acs, panel, c, crs, m0, m1); break;         \
            case 3: TILE(ROWS(3, MR), kc, a, ars, acs, panel, c, crs, m0, m1); break;         \
            case 2: TILE(ROWS(2, MR), kc, a, ars, acs, panel, c, crs, m0, m1); break;         \
            default: TILE(1, kc, a, ars, acs, panel, c, crs, m0, m1); break;                   \
            }                                                                                  \
          }                                                                                    \
        }                                                                                      \
      }                                                                                        \
    }                                                                                          \
  }

DEFINE_PACKED_DRIVER(packed_avx512, AVX512, MR512, NR512, __mmask16, mask16, tile_avx512)
DEFINE_PACKED_DRIVER(packed_avx2, AVX2, MR256, NR256, __m256i, mask8, tile_avx2)

#endif /* LOWBIT_RUNTIME_CPU_UKERNELS_TILES_H */
