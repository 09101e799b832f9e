//===- UKernelsTest.cpp - Micro-kernels against their references ----------===//
//
// Every vectorized variant the CPU supports is compared with the plain C
// reference over ragged shapes (edges of every register tile and block),
// transposed operands and strided C, accumulating into a non-zero C.
//
//===----------------------------------------------------------------------===//

#include "UKernels/UKernels.h"
#include "ThreadPool.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

namespace {
using Variant = void (*)(const lowbit_uk_matmul_f32_params *, float *);

/// The 64-byte aligned workspace the vectorized variants require.
class Workspace {
public:
  float *aligned() {
    return reinterpret_cast<float *>((reinterpret_cast<uintptr_t>(storage.data()) + 63) &
                                     ~uintptr_t(63));
  }

private:
  std::vector<float> storage = std::vector<float>(LOWBIT_UK_MATMUL_F32_WORKSPACE + 16);
};

struct Shape {
  int64_t m, n, k;
  bool transposeA, transposeB, stridedC;
  bool levelsB = false;  // B as int8 levels (lowbit_uk_matmul_f32_i8)
  bool nibblesB = false; // B as int4 levels two per byte (lowbit_uk_matmul_f32_i4)
  // B prepacked (lowbit_uk_matmul_f32_panels) as columns [panelCol0,
  // panelCol0 + n) of a wider matrix, junk in the others.
  bool panelsB = false;
  int64_t panelCol0 = 0;
};

/// Runs `variant` and the reference on the same random problem and compares
/// each element. Each computes c + sum_k a * b, k + 1 terms, in its own order
/// in fp32 (unit roundoff u = 2^-24); the forward error bound of such a sum
/// is about (k + 1) u (|c| + sum_k |a * b|), so two results differ by at most
/// twice that.
void check(Variant variant, const Shape &s) {
  std::mt19937 rng(unsigned(s.m * 131 + s.n * 17 + s.k));
  std::uniform_real_distribution<float> uniform(-1, 1);
  auto fill = [&](std::vector<float> &v) {
    for (float &x : v)
      x = uniform(rng);
  };
  std::vector<float> a(s.m * s.k), b(s.k * s.n);
  fill(a);
  fill(b);
  // Levels: B rounded to integers in [-127, 127], run from an int8 copy; the
  // reference reads the same values as floats.
  std::vector<int8_t> levels(b.size());
  if (s.levelsB)
    for (size_t i = 0; i < b.size(); ++i) {
      b[i] = std::round(b[i] * 127);
      levels[i] = int8_t(b[i]);
    }
  // Nibbles: B rounded to integers in [-8, 7], stored as level + 8 two per
  // byte from level index `first` (odd for odd m: a run may start mid-byte).
  int64_t first = s.m % 2 ? 3 : 2;
  std::vector<uint8_t> nibbles((first + b.size()) / 2 + 1, 0);
  if (s.nibblesB)
    for (size_t i = 0; i < b.size(); ++i) {
      b[i] = std::min(7.0f, std::floor(b[i] * 8));
      int64_t at = first + int64_t(i);
      nibbles[at / 2] |= uint8_t((int(b[i]) + 8) << (4 * (at % 2)));
    }
  // Row-major C with padded rows, or column-major C with padded columns.
  int64_t cRowStride = s.stridedC ? 1 : s.n + 5, cColStride = s.stridedC ? s.m + 2 : 1;
  std::vector<float> c(s.m * cRowStride + s.n * cColStride + 8);
  fill(c);
  std::vector<float> initial = c, expected = c;
  Workspace workspace;
  lowbit_uk_matmul_f32_params p{};
  p.a = a.data();
  p.a_row_stride = s.transposeA ? 1 : s.k;
  p.a_col_stride = s.transposeA ? s.m : 1;
  p.b = b.data();
  p.b_row_stride = s.transposeB ? 1 : s.n;
  p.b_col_stride = s.transposeB ? s.k : 1;
  p.c_row_stride = cRowStride;
  p.c_col_stride = cColStride;
  p.m = s.m;
  p.n = s.n;
  p.k = s.k;
  p.c = expected.data();
  lowbit_uk_matmul_f32_reference(&p);
  p.c = c.data();
  if (s.levelsB) {
    p.b = nullptr;
    p.b_levels = levels.data();
  }
  if (s.nibblesB) {
    p.b = nullptr;
    p.b_nibbles = nibbles.data();
    p.b_level0 = first;
  }
  std::vector<float> panels;
  if (s.panelsB) {
    int64_t wide = s.panelCol0 + s.n + 7;
    int64_t width = (wide + LOWBIT_UK_PANEL_NR - 1) / LOWBIT_UK_PANEL_NR * LOWBIT_UK_PANEL_NR;
    panels.assign(s.k * width, 0.0f);
    for (int64_t k = 0; k < s.k; ++k)
      for (int64_t j = 0; j < wide; ++j) {
        bool ours = j >= s.panelCol0 && j < s.panelCol0 + s.n;
        panels[LOWBIT_UK_PANEL_INDEX(k, j, s.k, width)] =
            ours ? b[k * p.b_row_stride + (j - s.panelCol0) * p.b_col_stride] : 1000.0f;
      }
    p.b = nullptr;
    p.b_panels = panels.data();
    p.b_panels_width = width;
    p.b_col0 = s.panelCol0;
  }
  variant(&p, workspace.aligned());
  std::vector<bool> inC(c.size(), false);
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j) {
      int64_t at = i * cRowStride + j * cColStride;
      inC[at] = true;
      double magnitude = 0;
      for (int64_t k = 0; k < s.k; ++k)
        magnitude += std::fabs(a[i * p.a_row_stride + k * p.a_col_stride] *
                               b[k * p.b_row_stride + j * p.b_col_stride]);
      double bound = 2 * (s.k + 1) * 0x1p-24 * (magnitude + std::fabs(initial[at]));
      ASSERT_LE(std::fabs(c[at] - expected[at]), bound)
          << "at (" << i << ", " << j << ") of m=" << s.m << " n=" << s.n << " k=" << s.k;
    }
  for (size_t i = 0; i < c.size(); ++i) {
    if (inC[i])
      continue;
    ASSERT_EQ(c[i], initial[i]) << "wrote outside C at element " << i;
  }
}

