//===- CudaTest.cpp - The CUDA runtime half, with or without a GPU ---------===//
//
// Runs on every machine: without a driver or GPU the entry points must
// return an error that says so (and never crash); with one (the GPU tests,
// which skip visibly elsewhere) the decode GEMV must match the CPU
// reference kernel on the same operands.
//
//===----------------------------------------------------------------------===//

#include "CPU/UKernels/UKernels.h"
#include "CUDA/Driver.h"
#include "CUDA/QuantizedGemv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace {
bool haveGpu(std::string *why) {
  char error[512] = "";
  bool ok = lowbit_cuda_driver_open(error, sizeof error) != nullptr;
  *why = error;
  return ok;
}

TEST(Cuda, NoDriverOrGpuIsAClearError) {
  std::string why;
  if (haveGpu(&why))
    GTEST_SKIP() << "a GPU is present (" << lowbit_cuda_device_name() << ")";
  // The reason names what is missing, and the kernel entry returns it too.
  EXPECT_TRUE(why.find("libcuda.so.1") != std::string::npos ||
              why.find("no CUDA device") != std::string::npos ||
              why.find("cuInit") != std::string::npos)
      << why;
  std::vector<float> x(32, 1.0f), s(1, 1.0f), y(1, 0.0f);
  std::vector<uint8_t> q(16, 0x88);
  char error[512] = "";
  EXPECT_EQ(lowbit_cuda_w4_gemv(x.data(), q.data(), s.data(), nullptr, y.data(), 1, 1, 32, 32,
                                error, sizeof error),
            -1);
  EXPECT_EQ(std::string(error), why);
}

TEST(Cuda, UnsupportedShapesAreRefusedBeforeTheDriver) {
  std::vector<float> x(64), s(2), y(2);
  std::vector<uint8_t> q(64);
  char error[512] = "";
  // k not a multiple of 32.
  EXPECT_EQ(lowbit_cuda_w4_gemv(x.data(), q.data(), s.data(), nullptr, y.data(), 1, 2, 48, 48,
                                error, sizeof error),
            -1);
  EXPECT_NE(std::string(error).find("unsupported arguments"), std::string::npos) << error;
  // More rows than the kernel holds.
  EXPECT_EQ(lowbit_cuda_w4_gemv(x.data(), q.data(), s.data(), nullptr, y.data(), 9, 2, 32, 32,
                                error, sizeof error),
            -1);
}

// GPU: the kernel against the CPU reference kernel on the same packed
// weight. Both sum k products in fp32 in different orders; the bound is
// (k + 1) u times the sum of |x w| and |x| (8 + |z|) s (the kernel takes
// the +8 offset out through the sum of x).
TEST(CudaGpu, W4GemvMatchesCpuReference) {
  std::string why;
  if (!haveGpu(&why))
    GTEST_SKIP() << "no GPU here: " << why;
  for (auto [m, n, k, group, withZeros] :
       {std::tuple<int64_t, int64_t, int64_t, int64_t, bool>{1, 4096, 4096, 128, false},
        {1, 37, 1024, 32, true},
        {8, 300, 2048, 64, false},
        {3, 5, 32, 32, true}}) {
    std::mt19937 rng(unsigned(m * 7 + n + k));
    std::uniform_real_distribution<float> uniform(-1, 1);
    std::uniform_int_distribution<int> level(-8, 7);
    int64_t groups = k / group;
    std::vector<float> x(m * k), scales(n * groups), y(m * n), expected(m * n, 0.0f);
    std::vector<int8_t> levels(n * k), zeros(n * groups);
    std::vector<uint8_t> packed(n * k / 2, 0);
    for (float &v : x)
      v = uniform(rng);
    for (float &v : scales)
      v = 0.01f + 0.1f * std::fabs(uniform(rng));
    for (int8_t &v : zeros)
      v = int8_t(level(rng));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < k; ++i) {
        levels[j * k + i] = int8_t(level(rng));
        packed[j * (k / 2) + i / 2] |= uint8_t((levels[j * k + i] + 8) << (4 * (i % 2)));
      }
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
    p.c = expected.data();
    p.c_row_stride = n;
    p.c_col_stride = 1;
    p.m = m;
    p.n = n;
    p.k = k;
    p.group_size = group;
    p.level_bits = 8;
    lowbit_uk_quantized_matmul_f32_reference(&p);
    char error[512] = "";
    ASSERT_EQ(lowbit_cuda_w4_gemv(x.data(), packed.data(), scales.data(),
                                  withZeros ? zeros.data() : nullptr, y.data(), m, n, k, group,
                                  error, sizeof error),
              0)
        << error;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double magnitude = 0;
        for (int64_t t = 0; t < k; ++t) {
          int64_t g = t / group;
          double z = withZeros ? zeros[j * groups + g] : 0;
          magnitude += std::fabs(x[i * k + t]) * scales[j * groups + g] *
                       (std::fabs(levels[j * k + t] - z) + 8 + std::fabs(z));
        }
        ASSERT_LE(std::fabs(y[i * n + j] - expected[i * n + j]), 2 * (k + 1) * 0x1p-24 * magnitude)
            << "at (" << i << ", " << j << ") of m=" << m << " n=" << n << " k=" << k;
      }
  }
}
} // namespace
