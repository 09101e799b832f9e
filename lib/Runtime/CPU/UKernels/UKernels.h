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
  /* Non-NULL: B is these int8 levels (b unused, same strides), each
   * converted exactly to float (lowbit_uk_matmul_f32_i8). */
  const int8_t *b_levels;
  /* Non-NULL: B is int4 levels two per byte (b unused; strides in levels):
   * element (k, j) is level i = b_level0 + k * b_row_stride + j *
   * b_col_stride, held in byte i / 2 (the low nibble for even i) as level +
   * 8 (lowbit_uk_matmul_f32_i4, lowbit.unpack_nibbles's layout). */
  const uint8_t *b_nibbles;
  int64_t b_level0;
  /* Non-NULL: B prepacked at compile time (a constant weight) in the
   * layout LOWBIT_UK_PANEL_INDEX gives, b_panels_width columns wide (N
   * rounded up to the panel width); b_col0 is the first column of this
   * product (a thread's slice), a multiple of the panel width. */
  const float *b_panels;
  int64_t b_panels_width, b_col0;
  /* Non-NULL: B is whatever this function writes, one panel at a time
   * (the vectorized variants only; b and the strides unused): the rows [k0,
   * k0 + kc) of columns [j0, j0 + nc), nc <= nr, as out[k * nr + j], the
   * columns past nc zero. lowbit_uk_quantized_matmul_f32 dequantizes its
   * weight this way for many rows of A, each panel just before the tiles
   * that read it, so that it is still in L1. */
  void (*b_pack)(const void *context, int64_t k0, int64_t j0, int64_t kc, int64_t nc, int64_t nr,
                 float *out);
  const void *b_pack_context;
} lowbit_uk_matmul_f32_params;

/* The prepacked B layout: rows in blocks of LOWBIT_UK_PANEL_KC, each block
 * split into panels LOWBIT_UK_PANEL_NR columns wide (the last zero-padded),
 * a panel's rows contiguous: element (k, n) of a K x N matrix at this index
 * (width: N rounded up to LOWBIT_UK_PANEL_NR). The vectorized variants read
 * a panel as the block they would have packed. */
#define LOWBIT_UK_PANEL_KC 256
#define LOWBIT_UK_PANEL_NR 32
#define LOWBIT_UK_PANEL_INDEX(k, n, K, width)                                                      \
  ((k) / LOWBIT_UK_PANEL_KC * LOWBIT_UK_PANEL_KC * (width) +                                       \
   (n) / LOWBIT_UK_PANEL_NR *                                                                      \
       ((K) - (k) / LOWBIT_UK_PANEL_KC * LOWBIT_UK_PANEL_KC < LOWBIT_UK_PANEL_KC                   \
            ? (K) - (k) / LOWBIT_UK_PANEL_KC * LOWBIT_UK_PANEL_KC                                  \
            : LOWBIT_UK_PANEL_KC) *                                                                \
       LOWBIT_UK_PANEL_NR +                                                                        \
   (k) % LOWBIT_UK_PANEL_KC * LOWBIT_UK_PANEL_NR + (n) % LOWBIT_UK_PANEL_NR)

/* Floats of workspace the vectorized variants need: a packed block of B,
 * 256 rows by 256 columns, then a packed block of A (2 MiB). */
#define LOWBIT_UK_MATMUL_F32_WORKSPACE (256 * 256 + (1 << 19))

void lowbit_uk_matmul_f32_reference(const lowbit_uk_matmul_f32_params *p);
/* Require the CPU features in their names and a 64-byte aligned workspace of
 * LOWBIT_UK_MATMUL_F32_WORKSPACE floats. */
void lowbit_uk_matmul_f32_avx512(const lowbit_uk_matmul_f32_params *p, float *workspace);
void lowbit_uk_matmul_f32_avx2(const lowbit_uk_matmul_f32_params *p, float *workspace);

/* The instruction set the entry points use on this CPU, and this thread's
 * workspace of LOWBIT_UK_MATMUL_F32_WORKSPACE floats. The LOWBIT_UKERNELS
 * environment variable (reference, avx2 or avx512) caps the set. */
enum { LOWBIT_UK_REFERENCE = 1, LOWBIT_UK_AVX2 = 2, LOWBIT_UK_AVX512 = 3, LOWBIT_UK_AVX512_VNNI = 4 };
int lowbit_uk_isa(void);
float *lowbit_uk_workspace(void);

/* Which variant lowbit_uk_matmul_f32 uses on this CPU: "avx512", "avx2" or
 * "reference" (see lowbit_uk_isa for the LOWBIT_UKERNELS cap). */
const char *lowbit_uk_matmul_f32_variant(void);

/* The entry point the generated code calls. Buffers are addresses plus
 * element offsets; strides are in elements. */
void lowbit_uk_matmul_f32(int64_t a_address, int64_t a_offset, int64_t a_row_stride,
                          int64_t a_col_stride, int64_t b_address, int64_t b_offset,
                          int64_t b_row_stride, int64_t b_col_stride, int64_t c_address,
                          int64_t c_offset, int64_t c_row_stride, int64_t c_col_stride,
                          int64_t m, int64_t n, int64_t k);

/* lowbit_uk_matmul_f32 with B holding int8 levels (b_address an int8
 * buffer, offset and strides in levels): attention over a quantized KV
 * cache, lowbit.mixed_matmul. The vectorized variants convert B as they
 * pack it. */
void lowbit_uk_matmul_f32_i8(int64_t a_address, int64_t a_offset, int64_t a_row_stride,
                             int64_t a_col_stride, int64_t b_address, int64_t b_offset,
                             int64_t b_row_stride, int64_t b_col_stride, int64_t c_address,
                             int64_t c_offset, int64_t c_row_stride, int64_t c_col_stride,
                             int64_t m, int64_t n, int64_t k);