void checkAll(Variant variant, bool levelsB = false, bool nibblesB = false) {
  // m: around the small-m path (<= 4) and the 8- and 6-row tiles; n: around
  // the 16-, 32- and 64-column vectors; k: around the 4-row unroll and the
  // 256-row block.
  for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 17})
    for (int64_t n : {1, 7, 8, 15, 16, 17, 31, 32, 33, 65})
      for (int64_t k : {1, 3, 4, 5, 257})
        for (int variation = 0; variation < 4; ++variation)
          check(variant,
                {m, n, k, variation == 1, variation == 2, variation == 3, levelsB, nibblesB});
}

TEST(MatmulF32, Avx512MatchesReference) {
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512vl") ||
      !__builtin_cpu_supports("avx512bw"))
    GTEST_SKIP() << "this CPU has no AVX-512";
  checkAll(lowbit_uk_matmul_f32_avx512);
}

TEST(MatmulF32, Avx2MatchesReference) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
    GTEST_SKIP() << "this CPU has no AVX2";
  checkAll(lowbit_uk_matmul_f32_avx2);
}

TEST(MatmulF32, Int8LevelsMatchReference) {
  // The variants with B as int8 levels against the reference on the same
  // values as floats (the packed path, whatever m).
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw"))
    checkAll(lowbit_uk_matmul_f32_avx512, /*levelsB=*/true);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    checkAll(lowbit_uk_matmul_f32_avx2, /*levelsB=*/true);
  checkAll([](const lowbit_uk_matmul_f32_params *p, float *) { lowbit_uk_matmul_f32_reference(p); },
           /*levelsB=*/true);
}

TEST(MatmulF32, Int4LevelsMatchReference) {
  // B as int4 levels two per byte (both parities of the first level, K^T's
  // transposed B and V's row-major one) against the reference on the same
  // values as floats.
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw"))
    checkAll(lowbit_uk_matmul_f32_avx512, false, /*nibblesB=*/true);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    checkAll(lowbit_uk_matmul_f32_avx2, false, /*nibblesB=*/true);
  checkAll([](const lowbit_uk_matmul_f32_params *p, float *) { lowbit_uk_matmul_f32_reference(p); },
           false, /*nibblesB=*/true);
}

