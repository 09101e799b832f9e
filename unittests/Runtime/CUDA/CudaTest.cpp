//===- CudaTest.cpp - The CUDA runtime half, with or without a GPU ---------===//
//
// Runs on every machine: without a driver or GPU the entry points must
// return an error that says so (and never crash), and bad shapes are
// refused before the driver is touched. With a GPU (the CudaGpu.* tests,
// which skip visibly elsewhere) each kernel must match its reference
// (KernelChecks.h) at full model shapes; EmulatedTest.cpp runs the same
// checks on every machine through the CPU emulator, at small shapes.
//
//===----------------------------------------------------------------------===//

#include "CUDA/Driver.h"
#include "KernelChecks.h"

#include <string>

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
  // The reason names what is missing, and every kernel entry returns it.
  EXPECT_TRUE(why.find("libcuda.so.1") != std::string::npos ||
              why.find("no CUDA device") != std::string::npos ||
              why.find("cuInit") != std::string::npos)
      << why;
  std::vector<float> x(32, 1.0f), s(1, 1.0f), y(1, 0.0f);
  std::vector<uint8_t> q(32, 0x88);
  char error[512] = "";
  EXPECT_EQ(lowbit_cuda_w4_gemv(x.data(), q.data(), s.data(), nullptr, y.data(), 1, 1, 32, 32,
                                error, sizeof error),
            -1);
  EXPECT_EQ(std::string(error), why);
  error[0] = 0;
  EXPECT_EQ(lowbit_cuda_weight_only_gemm(8, x.data(), q.data(), s.data(), nullptr, y.data(), 1, 1,
                                         32, 32, error, sizeof error),
            -1);
  EXPECT_EQ(std::string(error), why);
  error[0] = 0;
  EXPECT_EQ(lowbit_cuda_w8a8_gemm(x.data(), 0.0f, reinterpret_cast<const int8_t *>(q.data()),
                                  s.data(), nullptr, nullptr, 0, y.data(), 1, 1, 32, 32, error,
                                  sizeof error),
            -1);
  EXPECT_EQ(std::string(error), why);
}

TEST(Cuda, UnsupportedShapesAreRefusedBeforeTheDriver) {
  std::vector<float> x(64), s(2), y(2);
  std::vector<uint8_t> q(64);
  const int8_t *levels = reinterpret_cast<const int8_t *>(q.data());
  char error[512] = "";
  auto refused = [&](int status) {
    return status == -1 && std::string(error).find("unsupported arguments") != std::string::npos;
  };
  // k not a multiple of 32.
  EXPECT_TRUE(refused(lowbit_cuda_w4_gemv(x.data(), q.data(), s.data(), nullptr, y.data(), 1, 2, 48,
                                          48, error, sizeof error)))
      << error;
  // More rows than the GEMV holds.
  EXPECT_TRUE(refused(lowbit_cuda_w4_gemv(x.data(), q.data(), s.data(), nullptr, y.data(), 9, 2, 32,
                                          32, error, sizeof error)))
      << error;
  // A width the GEMM has no dequantization for, a group not a multiple of 32.
  EXPECT_TRUE(refused(lowbit_cuda_weight_only_gemm(3, x.data(), q.data(), s.data(), nullptr,
                                                   y.data(), 1, 2, 32, 32, error, sizeof error)))
      << error;
  EXPECT_TRUE(refused(lowbit_cuda_weight_only_gemm(4, x.data(), q.data(), s.data(), nullptr,
                                                   y.data(), 1, 2, 64, 48, error, sizeof error)))
      << error;
  // Outlier channels without their buffers; a negative activation scale.
  EXPECT_TRUE(refused(lowbit_cuda_w8a8_gemm(x.data(), 0.0f, levels, s.data(), nullptr, nullptr, 4,
                                            y.data(), 1, 2, 32, 32, error, sizeof error)))
      << error;
  EXPECT_TRUE(refused(lowbit_cuda_w8a8_gemm(x.data(), -1.0f, levels, s.data(), nullptr, nullptr, 0,
                                            y.data(), 1, 2, 32, 32, error, sizeof error)))
      << error;
}

using namespace lowbit_cuda_checks;

TEST(CudaGpu, W4GemvMatchesCpuReference) {
  std::string why;
  if (!haveGpu(&why))
    GTEST_SKIP() << "no GPU here: " << why;
  checkW4Gemv({{1, 4096, 4096, 128, false},
               {1, 37, 1024, 32, true},
               {8, 300, 2048, 64, false},
               {3, 5, 32, 32, true}});
}

// Ragged m and n against the 64 x 128 block, a ragged last group, zero
// points, and k long enough that the host splits it across blocks.
TEST(CudaGpu, WeightOnlyGemmMatchesCpuReference) {
  std::string why;
  if (!haveGpu(&why))
    GTEST_SKIP() << "no GPU here: " << why;
  checkWeightOnlyGemm({{4, 64, 4096, 4096, 128, false},
                       {4, 17, 300, 1024, 32, true},
                       {4, 200, 130, 96, 64, true},
                       {8, 33, 257, 2048, 128, false},
                       {8, 1, 5, 32, 32, true},
                       {8, 130, 11008 / 8, 4096, 4096, false}});
}

TEST(CudaGpu, W8A8GemmMatchesReference) {
  std::string why;
  if (!haveGpu(&why))
    GTEST_SKIP() << "no GPU here: " << why;
  checkW8A8Gemm({{256, 4096, 4096, 4096, 0, 0},
                 {19, 300, 1024, 128, 5, 0},
                 {1, 130, 64, 32, 17, 0.01f},
                 {70, 64, 4096, 64, 32, 0}});
}
TEST(CudaGpu, AttentionDecodeMatchesReference) {
  std::string why;
  if (!haveGpu(&why))
    GTEST_SKIP() << "no GPU here: " << why;
  checkAttentionDecode({{8, 32, 8, 4096, 128}, {4, 32, 8, 4096, 128}, {8, 4, 4, 8192, 64}});
}
} // namespace
