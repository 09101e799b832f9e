//===- Int8Gemm.cu - W8A8 GEMM on int8 tensor cores, outliers fused --------===//
//
// lowbit.quantized_matmul with activation_bits 8 and one-byte weight levels
// (SmoothQuant's W8A8, LLM.int8's split layers), as the CPU kernels define
// it (lowbit_uk_quantized_matmul_f32_params):
//
//   y[m, n] = a_s[m] sum_g w_s[n, g] sum_{k in g} a_q[m, k] q[n, k]
//           + sum_c outlier_a[m, c] outlier_w[c, n]
//
// where a_q = rint(x / a_s) clamped to [-127, 127] and a_s is one static
// scale or each row's own max |x| / 127 (lowbit_cuda_quantize_rows_i8, the
// same levels as the CPU kernels give). The products run on int8 tensor
// cores (mma.sync m16n8k32, exact int32 sums per group), the group's sums
// are scaled in fp32, and the outlier channels (gathered columns of x and
// their weight rows) are added in fp32 in the same kernel before the store.
// fp32 rather than LLM.int8's fp16 outlier columns: the model around them is
// fp32, and f16 weights there cost a planted-outlier LLaMA 4e-3 of relative
// logits error against the CPU path (7e-8 in fp32), for a product of a few
// channels that is a small part of the kernel's work either way.
//
// Symmetric weights only (SmoothQuant's); k and group_size multiples of 32.
//
//===----------------------------------------------------------------------===//

#include "BlockTile.cuh"

using namespace lowbit_cuda;

namespace {
constexpr int kStride = 48; // bytes per staged row of 32 levels: conflict-free fragment reads

struct Stage {
  alignas(16) int8_t a[kBlockRows][kStride];
  alignas(16) int8_t q[kBlockCols][kStride];
  float scale[kBlockCols];
};

struct Prefetch {
  uint4 a, q;
  float scale;
};

__device__ void loadTile(Prefetch &p, const int8_t *__restrict__ a, const int8_t *__restrict__ q,
                         const float *__restrict__ scales, int m, int n, int k, int groups,
                         int group_size, int row0, int col0, int k0) {
  const int tid = threadIdx.x;
  const int row = row0 + tid / 2, channel = col0 + tid / 2;
  p.a = make_uint4(0, 0, 0, 0);
  if (tid < 2 * kBlockRows && row < m)
    p.a = __ldg(reinterpret_cast<const uint4 *>(a + int64_t(row) * k + k0) + tid % 2);
  p.q = channel < n
            ? __ldg(reinterpret_cast<const uint4 *>(q + int64_t(channel) * k + k0) + tid % 2)
            : make_uint4(0, 0, 0, 0);
  p.scale = 0.0f;
  if (tid < kBlockCols && col0 + tid < n)
    p.scale = __ldg(scales + int64_t(col0 + tid) * groups + k0 / group_size);
}

__device__ void storeTile(Stage &s, const Prefetch &p) {
  const int tid = threadIdx.x;
  if (tid < 2 * kBlockRows)
    *reinterpret_cast<uint4 *>(&s.a[tid / 2][16 * (tid % 2)]) = p.a;
  *reinterpret_cast<uint4 *>(&s.q[tid / 2][16 * (tid % 2)]) = p.q;
  if (tid < kBlockCols)
    s.scale[tid] = p.scale;
}

__device__ __forceinline__ uint32_t word(const int8_t *p) {
  return *reinterpret_cast<const uint32_t *>(p);
}

} // namespace

/// One block of 256 threads per row of x: a_scales[row] (the static scale,
/// or max |x| / 127 of the row, 1 for a zero row) and a[row, :] =
/// rint(x / scale) clamped to [-127, 127], as the CPU kernels quantize.
extern "C" __global__ void __launch_bounds__(256)
    lowbit_cuda_quantize_rows_i8(const float *__restrict__ x, int8_t *__restrict__ a,
                                 float *__restrict__ a_scales, int k, float static_scale) {
  __shared__ float warpMax[256 / kWarp];
  const float *in = x + int64_t(blockIdx.x) * k;
  float scale = static_scale;
  if (scale == 0.0f) {
    float largest = 0.0f;
    for (int i = threadIdx.x; i < k; i += blockDim.x)
      largest = fmaxf(largest, fabsf(in[i]));
    for (int delta = kWarp / 2; delta > 0; delta /= 2)
      largest = fmaxf(largest, __shfl_xor_sync(0xffffffffu, largest, delta));
    if (threadIdx.x % kWarp == 0)
      warpMax[threadIdx.x / kWarp] = largest;
    __syncthreads();
    largest = 0.0f;
    for (int w = 0; w < int(blockDim.x) / kWarp; ++w)
      largest = fmaxf(largest, warpMax[w]);
    scale = largest == 0.0f ? 1.0f : largest / 127.0f;
  }
  if (threadIdx.x == 0)
    a_scales[blockIdx.x] = scale;
  for (int i = threadIdx.x; i < k; i += blockDim.x) {
    const float level = rintf(in[i] / scale);
    a[int64_t(blockIdx.x) * k + i] = int8_t(fminf(fmaxf(level, -127.0f), 127.0f));
  }
}