TEST(MatmulF32, PanelsMatchReference) {
  // B prepacked at compile time, read by the tiles as their packed blocks
  // (k past one 256-row block, ragged panels) and by the decode path; a
  // thread's slice starts at a later panel (b_col0).
  auto reference = [](const lowbit_uk_matmul_f32_params *p, float *) {
    lowbit_uk_matmul_f32_reference(p);
  };
  std::vector<Variant> variants = {reference};
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw"))
    variants.push_back(lowbit_uk_matmul_f32_avx512);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    variants.push_back(lowbit_uk_matmul_f32_avx2);
  for (Variant variant : variants)
    for (int64_t m : {1, 2, 3, 4, 5, 9, 17})
      for (int64_t n : {1, 16, 31, 33, 65})
        for (int64_t k : {1, 5, 257, 600})
          for (int64_t col0 : {0, 64}) {
            Shape shape{m, n, k, m % 2 == 1, false, false};
            shape.panelsB = true;
            shape.panelCol0 = col0;
            check(variant, shape);
          }
}

TEST(MatmulF32, WideBlocks) {
  // Several 256 x 256 packed blocks: k and n past one block each.
  Variant variant = nullptr;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw"))
    variant = lowbit_uk_matmul_f32_avx512;
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    variant = lowbit_uk_matmul_f32_avx2;
  if (!variant)
    GTEST_SKIP() << "no vectorized variant on this CPU";
  check(variant, {9, 4100, 600, false, false, false});
  check(variant, {3, 4100, 600, false, false, false});
}

TEST(MatmulF32, BlocksOfRows) {
  // The tiles read A packed in blocks of at most 120 rows by all of K (2 MiB
  // at most): rows past one such block (a full last tile, a ragged one), A
  // transposed or not, B in memory or prepacked, k past one 256-row block;
  // a K deep enough to make the blocks shorter than 120 rows; and one too
  // deep to pack (A read in place).
  std::vector<Variant> variants;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw"))
    variants.push_back(lowbit_uk_matmul_f32_avx512);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    variants.push_back(lowbit_uk_matmul_f32_avx2);
  if (variants.empty())
    GTEST_SKIP() << "no vectorized variant on this CPU";
  for (Variant variant : variants) {
    for (int64_t m : {246, 245})
      for (bool transposeA : {false, true}) {
        check(variant, {m, 33, 300, transposeA, false, false});
        Shape prepacked{m, 40, 300, transposeA, false, false};
        prepacked.panelsB = true;
        prepacked.panelCol0 = 32;
        check(variant, prepacked);
      }
    check(variant, {53, 17, 11000, false, false, false});
    check(variant, {9, 17, 90000, true, false, false});
  }
}

TEST(MatmulF32, EntryPointAcceptsEmptyProblems) {
  float c = 1;
  lowbit_uk_matmul_f32(0, 0, 1, 1, 0, 0, 1, 1, reinterpret_cast<intptr_t>(&c), 0, 1, 1, 1, 1, 0);
  EXPECT_EQ(c, 1);
}

TEST(MatmulF32, EntryPointHonoursOffsetsAndTheVariantCap) {
  // The LOWBIT_UKERNELS cap is read once, at the first call: this binary
  // runs each test in its own process (lit's GoogleTest format).
  setenv("LOWBIT_UKERNELS", "reference", 1);
  EXPECT_STREQ(lowbit_uk_matmul_f32_variant(), "reference");
  // m = 2, n = 1, k = 1 at element offsets 1, 2 and 1: A = [1; 2], B = [3],
  // C = [10; 20] += [3; 6].
  float a[] = {0, 1, 2}, b[] = {0, 0, 3, 4}, c[] = {0, 10, 20};
  lowbit_uk_matmul_f32(reinterpret_cast<intptr_t>(a), 1, 1, 1, reinterpret_cast<intptr_t>(b), 2, 1,
                       1, reinterpret_cast<intptr_t>(c), 1, 1, 1, 2, 1, 1);
  EXPECT_EQ(c[0], 0);
  EXPECT_EQ(c[1], 13);
  EXPECT_EQ(c[2], 26);
}