/* lowbit_uk_matmul_f32 with B holding int4 levels two per byte (b_address
 * the bytes; offset and strides counted in levels, the levels of a byte
 * adjacent: one of B's strides is 1): attention over an int4 KV cache. */
void lowbit_uk_matmul_f32_i4(int64_t a_address, int64_t a_offset, int64_t a_row_stride,
                             int64_t a_col_stride, int64_t b_address, int64_t b_offset,
                             int64_t b_row_stride, int64_t b_col_stride, int64_t c_address,
                             int64_t c_offset, int64_t c_row_stride, int64_t c_col_stride,
                             int64_t m, int64_t n, int64_t k);

/* `count` products of one kind (LOWBIT_UK_B_F32: lowbit_uk_matmul_f32,
 * LOWBIT_UK_B_I8: _i8, LOWBIT_UK_B_I4: _i4; the same arguments after
 * these), item i's operands `i * *_batch_stride` elements (B: levels for
 * _i4) after item 0's: attention's products over heads. With several
 * threads and products too small to split, the items are shared among the
 * threads. */
enum { LOWBIT_UK_B_F32 = 0, LOWBIT_UK_B_I8 = 1, LOWBIT_UK_B_I4 = 2 };
void lowbit_uk_matmul_f32_batched(int64_t kind, int64_t count, int64_t a_batch_stride,
                                  int64_t b_batch_stride, int64_t c_batch_stride, int64_t a_address,
                                  int64_t a_offset, int64_t a_row_stride, int64_t a_col_stride,
                                  int64_t b_address, int64_t b_offset, int64_t b_row_stride,
                                  int64_t b_col_stride, int64_t c_address, int64_t c_offset,
                                  int64_t c_row_stride, int64_t c_col_stride, int64_t m, int64_t n,
                                  int64_t k);

/* lowbit_uk_matmul_f32 with B a constant weight prepacked at compile time
 * (LOWBIT_UK_PANEL_INDEX over k x n, width n rounded up to the panel
 * width): no packing at run time, and decode streams the panels. */
void lowbit_uk_matmul_f32_panels(int64_t a_address, int64_t a_offset, int64_t a_row_stride,
                                 int64_t a_col_stride, int64_t b_address, int64_t c_address,
                                 int64_t c_offset, int64_t c_row_stride, int64_t c_col_stride,
                                 int64_t m, int64_t n, int64_t k);

/* C[m, n] += sum_k A[m, k] * W[k, n] with W[k, n] = (q[n, k] - z[n, g]) * s[n, g]
 * for g = k / group_size: a weight quantized to integer levels, with a scale
 * and (NULL zeros: symmetric) a zero point per group of each output channel,
 * as lowbit.quantized_matmul defines it. The levels are stored one per byte
 * (level_bits 8: q_row/col_stride in levels) or two per byte (level_bits 4:
 * level k of a row in byte k / 2, low nibble first, as q + 8 in [0, 15];
 * q_row_stride in bytes, columns contiguous, group_size even). */
typedef struct {
  const float *a;
  int64_t a_row_stride, a_col_stride;
  const int8_t *q;
  int64_t q_row_stride, q_col_stride;
  const float *scales;
  int64_t s_row_stride, s_col_stride;
  const int8_t *zeros; /* NULL: symmetric */
  int64_t z_row_stride, z_col_stride;
  float *c;
  int64_t c_row_stride, c_col_stride;
  int64_t m, n, k, group_size;
  int64_t level_bits; /* 8 or 4 */
  /* 8: A holds rows already on their int8 grid (lowbit.quantized_matmul's
   * activation_bits): the VNNI variant multiplies integers; 0: fp32. */
  int64_t activation_bits;
  /* With activation_bits 8: the one scale every row of A is on (static,
   * from calibration; lowbit.quantized_matmul's activation_scale), or 0:
   * each row on its own, max |a| / 127. */
  float activation_scale;
  /* A split layer's outlier channels (lowbit.quantized_matmul's outliers):
   * C[m, n] += sum_c outlier_a[m, c] * outlier_w[c, n] in fp32, over
   * `outliers` channels (0: none; A holds them as zeros). */
  const float *outlier_a;
  int64_t oa_row_stride, oa_col_stride;
  const float *outlier_w;
  int64_t ow_row_stride, ow_col_stride;
  int64_t outliers;
} lowbit_uk_quantized_matmul_f32_params;

void lowbit_uk_quantized_matmul_f32_reference(const lowbit_uk_quantized_matmul_f32_params *p);
void lowbit_uk_quantized_matmul_f32_avx512(const lowbit_uk_quantized_matmul_f32_params *p,
                                           float *workspace);
void lowbit_uk_quantized_matmul_f32_avx2(const lowbit_uk_quantized_matmul_f32_params *p,
                                         float *workspace);
/* Requires AVX-512 VNNI; the int8-activation path (one-byte levels). */
void lowbit_uk_quantized_matmul_f32_vnni(const lowbit_uk_quantized_matmul_f32_params *p,
                                         float *workspace);
/* Requires AVX2; the int8-activation path without VNNI (vpmaddubsw). */
void lowbit_uk_quantized_matmul_f32_avx2_int8(const lowbit_uk_quantized_matmul_f32_params *p,
                                              float *workspace);

/* The entry point the generated code calls (z_address 0: no zero points;
 * activation_scale_bits: the f32 bit pattern of activation_scale; oa_*,
 * ow_*: the outliers' gathered columns of A and their weight rows). */
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
                                    int64_t outliers);

#ifdef __cplusplus
}
#endif

#endif /* LOWBIT_RUNTIME_CPU_UKERNELS_H */
