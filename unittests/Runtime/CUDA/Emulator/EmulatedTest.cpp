//===- EmulatedTest.cpp - The CUDA kernels on the CPU emulator -------------===//
//
// The CUDA kernels' source, compiled as C++ against Emulator.h, run through
// the runtime's own host entries (Kernels.c, Launch.c) over the emulated
// driver, and checked against the same references as on a GPU
// (KernelChecks.h). Shapes are small (the emulator runs a block's threads
// one at a time) but cover what the kernels' indexing must get right:
// ragged rows, channels and last groups, zero points, k split across
// blocks, outlier channels beyond a multiple of 16.
//
//===----------------------------------------------------------------------===//

#include "EmulatedDriver.h"
#include "KernelChecks.h"

#include <string>

void lowbitCudaUseEmulator() { lowbit_cuda_driver_replace(lowbitEmulatedDriver()); }

namespace {
using namespace lowbit_cuda_checks;

class CudaEmulated : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    lowbitCudaUseEmulator();
    char error[256] = "";
    ASSERT_NE(lowbit_cuda_driver_open(error, sizeof error), nullptr) << error;
    ASSERT_EQ(std::string(lowbit_cuda_device_name()), "lowbit CUDA emulator (CPU)");
  }
};

TEST_F(CudaEmulated, W4GemvMatchesCpuReference) {
  checkW4Gemv({{1, 37, 1024, 32, true}, {8, 9, 256, 64, false}, {3, 5, 32, 32, true}});
}

TEST_F(CudaEmulated, WeightOnlyGemmMatchesCpuReference) {
  // {bits, m, n, k, group, zeros}: 2 x 2 blocks, k split in two; one
  // ragged block with a ragged last group; one row; 8-bit levels.
  checkWeightOnlyGemm({{4, 70, 200, 256, 64, true},
                       {4, 17, 130, 96, 64, false},
                       {4, 1, 5, 32, 32, true},
                       {8, 33, 129, 128, 32, false},
                       {8, 65, 8, 64, 64, true}});
}

TEST_F(CudaEmulated, W8A8GemmMatchesReference) {
  // {m, n, k, group, outliers, static scale}.
  checkW8A8Gemm({{19, 150, 128, 64, 5, 0},
                 {1, 130, 64, 32, 17, 0.01f},
                 {70, 64, 256, 256, 32, 0},
                 {3, 8, 32, 32, 0, 0}});
}

TEST_F(CudaEmulated, AttentionDecodeMatchesReference) {
  // {bits, heads, kv_heads, tokens, head_dim}: grouped queries, tokens past
  // the block's 128 threads and not a multiple of its 4 warps, one token,
  // head_dim 128 (4 values per lane) and one that is not a multiple of 32.
  checkAttentionDecode(
      {{8, 4, 2, 300, 64}, {4, 4, 2, 300, 64}, {8, 2, 2, 1, 128}, {4, 3, 1, 37, 40}});
}

// A refused call leaves nothing behind: the next call runs, and a weight of
// all ones times x of all ones sums k exactly.
TEST_F(CudaEmulated, EntriesReportBadShapesAndStillWorkAfterwards) {
  std::vector<float> x(64, 1.0f), s(2, 1.0f), y(2, 0.0f);
  std::vector<uint8_t> q(64, 0x99); // levels 1 (as 1 + 8) in both nibbles
  char error[256] = "";
  EXPECT_EQ(lowbit_cuda_weight_only_gemm(4, x.data(), q.data(), s.data(), nullptr, y.data(), 1, 2,
                                         48, 48, error, sizeof error),
            -1);
  ASSERT_EQ(lowbit_cuda_weight_only_gemm(4, x.data(), q.data(), s.data(), nullptr, y.data(), 1, 2,
                                         64, 64, error, sizeof error),
            0)
      << error;
  EXPECT_EQ(y[0], 64.0f);
  EXPECT_EQ(y[1], 64.0f);
}
} // namespace