TEST(MatmulF32, Int8EntryPointHonoursOffsets) {
  // Offsets count levels in B and floats in A and C: A = [1; 2] at 1,
  // B = [3, -4] at 2, C = [10, 0; 20, 0] at 1 += [3, -4; 6, -8].
  float a[] = {0, 1, 2}, c[] = {0, 10, 0, 20, 0};
  int8_t b[] = {0, 0, 3, -4};
  lowbit_uk_matmul_f32_i8(reinterpret_cast<intptr_t>(a), 1, 1, 1, reinterpret_cast<intptr_t>(b), 2,
                          2, 1, reinterpret_cast<intptr_t>(c), 1, 2, 1, 2, 2, 1);
  EXPECT_EQ(c[0], 0);
  EXPECT_EQ(c[1], 13);
  EXPECT_EQ(c[2], -4);
  EXPECT_EQ(c[3], 26);
  EXPECT_EQ(c[4], -8);
}

TEST(MatmulF32, BatchedEntryPointRunsEachItem) {
  // Heads of attention: 5 items of 33 x 17 x 9 (QK^T-sized: small enough
  // to be shared among threads), f32, int8 and int4 B, on one thread and on
  // a pool of 2; each item against the reference on its own slices. B
  // broadcast (batch stride 0) in the f32 case.
  const int64_t count = 5, m = 33, n = 17, k = 9;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(-8, 7);
  std::vector<float> a(count * m * k), b(count * k * n);
  for (float &x : a)
    x = float(level(rng)) / 4;
  for (float &x : b)
    x = float(level(rng));
  std::vector<int8_t> levels(b.size());
  std::vector<uint8_t> nibbles(b.size() / 2 + 1, 0);
  for (size_t i = 0; i < b.size(); ++i) {
    levels[i] = int8_t(b[i]);
    nibbles[i / 2] |= uint8_t((int(b[i]) + 8) << (4 * (i % 2)));
  }
  lowbit_pool *pool = lowbit_pool_create(2);
  for (int threads : {1, 2})
    for (int64_t kind :
         {int64_t(LOWBIT_UK_B_F32), int64_t(LOWBIT_UK_B_I8), int64_t(LOWBIT_UK_B_I4)}) {
      int64_t bStride = kind == LOWBIT_UK_B_F32 ? 0 : k * n;
      std::vector<float> c(count * m * n, 1.0f), expected = c;
      for (int64_t i = 0; i < count; ++i) {
        lowbit_uk_matmul_f32_params p{};
        p.a = a.data() + i * m * k;
        p.a_row_stride = k;
        p.a_col_stride = 1;
        p.b = b.data() + i * bStride;
        p.b_row_stride = n;
        p.b_col_stride = 1;
        p.c = expected.data() + i * m * n;
        p.c_row_stride = n;
        p.c_col_stride = 1;
        p.m = m;
        p.n = n;
        p.k = k;
        lowbit_uk_matmul_f32_reference(&p);
      }
      intptr_t bAddress = kind == LOWBIT_UK_B_F32  ? reinterpret_cast<intptr_t>(b.data())
                          : kind == LOWBIT_UK_B_I8 ? reinterpret_cast<intptr_t>(levels.data())
                                                   : reinterpret_cast<intptr_t>(nibbles.data());
      lowbit_current_pool = threads == 2 ? pool : nullptr;
      lowbit_uk_matmul_f32_batched(kind, count, m * k, bStride, m * n,
                                   reinterpret_cast<intptr_t>(a.data()), 0, k, 1, bAddress, 0, n, 1,
                                   reinterpret_cast<intptr_t>(c.data()), 0, n, 1, m, n, k);
      lowbit_current_pool = nullptr;
      // Small integers times quarters: every partial sum is exact in fp32.
      for (size_t i = 0; i < c.size(); ++i)
        ASSERT_EQ(c[i], expected[i])
            << "element " << i << ", kind " << kind << ", threads " << threads;
    }
  lowbit_pool_destroy(pool);
}

