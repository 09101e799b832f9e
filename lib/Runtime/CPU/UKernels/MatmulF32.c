/*===- MatmulF32.c - fp32 matmul micro-kernels ----------------------------===*
 *
 * C += A * B for the contractions of fp32 models (lowbit-lower-to-ukernels
 * replaces each one with a call to lowbit_uk_matmul_f32).
 *
 * The vectorized variants block in the manner of BLIS: B is packed, KC rows
 * by NC columns at a time, into column panels NR wide (zero-padded, so the
 * inner loop never tests the edge). Each panel (KC x NR, in L1) then
 * serves every row of A: an MR x NR tile of C is accumulated in registers
 * over the KC rows, reading A in place (one broadcast per row and k). The
 * block spans NC = 4096 columns so that packing reads B's rows in long
 * sequential runs. Packing matters for row-major weights: without it, successive rows
 * of a panel are one weight row apart (16 KiB for 4096 columns) and all map
 * to the same L1 set. With few rows of A (decode), packing would cost as
 * much as the product, so those stream B in place instead.
 *===----------------------------------------------------------------------===*/

#include "UKernels.h"

#include "../ThreadPool.h"
#include "Tiles.h"

#include <stdlib.h>
#include <string.h>

void lowbit_uk_matmul_f32_reference(const lowbit_uk_matmul_f32_params *p) {
  for (int64_t i = 0; i < p->m; ++i)
    for (int64_t j = 0; j < p->n; ++j) {
      float sum = 0;
      for (int64_t k = 0; k < p->k; ++k)
        sum += p->a[i * p->a_row_stride + k * p->a_col_stride] *
               p->b[k * p->b_row_stride + j * p->b_col_stride];
      p->c[i * p->c_row_stride + j * p->c_col_stride] += sum;
    }
}

/* Packs rows [0, kc) and columns [0, nc) of b into panels of nr columns:
 * panel q holds element (k, q * nr + j) at out[q * kc * nr + k * nr + j].
 * Row-major B is read a row segment at a time, in memory order. */
INLINE void pack_b(const float *b, int64_t row_stride, int64_t col_stride, int64_t kc,
                   int64_t nc, const int64_t nr, float *out) {
  int64_t full = nc / nr * nr;
  if (col_stride == 1) {
    for (int64_t k = 0; k < kc; ++k) {
      const float *row = b + k * row_stride;
      for (int64_t j0 = 0; j0 < full; j0 += nr)
        for (int64_t j = 0; j < nr; ++j) /* vectorized: nr is a constant */
          out[j0 * kc + k * nr + j] = row[j0 + j];
      for (int64_t j = 0; j < nr; ++j)
        if (full < nc)
          out[full * kc + k * nr + j] = full + j < nc ? row[full + j] : 0.0f;
    }
    return;
  }
  /* Transposed B: walk each column along its own stride. */
  for (int64_t j0 = 0; j0 < nc; j0 += nr, out += kc * nr)
    for (int64_t j = 0; j < nr; ++j)
      for (int64_t k = 0; k < kc; ++k)
        out[k * nr + j] = j0 + j < nc ? b[k * row_stride + (j0 + j) * col_stride] : 0.0f;
}

static void pack_f32_nr32(const void *context, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                          float *out) {
  const lowbit_uk_matmul_f32_params *p = context;
  pack_b(p->b + k0 * p->b_row_stride + j0 * p->b_col_stride, p->b_row_stride, p->b_col_stride,
         kc, nc, NR512, out);
}

