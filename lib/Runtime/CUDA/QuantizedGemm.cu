//===- QuantizedGemm.cu - Weight-only W4/W8 GEMM on tensor cores -----------===//
//
// y[m, n] = sum_k x[m, k] * (q[n, k] - z[n, g]) * s[n, g], g = k / group_size,
// for prompts (M beyond the decode GEMV's 8 rows): lowbit.quantized_matmul
// with fp32 activations and scales, on the CPU kernel's weight layout (W4:
// two levels per byte as level + 8, low nibble first; W8: one signed level
// per byte), so one packed constant serves both targets.
//
// In the manner of Marlin, the weight stays packed until it is in
// registers: a block stages a 64 x 32 tile of x (converted to f16) and the
// packed bytes of 128 channels x 32 levels in shared memory, double
// buffered, the next tile's global loads in flight while the tensor cores
// work on this one. Each warp turns its bytes into f16 pairs of exact
// integers q - z with two bit operations and one subtraction (0x6400 | u is
// the f16 1024 + u for u < 1024), multiplies 32 x 32 of the tile with
// mma.sync m16n8k16 (fp32 accumulation), and applies the fp32 scales once
// per group to the group's partial sums, so only x's rounding to f16 (a
// relative 2^-11, and |x| < 65504) separates the result from fp32.
//
// Split-K (gridDim.z > 1): each slice of the k tiles adds its partial
// product into y (zeroed by the caller) with atomicAdd.
//
// Requires k and group_size multiples of 32 (each k tile lies in one group;
// the last group may be ragged), x and y rows 16-byte aligned.
//
//===----------------------------------------------------------------------===//

#include "BlockTile.cuh"

using namespace lowbit_cuda;

namespace {
constexpr int kAStride = kTileK + 8; // halves per staged row of x (80 bytes)

/// The staged layout of the weight levels: `kStride` bytes per channel per
/// tile (padded where that keeps the warp's fragment reads free of bank
/// conflicts), levels stored as the unsigned u = q + kBias.
template <int Bits> struct Levels;
template <> struct Levels<4> {
  static constexpr int kBytes = kTileK / 2, kStride = 16, kBias = 8;
  /// Levels k, k + 1 (k = 16 s + 2 t, or + 8 for the second register) of
  /// the staged channel row, as the f16 pair (1024 + u_k, 1024 + u_k+1).
  __device__ static uint32_t pair(const uint8_t *row, int k) {
    uint32_t byte = row[k / 2];
    return (byte & 0xFu) | ((byte & 0xF0u) << 12) | 0x64006400u;
  }
};
template <> struct Levels<8> {
  static constexpr int kBytes = kTileK, kStride = 48, kBias = 128;
  __device__ static uint32_t pair(const uint8_t *row, int k) {
    uint32_t two = *reinterpret_cast<const uint16_t *>(row + k) ^ 0x8080u; // q + 128
    return (two & 0xFFu) | ((two & 0xFF00u) << 8) | 0x64006400u;
  }
};

template <int Bits> struct Stage {
  __half x[kBlockRows][kAStride];
  alignas(16) uint8_t q[kBlockCols][Levels<Bits>::kStride];
  float scale[kBlockCols];
  uint32_t bias[kBlockCols]; // f16 pair 1024 + kBias + z: subtracting it leaves q - z
};

/// One k tile's global loads, held in registers while the previous tile is
/// multiplied.
struct Prefetch {
  float4 x[2];
  uint4 q;
  float scale;
  float zero;
};

template <int Bits>
__device__ void loadTile(Prefetch &p, const float *__restrict__ x, const uint8_t *__restrict__ q,
                         const float *__restrict__ scales, const int8_t *__restrict__ zeros, int m,
                         int n, int k, int groups, int group_size, int row0, int col0, int k0) {
  const int tid = threadIdx.x;
#pragma unroll
  for (int i = 0; i < 2; ++i) { // 64 rows x 8 float4
    const int index = tid + i * kThreads, row = row0 + index / 8;
    p.x[i] = row < m
                 ? __ldg(reinterpret_cast<const float4 *>(x + int64_t(row) * k + k0) + index % 8)
                 : make_float4(0, 0, 0, 0);
  }
  constexpr int kLoadsPerChannel = Levels<Bits>::kBytes / 16;
  const int channel = col0 + tid / kLoadsPerChannel;
  const int64_t rowBytes = int64_t(k) * Bits / 8;
  p.q = make_uint4(0, 0, 0, 0);
  if (tid < kBlockCols * kLoadsPerChannel && channel < n)
    p.q = __ldg(reinterpret_cast<const uint4 *>(q + channel * rowBytes + k0 * Bits / 8) +
                tid % kLoadsPerChannel);
  p.scale = 0.0f;
  p.zero = 0.0f;
  if (tid < kBlockCols && col0 + tid < n) {
    const int64_t at = int64_t(col0 + tid) * groups + k0 / group_size;
    p.scale = __ldg(scales + at);
    p.zero = zeros ? float(zeros[at]) : 0.0f;
  }
}

template <int Bits> __device__ void storeTile(Stage<Bits> &s, const Prefetch &p) {
  const int tid = threadIdx.x;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int index = tid + i * kThreads;
    uint2 halves = make_uint2(packHalf2(p.x[i].x, p.x[i].y), packHalf2(p.x[i].z, p.x[i].w));
    *reinterpret_cast<uint2 *>(&s.x[index / 8][4 * (index % 8)]) = halves;
  }
  constexpr int kLoadsPerChannel = Levels<Bits>::kBytes / 16;
  if (tid < kBlockCols * kLoadsPerChannel)
    *reinterpret_cast<uint4 *>(&s.q[tid / kLoadsPerChannel][16 * (tid % kLoadsPerChannel)]) = p.q;
  if (tid < kBlockCols) {
    s.scale[tid] = p.scale;
    const float bias = 1024.0f + Levels<Bits>::kBias + p.zero;
    s.bias[tid] = packHalf2(bias, bias);
  }
}