TEST(MatmulF32, Int4EntryPointCountsLevels) {
  // After EntryPointHonoursOffsetsAndTheVariantCap: the first computing call
  // fixes the variant for the process (the shards of this binary run several
  // tests each).
  // Bytes 0x59, 0xFA hold levels 1, -3, 2, 7 (low nibble first, + 8). From
  // level offset 1, k = 3 down a column (row stride 1): B = [-3; 2; 7], so
  // C = 5 + [1 2 3] . B = 5 + 22.
  uint8_t bytes[] = {0x59, 0xFA};
  float a[] = {1, 2, 3}, c[] = {5};
  lowbit_uk_matmul_f32_i4(reinterpret_cast<intptr_t>(a), 0, 3, 1, reinterpret_cast<intptr_t>(bytes),
                          1, 1, 3, reinterpret_cast<intptr_t>(c), 0, 1, 1, 1, 1, 3);
  EXPECT_EQ(c[0], 27);
}
} // namespace

namespace {
using QuantizedVariant = void (*)(const lowbit_uk_quantized_matmul_f32_params *, float *);

struct QuantizedShape {
  int64_t m, n, k, groupSize;
  bool zeros;
  bool nibbles = false;         // levels stored two per byte
  bool int8Activations = false; // rows of A on their int8 grid, activation_bits 8
  bool staticScale = false;      // ... all rows on one grid (activation_scale)
  int64_t outliers = 0;          // fp32 outlier channels (a split layer)
  // One-byte levels over their whole range [-128, 127] (else [-8, 7]), the
  // first output channel all -128 against rows of -127 where its level
  // products are largest (what vpmaddubsw's int16 pairs must hold). With
  // levels two per byte: the first channel all 7 (stored as 15) against a
  // first row of +127, the largest int16 sums the AVX2 tile accumulates.
  bool wideLevels = false;
};

/// As `check` for the fp32 kernel: the variant against the reference on one
/// random problem, each summing k products in its own order, so the same
/// (k + 1) u bound applies twice. The vectorized kernels form each weight as
/// q * s - z * s (one fused multiply-add), so a weight's own rounding is
/// bounded by u (|q| + |z|) s rather than u |q - z| s: the magnitude below
/// uses that.
void checkQuantized(QuantizedVariant variant, const QuantizedShape &s) {
  std::mt19937 rng(unsigned(s.m * 7 + s.n * 13 + s.k * 3 + s.groupSize));
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::uniform_int_distribution<int> level(-8, 7); // 4-bit levels fit both storages
  int64_t groups = (s.k + s.groupSize - 1) / s.groupSize;
  std::vector<float> a(s.m * s.k), scales(s.n * groups), c(s.m * s.n);
  std::vector<int8_t> q(s.n * s.k), zeros(s.n * groups);
  for (float &x : a)
    x = uniform(rng);
  if (s.int8Activations) {
    // Each row on its own grid: levels in [-127, 127] (one of them +-127)
    // times the row's scale, as lowbit.quantized_matmul hands them over.
    std::uniform_int_distribution<int> activation(-127, 127);
    for (int64_t i = 0; i < s.m; ++i) {
      float scale = 0.001f + 0.01f * std::fabs(uniform(rng));
      for (int64_t k = 0; k < s.k; ++k)
        a[i * s.k + k] = float(k == i % s.k ? 127 : activation(rng)) * scale;
    }
  }
  float staticScale = 0.0037f;
  if (s.staticScale) {
    // One grid for every row, which no row fills (levels within +-100): a
    // kernel that took each row's own max |a| / 127 would round differently.
    std::uniform_int_distribution<int> activation(-100, 100);
    for (float &x : a)
      x = float(activation(rng)) * staticScale;
  }
  for (float &x : scales)
    x = 0.01f + 0.1f * std::fabs(uniform(rng));
  for (float &x : c)
    x = uniform(rng);
  std::uniform_int_distribution<int> wideLevel(-128, 127);
  for (int8_t &x : q)
    x = int8_t(s.wideLevels && !s.nibbles ? wideLevel(rng) : level(rng));
  if (s.wideLevels && s.int8Activations) {
    for (int64_t k = 0; k < s.k; ++k)
      q[k] = s.nibbles ? 7 : -128;
    float scale = a[0] / 127; // row 0's grid: its first level is 127
    for (int64_t k = 1; k < s.k; ++k)
      a[k] = (s.nibbles ? 127 : -127) * scale;
  }
  for (int8_t &x : zeros)
    x = int8_t(level(rng));
  std::vector<float> expected = c, initial = c;
  Workspace workspace;
  lowbit_uk_quantized_matmul_f32_params p{};
  p.a = a.data();
  p.a_row_stride = s.k;
  p.a_col_stride = 1;
  // Two levels per byte: level k in byte k / 2, low nibble first, as q + 8.
  int64_t packedRow = (s.k + 1) / 2;
  std::vector<int8_t> packed(s.n * packedRow, 0);
  for (int64_t j = 0; j < s.n; ++j)
    for (int64_t k = 0; k < s.k; ++k)
      packed[j * packedRow + k / 2] |= int8_t((q[j * s.k + k] + 8) << (4 * (k % 2)));
  p.q = s.nibbles ? packed.data() : q.data();
  p.q_row_stride = s.nibbles ? packedRow : s.k;
  p.q_col_stride = 1;
  p.level_bits = s.nibbles ? 4 : 8;
  p.activation_bits = s.int8Activations || s.staticScale ? 8 : 0;
  p.activation_scale = s.staticScale ? staticScale : 0.0f;
  p.scales = scales.data();
  p.s_row_stride = groups;
  p.s_col_stride = 1;
  p.zeros = s.zeros ? zeros.data() : nullptr;
  p.z_row_stride = groups;
  p.z_col_stride = 1;
  p.c_row_stride = s.n;
  p.c_col_stride = 1;
  p.m = s.m;
  p.n = s.n;
  p.k = s.k;
  p.group_size = s.groupSize;
  p.c = expected.data();
  lowbit_uk_quantized_matmul_f32_reference(&p);
  // Outlier channels: their fp32 product, added here in double, not by the
  // kernels' code; A's columns of them are zero, as the IR hands them over.
  std::vector<float> outlierA(s.m * s.outliers), outlierW(s.outliers * s.n);
  for (float &x : outlierA)
    x = 20 * uniform(rng);
  for (float &x : outlierW)
    x = uniform(rng);
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j) {
      double sum = 0;
      for (int64_t o = 0; o < s.outliers; ++o)
        sum += double(outlierA[i * s.outliers + o]) * outlierW[o * s.n + j];
      expected[i * s.n + j] = float(expected[i * s.n + j] + sum);
    }
  p.outlier_a = outlierA.data();
  p.oa_row_stride = s.outliers;
  p.oa_col_stride = 1;
  p.outlier_w = outlierW.data();
  p.ow_row_stride = s.n;
  p.ow_col_stride = 1;
  p.outliers = s.outliers;
  p.c = c.data();
  variant(&p, workspace.aligned());
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j) {
      double magnitude = std::fabs(initial[i * s.n + j]);
      for (int64_t o = 0; o < s.outliers; ++o)
        magnitude += std::fabs(outlierA[i * s.outliers + o] * outlierW[o * s.n + j]);
      for (int64_t k = 0; k < s.k; ++k) {
        int64_t g = k / s.groupSize;
        double z = s.zeros ? zeros[j * groups + g] : 0;
        magnitude += std::fabs(a[i * s.k + k]) * (std::fabs(q[j * s.k + k]) + std::fabs(z)) *
                     scales[j * groups + g];
      }
      double bound = 2 * (s.k + s.outliers + 1) * 0x1p-24 * magnitude;
      ASSERT_LE(std::fabs(c[i * s.n + j] - expected[i * s.n + j]), bound)
          << "at (" << i << ", " << j << ") of m=" << s.m << " n=" << s.n << " k=" << s.k
          << " group=" << s.groupSize << " zeros=" << s.zeros << " nibbles=" << s.nibbles;
    }
}

