//===- KernelChecks.h - The CUDA kernels against their references ---------===//
//
// Shared by the GPU tests (CudaTest.cpp, a real device) and the emulated
// tests (EmulatedTest.cpp, the same kernels on the CPU emulator): each
// check runs a host entry of Kernels.h over the given shapes and compares
// with a reference within a bound derived from the arithmetic.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_UNITTESTS_RUNTIME_CUDA_KERNELCHECKS_H
#define LOWBIT_UNITTESTS_RUNTIME_CUDA_KERNELCHECKS_H

#include "CPU/UKernels/UKernels.h"
#include "CUDA/Kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <tuple>
#include <vector>

namespace lowbit_cuda_checks {

/// Random operands of y = x W^T with W = (q - z) s group-wise, the levels
/// also packed as the CUDA kernels read them (two per byte as level + 8 for
/// 4 bits, as they are for 8).
struct Operands {
  int64_t m, n, k, group, groups;
  int bits;
  std::vector<float> x, scales;
  std::vector<int8_t> levels, zeros;
  std::vector<uint8_t> packed;

  Operands(int64_t m, int64_t n, int64_t k, int64_t group, int bits)
      : m(m), n(n), k(k), group(group), groups((k + group - 1) / group), bits(bits), x(m * k),
        scales(n * groups), levels(n * k), zeros(n * groups), packed(n * k * bits / 8, 0) {
    std::mt19937 rng(unsigned(m * 7 + n * 3 + k + bits));
    std::uniform_real_distribution<float> uniform(-1, 1);
    int top = bits == 4 ? 7 : 127;
    std::uniform_int_distribution<int> level(-top - 1, top);
    for (float &v : x)
      v = uniform(rng);
    for (float &v : scales)
      v = 0.01f + 0.1f * std::fabs(uniform(rng));
    for (int8_t &v : zeros)
      v = int8_t(level(rng) / 2);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < k; ++i) {
        int8_t q = int8_t(level(rng));
        levels[j * k + i] = q;
        if (bits == 4)
          packed[j * (k / 2) + i / 2] |= uint8_t((q + 8) << (4 * (i % 2)));
        else
          packed[j * k + i] = uint8_t(q);
      }
  }

  float weight(int64_t j, int64_t i, bool withZeros) const {
    int64_t g = j * groups + i / group;
    return (levels[j * k + i] - (withZeros ? zeros[g] : 0)) * scales[g];
  }

  /// y by the CPU reference kernel (one level per byte).
  std::vector<float> cpuReference(bool withZeros) const {
    std::vector<float> y(m * n, 0.0f);
    lowbit_uk_quantized_matmul_f32_params p{};
    p.a = x.data();
    p.a_row_stride = k;
    p.a_col_stride = 1;
    p.q = levels.data();
    p.q_row_stride = k;
    p.q_col_stride = 1;
    p.scales = scales.data();
    p.s_row_stride = groups;
    p.s_col_stride = 1;
    p.zeros = withZeros ? zeros.data() : nullptr;
    p.z_row_stride = groups;
    p.z_col_stride = 1;
    p.c = y.data();
    p.c_row_stride = n;
    p.c_col_stride = 1;
    p.m = m;
    p.n = n;
    p.k = k;
    p.group_size = group;
    p.level_bits = 8;
    lowbit_uk_quantized_matmul_f32_reference(&p);
    return y;
  }
};

// The decode GEMV against the CPU reference kernel on the same packed
// weight. Both sum k products in fp32 in different orders; the bound is
// (k + 1) u times the sum of |x w| and |x| (8 + |z|) s (the kernel takes
// the +8 offset out through the sum of x).
using GemvShape = std::tuple<int64_t, int64_t, int64_t, int64_t, bool>; // m n k group zeros
inline void checkW4Gemv(const std::vector<GemvShape> &shapes) {
  for (auto [m, n, k, group, withZeros] : shapes) {
    Operands o(m, n, k, group, 4);
    std::vector<float> y(m * n), expected = o.cpuReference(withZeros);
    char error[512] = "";
    ASSERT_EQ(lowbit_cuda_w4_gemv(o.x.data(), o.packed.data(), o.scales.data(),
                                  withZeros ? o.zeros.data() : nullptr, y.data(), m, n, k, group,
                                  error, sizeof error),
              0)
        << error;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double magnitude = 0;
        for (int64_t t = 0; t < k; ++t) {
          int64_t g = j * o.groups + t / group;
          double z = withZeros ? o.zeros[g] : 0;
          magnitude += std::fabs(o.x[i * k + t]) * o.scales[g] *
                       (std::fabs(o.levels[j * k + t] - z) + 8 + std::fabs(z));
        }
        ASSERT_LE(std::fabs(y[i * n + j] - expected[i * n + j]), 2 * (k + 1) * 0x1p-24 * magnitude)
            << "at (" << i << ", " << j << ") of m=" << m << " n=" << n << " k=" << k;
      }
  }
}