__device__ __forceinline__ uint32_t sub2(uint32_t a, uint32_t b) {
  __half2 d = __hsub2(*reinterpret_cast<__half2 *>(&a), *reinterpret_cast<__half2 *>(&b));
  return *reinterpret_cast<uint32_t *>(&d);
}

template <int Bits>
__device__ void weightOnlyGemm(const float *__restrict__ x, const uint8_t *__restrict__ q,
                               const float *__restrict__ scales, const int8_t *__restrict__ zeros,
                               float *__restrict__ y, int m, int n, int k, int group_size) {
  __shared__ Stage<Bits> stages[2];
  const Place p = place();
  const int g = p.g, t = p.t, warpRow = p.warpRow, warpCol = p.warpCol;
  const int row0 = p.row0, col0 = p.col0;
  const int groups = (k + group_size - 1) / group_size;
  // This block's slice of the k tiles (split-K).
  const KSlice slice = kSlice(k);
  const int first = slice.first, last = slice.last;

  WarpAccumulators<float> acc = {};
  WarpAccumulators<float> partial = {}; // this group's sums, before its scale
  Prefetch next;
  if (first < last) {
    loadTile<Bits>(next, x, q, scales, zeros, m, n, k, groups, group_size, row0, col0,
                   first * kTileK);
    storeTile(stages[0], next);
  }
  __syncthreads();
  for (int tile = first; tile < last; ++tile) {
    const Stage<Bits> &s = stages[(tile - first) % 2];
    const int k0 = tile * kTileK;
    if (tile + 1 < last)
      loadTile<Bits>(next, x, q, scales, zeros, m, n, k, groups, group_size, row0, col0,
                     k0 + kTileK);
#pragma unroll
    for (int step = 0; step < kTileK / 16; ++step) {
      const int kk = 16 * step + 2 * t;
      uint32_t a[kFragsM][4];
#pragma unroll
      for (int mi = 0; mi < kFragsM; ++mi) {
        const int r = warpRow + 16 * mi + g;
        a[mi][0] = *reinterpret_cast<const uint32_t *>(&s.x[r][kk]);
        a[mi][1] = *reinterpret_cast<const uint32_t *>(&s.x[r + 8][kk]);
        a[mi][2] = *reinterpret_cast<const uint32_t *>(&s.x[r][kk + 8]);
        a[mi][3] = *reinterpret_cast<const uint32_t *>(&s.x[r + 8][kk + 8]);
      }
#pragma unroll
      for (int ni = 0; ni < kFragsN; ++ni) {
        const int c = warpCol + 8 * ni + g;
        const uint32_t b[2] = {sub2(Levels<Bits>::pair(s.q[c], kk), s.bias[c]),
                               sub2(Levels<Bits>::pair(s.q[c], kk + 8), s.bias[c])};
#pragma unroll
        for (int mi = 0; mi < kFragsM; ++mi)
          mmaF16(partial[mi][ni], a[mi], b);
      }
    }
    // A group ends (or this slice does): its sums times the channels' scales.
    if (endsGroup(k0, group_size, tile, slice))
      addScaledGroup(acc, partial, s.scale, p);
    if (tile + 1 < last)
      storeTile(stages[(tile + 1 - first) % 2], next);
    __syncthreads();
  }

  storeAccumulators(acc, y, m, n, p);
}
} // namespace

/// Grid: (ceil(n / 128), ceil(m / 64), k slices) blocks of 256 threads.
extern "C" __global__ void __launch_bounds__(kThreads)
    lowbit_cuda_w4_gemm_f32(const float *__restrict__ x, const uint8_t *__restrict__ q,
                            const float *__restrict__ scales, const int8_t *__restrict__ zeros,
                            float *__restrict__ y, int m, int n, int k, int group_size) {
  weightOnlyGemm<4>(x, q, scales, zeros, y, m, n, k, group_size);
}

extern "C" __global__ void __launch_bounds__(kThreads)
    lowbit_cuda_w8_gemm_f32(const float *__restrict__ x, const uint8_t *__restrict__ q,
                            const float *__restrict__ scales, const int8_t *__restrict__ zeros,
                            float *__restrict__ y, int m, int n, int k, int group_size) {
  weightOnlyGemm<8>(x, q, scales, zeros, y, m, n, k, group_size);
}

#ifdef LOWBIT_CUDA_EMULATION // the unit tests run the kernels on the CPU by name
LOWBIT_CUDA_EMULATED_KERNEL(lowbit_cuda_w4_gemm_f32)
LOWBIT_CUDA_EMULATED_KERNEL(lowbit_cuda_w8_gemm_f32)
#endif