void checkAllQuantized(QuantizedVariant variant) {
  // m: the small-m path (<= 4) and the dequantized panels; n: panel edges; k and the
  // group size: one group, ragged last groups (172 = 5 * 32 + 12), per
  // channel, and more than one dequantized chunk (4096).
  for (int64_t m : {1, 3, 4, 5, 9, 17})
    for (int64_t n : {1, 17, 33})
      for (auto [k, group] : {std::pair<int64_t, int64_t>{172, 32}, {172, 172}, {64, 16}, {7, 3},
                              {300, 128}})
        for (bool zeros : {false, true})
          for (bool nibbles : {false, true})
            checkQuantized(variant, {m, n, k, group, zeros, nibbles});
  checkQuantized(variant, {2, 5, 4101, 128, true, true}); // odd K, several groups
  checkQuantized(variant, {6, 70, 600, 32, false, true});
  // Many rows (fp32 tiles over dequantized panels): panel and K-block edges.
  for (bool nibbles : {false, true}) {
    checkQuantized(variant, {17, 70, 600, 32, true, nibbles});
    checkQuantized(variant, {25, 33, 4101, 128, true, nibbles});
  }
  checkQuantized(variant, {245, 17, 300, 32, true, true}); // rows past the fp32 kernel's block of A
  for (int64_t m : {1, 9}) // outlier channels, both row paths
    checkQuantized(variant, {m, 33, 172, 32, true, false, false, false, /*outliers=*/3});
}

