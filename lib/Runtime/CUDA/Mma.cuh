//===- Mma.cuh - Warp-level tensor-core products (mma.sync) ----------------===//
//
// The two warp-wide products the GEMM kernels use, with the PTX ISA's
// fragment layouts spelled out once. For a lane, g = lane / 4 (the group)
// and t = lane % 4 (the thread in the group):
//
// m16n8k16, f16 inputs, f32 accumulators (row.col):
//   A (16 x 16, row-major): a[0] = A[g][2t, 2t+1]     a[1] = A[g+8][2t, 2t+1]
//                           a[2] = A[g][2t+8, 2t+9]   a[3] = A[g+8][2t+8, 2t+9]
//   B (16 x 8, column n = g): b[0] = B[2t, 2t+1][g]   b[1] = B[2t+8, 2t+9][g]
// m16n8k32, s8 inputs, s32 accumulators (row.col):
//   A (16 x 32): a[0] = A[g][4t .. 4t+3]      a[1] = A[g+8][4t .. 4t+3]
//                a[2] = A[g][4t+16 .. 4t+19]  a[3] = A[g+8][4t+16 .. 4t+19]
//   B (32 x 8):  b[0] = B[4t .. 4t+3][g]      b[1] = B[4t+16 .. 4t+19][g]
// Accumulators of both (16 x 8):
//   c[0] = C[g][2t]  c[1] = C[g][2t+1]  c[2] = C[g+8][2t]  c[3] = C[g+8][2t+1]
// A register holds its two f16 (or four s8) elements lowest index first.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_RUNTIME_CUDA_MMA_CUH
#define LOWBIT_RUNTIME_CUDA_MMA_CUH

#ifndef LOWBIT_CUDA_EMULATION // the unit tests' CPU emulator brings its own
#include <cuda_fp16.h>
#endif
#include <stdint.h>

namespace lowbit_cuda {

constexpr int kWarp = 32;

/// c += a b over a 16 x 8 x 16 tile in f16 with f32 accumulation.
__device__ __forceinline__ void mmaF16(float (&c)[4], const uint32_t (&a)[4],
                                       const uint32_t (&b)[2]) {
#ifdef LOWBIT_CUDA_EMULATION
  emulatedMmaF16(c, a, b);
#else
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
               "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

/// c += a b over a 16 x 8 x 32 tile in int8 with exact int32 accumulation.
__device__ __forceinline__ void mmaS8(int32_t (&c)[4], const uint32_t (&a)[4],
                                      const uint32_t (&b)[2]) {
#ifdef LOWBIT_CUDA_EMULATION
  emulatedMmaS8(c, a, b);
#else
  asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
               "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

/// Two floats as the f16 pair of one register, `lo` first.
__device__ __forceinline__ uint32_t packHalf2(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&h);
}

} // namespace lowbit_cuda

#endif // LOWBIT_RUNTIME_CUDA_MMA_CUH
