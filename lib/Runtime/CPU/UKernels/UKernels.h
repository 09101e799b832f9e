/*===- UKernels.h - CPU micro-kernels the generated code calls -------------===*
 *
 * Each kernel has a plain C reference beside its vectorized variants; the
 * unit tests compare them over ragged shapes. Kernels never allocate: the
 * workspace they need is passed in (the entry points the generated code
 * calls own one per thread).
 *
 * The entry points (lowbit_uk_*) take only integers, so that the generated
 * code can call them without knowing C types: a buffer is its address and an
 * element offset.
 *===----------------------------------------------------------------------===*/

#ifndef LOWBIT_RUNTIME_CPU_UKERNELS_H
#define LOWBIT_RUNTIME_CPU_UKERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* C[m, n] += sum_k A[m, k] * B[k, n] over arbitrary row and column strides
 * (in elements). C's column stride may be anything, though a unit stride is
 * the fast case. */
typedef struct {
  const float *a;
  int64_t a_row_stride, a_col_stride;
  const float *b;
  int64_t b_row_stride, b_col_stride;
  float *c;
  int64_t c_row_stride, c_col_stride;
  int64_t m, n, k;
} lowbit_uk_matmul_f32_params;

/* Floats of workspace the vectorized variants need: a packed block of B,
 * 256 rows by 4096 columns. */
#define LOWBIT_UK_MATMUL_F32_WORKSPACE (256 * 4096)

void lowbit_uk_matmul_f32_reference(const lowbit_uk_matmul_f32_params *p);
/* Require the CPU features in their names and a 64-byte aligned workspace of
 * LOWBIT_UK_MATMUL_F32_WORKSPACE floats. */
void lowbit_uk_matmul_f32_avx512(const lowbit_uk_matmul_f32_params *p, float *workspace);
void lowbit_uk_matmul_f32_avx2(const lowbit_uk_matmul_f32_params *p, float *workspace);

/* Which variant lowbit_uk_matmul_f32 uses on this CPU: "avx512", "avx2" or
 * "reference". The LOWBIT_UKERNELS environment variable (same names) caps it,
 * for testing and comparison. */
const char *lowbit_uk_matmul_f32_variant(void);

/* The entry point the generated code calls. Buffers are addresses plus
 * element offsets; strides are in elements. */
void lowbit_uk_matmul_f32(int64_t a_address, int64_t a_offset, int64_t a_row_stride,
                          int64_t a_col_stride, int64_t b_address, int64_t b_offset,
                          int64_t b_row_stride, int64_t b_col_stride, int64_t c_address,
                          int64_t c_offset, int64_t c_row_stride, int64_t c_col_stride,
                          int64_t m, int64_t n, int64_t k);

#ifdef __cplusplus
}
#endif

#endif /* LOWBIT_RUNTIME_CPU_UKERNELS_H */