TEST(QuantizedMatmulF32, Avx512MatchesReference) {
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512vl") ||
      !__builtin_cpu_supports("avx512bw"))
    GTEST_SKIP() << "this CPU has no AVX-512";
  checkAllQuantized(lowbit_uk_quantized_matmul_f32_avx512);
}

TEST(QuantizedMatmulF32, VnniMatchesReference) {
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512vl") ||
      !__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vnni"))
    GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  // The integer products are exact; what differs from the reference is the
  // order and grouping of the float sums, within the same bound.
  for (int64_t m : {1, 2, 3, 5})
    for (int64_t n : {1, 4, 7, 33})
      for (auto [k, group] : {std::pair<int64_t, int64_t>{172, 32}, {172, 172}, {64, 16}, {7, 3},
                              {300, 128}, {130, 64}})
        for (bool zeros : {false, true})
          for (bool nibbles : {false, true})
            if (!nibbles || group % 2 == 0) // packing needs groups that start on a byte
              checkQuantized(lowbit_uk_quantized_matmul_f32_vnni,
                             {m, n, k, group, zeros, nibbles, true});
  checkQuantized(lowbit_uk_quantized_matmul_f32_vnni, {2, 5, 4101, 128, true, true, true});
  for (int64_t m : {1, 5})
    for (bool nibbles : {false, true})
      checkQuantized(lowbit_uk_quantized_matmul_f32_vnni,
                     {m, 33, 172, 32, true, nibbles, false, /*staticScale=*/true});
  checkQuantized(lowbit_uk_quantized_matmul_f32_vnni,
                 {5, 33, 172, 32, true, true, true, false, /*outliers=*/3});
  // Levels two per byte (K a multiple of 4, from 64): the group-lane
  // layout, here with more rows. Superblocks of 16 runs of 32 levels, whole
  // (512) or not (600), ragged last groups (172 by 32; 300 by 100, a span of
  // its own, gathered), groups of 16 (a span of 16) to all of K (one scale
  // for 128 lanes); rows and channels past whole tiles; the extreme levels.
  for (int64_t m : {4, 9, 17})
    for (auto [k, group] : {std::pair<int64_t, int64_t>{512, 32},
                            {600, 32},
                            {172, 32},
                            {256, 16},
                            {300, 100},
                            {4096, 128},
                            {172, 172}})
      for (bool zeros : {false, true})
        for (int64_t n : {1, 5, 7})
          checkQuantized(lowbit_uk_quantized_matmul_f32_vnni,
                         {m, n, k, group, zeros, /*nibbles=*/true, true, false, 0,
                          /*wideLevels=*/n == 7});
  for (bool zeros : {false, true})
    checkQuantized(lowbit_uk_quantized_matmul_f32_vnni,
                   {6, 9, 256, 32, zeros, true, false, /*staticScale=*/true});
  checkQuantized(lowbit_uk_quantized_matmul_f32_vnni,
                 {9, 33, 172, 32, true, true, true, false, /*outliers=*/3});
}