// The tensor-core GEMM against the CPU reference kernel. The kernel
// rounds x to f16 (relative 2^-11, or 2^-25 absolute below f16's normal
// range) and otherwise sums in fp32 (exact integers q - z, one scale per
// group), so the bound is 2^-11 sum |x w| + 2^-25 sum |w| plus 2 (k + 1) u
// sum |x w| for the two fp32 summation orders.
// bits m n k group zeros
using GemmShape = std::tuple<int, int64_t, int64_t, int64_t, int64_t, bool>;
inline void checkWeightOnlyGemm(const std::vector<GemmShape> &shapes) {
  for (auto [bits, m, n, k, group, withZeros] : shapes) {
    Operands o(m, n, k, group, bits);
    std::vector<float> y(m * n, -1.0f), expected = o.cpuReference(withZeros);
    char error[512] = "";
    ASSERT_EQ(lowbit_cuda_weight_only_gemm(bits, o.x.data(), o.packed.data(), o.scales.data(),
                                           withZeros ? o.zeros.data() : nullptr, y.data(), m, n, k,
                                           group, error, sizeof error),
              0)
        << error;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double xw = 0, w = 0;
        for (int64_t t = 0; t < k; ++t) {
          double wt = std::fabs(o.weight(j, t, withZeros));
          xw += std::fabs(o.x[i * k + t]) * wt;
          w += wt;
        }
        double bound = 0x1p-11 * xw + 0x1p-25 * w + 2 * (k + 1) * 0x1p-24 * xw;
        ASSERT_LE(std::fabs(y[i * n + j] - expected[i * n + j]), bound)
            << "at (" << i << ", " << j << ") of W" << bits << " m=" << m << " n=" << n
            << " k=" << k << " group=" << group;
      }
  }
}