/// Grid: (ceil(n / 128), ceil(m / 64), k slices) blocks of 256 threads;
/// with k slices, y is zeroed first and each slice adds its part (the
/// outliers are added by slice 0). outlier_a: [m, outliers], outlier_w:
/// [n, outliers] (channel-major), fp32 (outliers 0: none).
extern "C" __global__ void __launch_bounds__(kThreads)
    lowbit_cuda_w8a8_gemm_f32(const int8_t *__restrict__ a, const float *__restrict__ a_scales,
                              const int8_t *__restrict__ q, const float *__restrict__ scales,
                              const float *__restrict__ outlier_a,
                              const float *__restrict__ outlier_w, float *__restrict__ y, int m,
                              int n, int k, int group_size, int outliers) {
  __shared__ Stage stages[2];
  const Place p = place();
  const int g = p.g, t = p.t, warpRow = p.warpRow, warpCol = p.warpCol;
  const int row0 = p.row0, col0 = p.col0;
  const int groups = (k + group_size - 1) / group_size;
  const KSlice slice = kSlice(k);
  const int first = slice.first, last = slice.last;

  WarpAccumulators<float> acc = {};
  WarpAccumulators<int32_t> partial = {}; // this group's exact sums
  Prefetch next;
  if (first < last) {
    loadTile(next, a, q, scales, m, n, k, groups, group_size, row0, col0, first * kTileK);
    storeTile(stages[0], next);
  }
  __syncthreads();
  for (int tile = first; tile < last; ++tile) {
    const Stage &s = stages[(tile - first) % 2];
    const int k0 = tile * kTileK;
    if (tile + 1 < last)
      loadTile(next, a, q, scales, m, n, k, groups, group_size, row0, col0, k0 + kTileK);
    uint32_t af[kFragsM][4];
#pragma unroll
    for (int mi = 0; mi < kFragsM; ++mi) {
      const int r = warpRow + 16 * mi + g;
      af[mi][0] = word(&s.a[r][4 * t]);
      af[mi][1] = word(&s.a[r + 8][4 * t]);
      af[mi][2] = word(&s.a[r][4 * t + 16]);
      af[mi][3] = word(&s.a[r + 8][4 * t + 16]);
    }
#pragma unroll
    for (int ni = 0; ni < kFragsN; ++ni) {
      const int c = warpCol + 8 * ni + g;
      const uint32_t b[2] = {word(&s.q[c][4 * t]), word(&s.q[c][4 * t + 16])};
#pragma unroll
      for (int mi = 0; mi < kFragsM; ++mi)
        mmaS8(partial[mi][ni], af[mi], b);
    }
    if (endsGroup(k0, group_size, tile, slice))
      addScaledGroup(acc, partial, s.scale, p);
    if (tile + 1 < last)
      storeTile(stages[(tile + 1 - first) % 2], next);
    __syncthreads();
  }

  // The rows' activation scales, then the outlier channels in fp32.
#pragma unroll
  for (int mi = 0; mi < kFragsM; ++mi)
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int row = row0 + warpRow + 16 * mi + g + 8 * (r / 2);
      const float rowScale = row < m ? __ldg(a_scales + row) : 0.0f;
#pragma unroll
      for (int ni = 0; ni < kFragsN; ++ni)
        acc[mi][ni][r] *= rowScale;
    }
  if (blockIdx.z == 0)
    for (int c = 0; c < outliers; ++c) {
      float a[kFragsM][2], w[kFragsN][2];
#pragma unroll
      for (int mi = 0; mi < kFragsM; ++mi)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int row = row0 + warpRow + 16 * mi + g + 8 * h;
          a[mi][h] = row < m ? __ldg(outlier_a + int64_t(row) * outliers + c) : 0.0f;
        }
#pragma unroll
      for (int ni = 0; ni < kFragsN; ++ni)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int col = col0 + warpCol + 8 * ni + 2 * t + e;
          w[ni][e] = col < n ? __ldg(outlier_w + int64_t(col) * outliers + c) : 0.0f;
        }
#pragma unroll
      for (int mi = 0; mi < kFragsM; ++mi)
#pragma unroll
        for (int ni = 0; ni < kFragsN; ++ni)
#pragma unroll
          for (int r = 0; r < 4; ++r)
            acc[mi][ni][r] = fmaf(a[mi][r / 2], w[ni][r % 2], acc[mi][ni][r]);
    }

  storeAccumulators(acc, y, m, n, p);
}

#ifdef LOWBIT_CUDA_EMULATION // the unit tests run the kernels on the CPU by name
LOWBIT_CUDA_EMULATED_KERNEL(lowbit_cuda_quantize_rows_i8)
LOWBIT_CUDA_EMULATED_KERNEL(lowbit_cuda_w8a8_gemm_f32)
#endif