TEST(QuantizedMatmulF32, Avx2Int8MatchesReference) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
    GTEST_SKIP() << "this CPU has no AVX2";
  // As the VNNI variant: exact integer products (vpmaddubsw cannot
  // saturate with these operands), float sums within the same bound. Rows
  // 1, 2 and more take different tiles; groups below, at and above the
  // 32-level vector, ragged K.
  for (int64_t m : {1, 2, 3, 5})
    for (int64_t n : {1, 4, 7, 33})
      for (auto [k, group] : {std::pair<int64_t, int64_t>{172, 32},
                              {172, 172},
                              {64, 16},
                              {7, 3},
                              {300, 128},
                              {130, 64},
                              {100, 50}})
        for (bool zeros : {false, true})
          for (bool nibbles : {false, true})
            if (!nibbles || group % 2 == 0)
              checkQuantized(lowbit_uk_quantized_matmul_f32_avx2_int8,
                             {m, n, k, group, zeros, nibbles, true});
  checkQuantized(lowbit_uk_quantized_matmul_f32_avx2_int8, {2, 5, 4101, 128, true, true, true});
  // Levels two per byte with K a multiple of 64 and groups of a multiple
  // of 32: the paths over even/odd halves of 64-level blocks. One row: eight
  // groups at a time and the rest (here 2, 2, 1, 0, 4 groups) one by one;
  // more rows: block by block, each group's offset where it starts (96:
  // groups that start mid-block).
  for (int64_t m : {1, 2, 5})
    for (auto [k, group] :
         {std::pair<int64_t, int64_t>{320, 32}, {640, 64}, {1152, 128}, {256, 32}, {384, 96}})
      for (bool zeros : {false, true})
        for (int64_t n : {1, 9})
          checkQuantized(lowbit_uk_quantized_matmul_f32_avx2_int8,
                         {m, n, k, group, zeros, /*nibbles=*/true, true});
  // Groups of a multiple of 64 with several rows: the tile of three rows by
  // two channels (groups of 1280 or 320 levels, several blocks each), K past
  // the 4096-level slice (its zero points taken once per group), rows and
  // channels left over; the extreme nibbles give the largest int16 pair
  // sums.
  for (int64_t m : {2, 4, 7})
    for (auto [k, group] : {std::pair<int64_t, int64_t>{1280, 1280}, {1280, 320}, {5120, 128}})
      for (bool zeros : {false, true})
        for (int64_t n : {1, 2, 5})
          checkQuantized(lowbit_uk_quantized_matmul_f32_avx2_int8,
                         {m, n, k, group, zeros, /*nibbles=*/true, true, false, 0,
                          /*wideLevels=*/n == 5});
  for (int64_t m : {1, 2, 5})
    checkQuantized(lowbit_uk_quantized_matmul_f32_avx2_int8,
                   {m, 9, 172, 32, true, false, true, false, 0, /*wideLevels=*/true});
  for (int64_t m : {1, 5})
    for (bool nibbles : {false, true})
      checkQuantized(lowbit_uk_quantized_matmul_f32_avx2_int8,
                     {m, 33, 172, 32, true, nibbles, false, /*staticScale=*/true});
  checkQuantized(lowbit_uk_quantized_matmul_f32_avx2_int8,
                 {5, 33, 172, 32, true, true, true, false, /*outliers=*/3});
}

TEST(QuantizedMatmulF32, ReferenceAddsOutliers) {
  // The reference's own outlier product against the one the test computes.
  QuantizedVariant reference = [](const lowbit_uk_quantized_matmul_f32_params *p, float *) {
    lowbit_uk_quantized_matmul_f32_reference(p);
  };
  checkQuantized(reference, {3, 17, 172, 32, true, false, false, false, /*outliers=*/2});
}

TEST(QuantizedMatmulF32, Avx2MatchesReference) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
    GTEST_SKIP() << "this CPU has no AVX2";
  checkAllQuantized(lowbit_uk_quantized_matmul_f32_avx2);
}
} // namespace