// W8A8 against a plain loop written for this test: each row's
// levels rint(x / s_x) (s_x its max |x| / 127, or the static scale), exact
// integer sums per group, then s_x sum_g s_w sum, plus the outlier
// channels. The levels and integer sums are the same on both sides; the
// fp32 epilogues (the groups' scaled sums, then the outlier channels)
// differ in order: 2 (groups + outliers + 2) u of the sum of magnitudes.
// m n k group outliers static-scale
using W8A8Shape = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, float>;
inline void checkW8A8Gemm(const std::vector<W8A8Shape> &shapes) {
  for (auto [m, n, k, group, outliers, staticScale] : shapes) {
    Operands o(m, n, k, group, 8);
    std::mt19937 rng(unsigned(m + n + outliers));
    std::uniform_real_distribution<float> big(-40, 40);
    std::vector<float> oa(m * outliers), ow(outliers * n);
    for (float &v : oa)
      v = big(rng);
    for (float &v : ow)
      v = big(rng) / 400;
    std::vector<float> y(m * n, -1.0f);
    char error[512] = "";
    ASSERT_EQ(lowbit_cuda_w8a8_gemm(o.x.data(), staticScale, o.levels.data(), o.scales.data(),
                                    oa.data(), ow.data(), outliers, y.data(), m, n, k, group, error,
                                    sizeof error),
              0)
        << error;
    for (int64_t i = 0; i < m; ++i) {
      float scale = staticScale;
      if (scale == 0) {
        float largest = 0;
        for (int64_t t = 0; t < k; ++t)
          largest = std::max(largest, std::fabs(o.x[i * k + t]));
        scale = largest == 0 ? 1.0f : largest / 127.0f;
      }
      std::vector<int> a(k);
      for (int64_t t = 0; t < k; ++t)
        a[t] = int(std::min(127.0f, std::max(-127.0f, std::rint(o.x[i * k + t] / scale))));
      for (int64_t j = 0; j < n; ++j) {
        double expected = 0, magnitude = 0, outlierMagnitude = 0;
        for (int64_t g = 0; g < o.groups; ++g) {
          int64_t sum = 0, absSum = 0;
          for (int64_t t = g * group; t < std::min(k, (g + 1) * group); ++t) {
            sum += int64_t(a[t]) * o.levels[j * k + t];
            absSum += std::abs(int64_t(a[t]) * o.levels[j * k + t]);
          }
          expected += double(scale) * o.scales[j * o.groups + g] * double(sum);
          magnitude += double(scale) * o.scales[j * o.groups + g] * double(absSum);
        }
        for (int64_t c = 0; c < outliers; ++c) {
          expected += double(oa[i * outliers + c]) * ow[c * n + j];
          outlierMagnitude += std::fabs(double(oa[i * outliers + c]) * ow[c * n + j]);
        }
        double bound =
            2 * double(o.groups + outliers + 2) * 0x1p-24 * (magnitude + outlierMagnitude);
        ASSERT_LE(std::fabs(y[i * n + j] - expected), bound)
            << "at (" << i << ", " << j << ") of m=" << m << " n=" << n << " k=" << k
            << " outliers=" << outliers;
      }
    }
  }
}
// Decode attention over a quantized KV cache against a double-precision
// loop over the dequantized cache. The kernel sums in fp32: a score is off
// by at most (d + 2) u times the sum of |q k| scale (times the softmax
// scale), which moves each weight p by that relative amount (twice, through
// the normalization) plus expf's few ulp; the value sums add T u. Bound:
// (4 max_t score error + (T + 16) u) max |v|.
// bits heads kv_heads tokens head_dim
using AttentionShape = std::tuple<int, int64_t, int64_t, int64_t, int64_t>;
inline void checkAttentionDecode(const std::vector<AttentionShape> &shapes) {
  for (auto [bits, heads, kvHeads, tokens, dim] : shapes) {
    std::mt19937 rng(unsigned(bits * 7 + heads + tokens * 3 + dim));
    std::uniform_real_distribution<float> uniform(-1, 1);
    int top = bits == 8 ? 127 : 7;
    std::uniform_int_distribution<int> level(-top - 1, top);
    int64_t rowBytes = bits == 8 ? dim : dim / 2;
    std::vector<float> q(heads * dim), kScales(kvHeads * tokens), vScales(kvHeads * tokens),
        out(heads * dim, -1.0f);
    std::vector<int> kLevels(kvHeads * tokens * dim), vLevels(kvHeads * tokens * dim);
    std::vector<int8_t> kBytes(kvHeads * tokens * rowBytes, 0),
        vBytes(kvHeads * tokens * rowBytes, 0);
    for (float &v : q)
      v = uniform(rng);
    for (float &v : kScales)
      v = (0.5f + std::fabs(uniform(rng))) / top;
    for (float &v : vScales)
      v = (0.5f + std::fabs(uniform(rng))) / top;
    auto pack = [&](std::vector<int> &levels, std::vector<int8_t> &bytes) {
      for (int64_t r = 0; r < kvHeads * tokens; ++r)
        for (int64_t j = 0; j < dim; ++j) {
          int l = level(rng);
          levels[r * dim + j] = l;
          if (bits == 8)
            bytes[r * dim + j] = int8_t(l);
          else
            bytes[r * rowBytes + j / 2] |= int8_t((l + 8) << (4 * (j % 2)));
        }
    };
    pack(kLevels, kBytes);
    pack(vLevels, vBytes);
    const float softmaxScale = 1.0f / std::sqrt(float(dim));
    char error[512] = "";
    ASSERT_EQ(lowbit_cuda_attention_decode(bits, q.data(), kBytes.data(), kScales.data(),
                                           vBytes.data(), vScales.data(), out.data(), heads,
                                           kvHeads, tokens, dim, softmaxScale, error, sizeof error),
              0)
        << error;
    for (int64_t h = 0; h < heads; ++h) {
      int64_t kv = h / (heads / kvHeads);
      std::vector<double> scores(tokens);
      double largest = -1e300, scoreError = 0, vMax = 0;
      for (int64_t t = 0; t < tokens; ++t) {
        double dot = 0, magnitude = 0;
        for (int64_t j = 0; j < dim; ++j) {
          double term = double(q[h * dim + j]) * kLevels[(kv * tokens + t) * dim + j];
          dot += term;
          magnitude += std::fabs(term);
        }
        double scale = double(kScales[kv * tokens + t]) * softmaxScale;
        scores[t] = dot * scale;
        largest = std::max(largest, scores[t]);
        scoreError = std::max(scoreError, double(dim + 2) * 0x1p-24 * magnitude * scale);
      }
      double total = 0;
      for (double &s : scores)
        total += s = std::exp(s - largest);
      for (int64_t j = 0; j < dim; ++j) {
        double expected = 0;
        for (int64_t t = 0; t < tokens; ++t) {
          double v = double(vScales[kv * tokens + t]) * vLevels[(kv * tokens + t) * dim + j];
          expected += scores[t] / total * v;
          vMax = std::max(vMax, std::fabs(v));
        }
        double bound = (4 * scoreError + double(tokens + 16) * 0x1p-24) * vMax;
        ASSERT_LE(std::fabs(out[h * dim + j] - expected), bound)
            << "head " << h << " dim " << j << " of bits=" << bits << " heads=" << heads
            << " kv_heads=" << kvHeads << " tokens=" << tokens << " head_dim=" << dim;
      }
    }
  }
}

} // namespace lowbit_cuda_checks

#endif // LOWBIT_UNITTESTS_RUNTIME_CUDA_KERNELCHECKS_H