static void pack_f32_nr16(const void *context, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                          float *out) {
  const lowbit_uk_matmul_f32_params *p = context;
  pack_b(p->b + k0 * p->b_row_stride + j0 * p->b_col_stride, p->b_row_stride, p->b_col_stride,
         kc, nc, NR256, out);
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

AVX512 void lowbit_uk_matmul_f32_avx512(const lowbit_uk_matmul_f32_params *p, float *workspace) {
  if (p->m <= SMALL_M && p->b_col_stride == 1 && p->c_col_stride == 1) {
    switch (p->m) {
    case 1: small_m_avx512(1, p); return;
    case 2: small_m_avx512(2, p); return;
    case 3: small_m_avx512(3, p); return;
    case 4: small_m_avx512(4, p); return;
    default: return;
    }
  }
  if (p->c_col_stride != 1) {
    lowbit_uk_matmul_f32_reference(p);
    return;
  }
  packed_avx512(p->m, p->n, p->k, p->a, p->a_row_stride, p->a_col_stride, p->c, p->c_row_stride,
                pack_f32_nr32, p, workspace);
}

/*===--- AVX2 ----------------------------------------------------------------===*/

INLINE AVX2 void small_m_avx2(const int mr, const lowbit_uk_matmul_f32_params *p) {
  const int64_t brs = p->b_row_stride;
  for (int64_t k = 0; k < p->k; k += 4) {
    int64_t rows = min64(4, p->k - k);
    float a[SMALL_M][4] = {{0}};
    for (int i = 0; i < mr; ++i)
      for (int64_t r = 0; r < rows; ++r)
        a[i][r] = p->a[i * p->a_row_stride + (k + r) * p->a_col_stride];
    const float *b0 = p->b + k * brs, *b1 = b0 + (rows > 1 ? brs : 0),
                *b2 = b0 + (rows > 2 ? 2 * brs : 0), *b3 = b0 + (rows > 3 ? 3 * brs : 0);
    for (int64_t j = 0; j < p->n; j += 8) {
      __m256i mask = mask8(p->n - j);
      __m256 v0 = _mm256_maskload_ps(b0 + j, mask), v1 = _mm256_maskload_ps(b1 + j, mask),
             v2 = _mm256_maskload_ps(b2 + j, mask), v3 = _mm256_maskload_ps(b3 + j, mask);
      for (int i = 0; i < mr; ++i) {
        float *c = p->c + i * p->c_row_stride + j;
        __m256 sum = _mm256_maskload_ps(c, mask);
        sum = _mm256_fmadd_ps(_mm256_set1_ps(a[i][0]), v0, sum);
        sum = _mm256_fmadd_ps(_mm256_set1_ps(a[i][1]), v1, sum);
        sum = _mm256_fmadd_ps(_mm256_set1_ps(a[i][2]), v2, sum);
        sum = _mm256_fmadd_ps(_mm256_set1_ps(a[i][3]), v3, sum);
        _mm256_maskstore_ps(c, mask, sum);
      }
    }
  }
}

AVX2 void lowbit_uk_matmul_f32_avx2(const lowbit_uk_matmul_f32_params *p, float *workspace) {
  if (p->m <= SMALL_M && p->b_col_stride == 1 && p->c_col_stride == 1) {
    switch (p->m) {
    case 1: small_m_avx2(1, p); return;
    case 2: small_m_avx2(2, p); return;
    case 3: small_m_avx2(3, p); return;
    case 4: small_m_avx2(4, p); return;
    default: return;
    }
  }
  if (p->c_col_stride != 1) {
    lowbit_uk_matmul_f32_reference(p);
    return;
  }
  packed_avx2(p->m, p->n, p->k, p->a, p->a_row_stride, p->a_col_stride, p->c, p->c_row_stride,
              pack_f32_nr16, p, workspace);
}

/*===--- Dispatch ---------------------------------------------------------===*/

enum { VARIANT_UNKNOWN = 0, VARIANT_REFERENCE = LOWBIT_UK_REFERENCE, VARIANT_AVX2 = LOWBIT_UK_AVX2,
       VARIANT_AVX512 = LOWBIT_UK_AVX512 };

static int detect_variant(void) {
  int best = VARIANT_REFERENCE;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    best = VARIANT_AVX2;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw"))
    best = VARIANT_AVX512;
  const char *cap = getenv("LOWBIT_UKERNELS");
  if (cap && strcmp(cap, "reference") == 0)
    best = VARIANT_REFERENCE;
  else if (cap && strcmp(cap, "avx2") == 0 && best > VARIANT_AVX2)
    best = VARIANT_AVX2;
  return best;
}

int lowbit_uk_isa(void) {
  static int cached = VARIANT_UNKNOWN; /* a benign race: every thread computes the same */
  int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (v == VARIANT_UNKNOWN) {
    v = detect_variant();
    __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
  }
  return v;
}

const char *lowbit_uk_matmul_f32_variant(void) {
  switch (lowbit_uk_isa()) {
  case VARIANT_AVX512: return "avx512";
  case VARIANT_AVX2: return "avx2";
  default: return "reference";
  }
}

/* One packed-B block per thread; thread-local storage of a shared library is
 * allocated by the C library on a thread's first use. */
static _Thread_local float workspace[LOWBIT_UK_MATMUL_F32_WORKSPACE]
    __attribute__((aligned(64)));

float *lowbit_uk_workspace(void) { return workspace; }

static void run_variant(const lowbit_uk_matmul_f32_params *p) {
  switch (lowbit_uk_isa()) {
  case VARIANT_AVX512: lowbit_uk_matmul_f32_avx512(p, workspace); break;
  case VARIANT_AVX2: lowbit_uk_matmul_f32_avx2(p, workspace); break;
  default: lowbit_uk_matmul_f32_reference(p); break;
  }
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
    p.b += begin * p.b_col_stride;
    p.c += begin * p.c_col_stride;
  }
  run_variant(&p);
}

/* Below this many multiply-adds a product runs on one thread: waking the
 * others costs more (tens of microseconds). */
#define PARALLEL_WORK (1 << 23)

void lowbit_uk_matmul_f32(int64_t a_address, int64_t a_offset, int64_t a_row_stride,
                          int64_t a_col_stride, int64_t b_address, int64_t b_offset,
                          int64_t b_row_stride, int64_t b_col_stride, int64_t c_address,
                          int64_t c_offset, int64_t c_row_stride, int64_t c_col_stride,
                          int64_t m, int64_t n, int64_t k) {
  if (m <= 0 || n <= 0 || k <= 0)
    return;
  lowbit_uk_matmul_f32_params p = {
      (const float *)(intptr_t)a_address + a_offset, a_row_stride, a_col_stride,
      (const float *)(intptr_t)b_address + b_offset, b_row_stride, b_col_stride,
      (float *)(intptr_t)c_address + c_offset,       c_row_stride, c_col_stride,
      m,                                             n,            k};
  lowbit_pool *pool = lowbit_current_pool;
  int64_t threads = lowbit_pool_size(pool);
  if (threads > 1 && m * n * k >= PARALLEL_WORK) {
    /* Columns, in multiples of 64 (whole register tiles), so that every
     * thread streams its own part of B; rows (multiples of 8) when B is too
     * narrow to share. */
    int64_t columns = (n + threads - 1) / threads;
    columns = (columns + 63) / 64 * 64;
    int64_t rows = ((m + threads - 1) / threads + 7) / 8 * 8;
    split s = {&p, columns, 0};
    if (columns < n)
      lowbit_pool_run(pool, (int)((n + columns - 1) / columns), run_slice, &s);
    else if (rows < m) {
      s.chunk = rows;
      s.by_rows = 1;
      lowbit_pool_run(pool, (int)((m + rows - 1) / rows), run_slice, &s);
    } else
      run_variant(&p);
    return;
  }
  run_variant(&p);
}
