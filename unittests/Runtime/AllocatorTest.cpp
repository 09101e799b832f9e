//===- AllocatorTest.cpp - The generated code's buffer allocator ----------===//

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <thread>

extern "C" {
void *_mlir_memref_to_llvm_alloc(size_t size);
void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t size);
void _mlir_memref_to_llvm_free(void *ptr);
}

namespace {
TEST(Allocator, AlignsAndIsWritable) {
  for (size_t alignment : {8, 16, 64, 128, 4096})
    for (size_t size : {1, 100, 70000, 1 << 20}) {
      void *p = _mlir_memref_to_llvm_aligned_alloc(alignment, size);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % alignment, 0u) << alignment << " " << size;
      std::memset(p, 0xab, size);
      _mlir_memref_to_llvm_free(p);
    }
  _mlir_memref_to_llvm_free(nullptr);
}

TEST(Allocator, ReusesALargeBufferOfTheSameSizeClass) {
  // Both round up to 1 MiB + 128 KiB (classes step by 1/8 of a power of 2).
  void *first = _mlir_memref_to_llvm_aligned_alloc(64, (1 << 20) + 1000);
  _mlir_memref_to_llvm_free(first);
  void *second = _mlir_memref_to_llvm_aligned_alloc(64, (1 << 20) + 2000);
  EXPECT_EQ(first, second);
  // A different class does not get it.
  void *third = _mlir_memref_to_llvm_aligned_alloc(64, 1 << 20);
  EXPECT_NE(third, second);
  _mlir_memref_to_llvm_free(second);
  _mlir_memref_to_llvm_free(third);
}

TEST(Allocator, CachesPerThread) {
  void *mine = _mlir_memref_to_llvm_alloc(3 << 20);
  _mlir_memref_to_llvm_free(mine);
  void *theirs = nullptr;
  std::thread([&] {
    theirs = _mlir_memref_to_llvm_alloc(3 << 20);
    std::memset(theirs, 1, 3 << 20);
    _mlir_memref_to_llvm_free(theirs); // released when the thread exits
  }).join();
  EXPECT_NE(mine, theirs);
  EXPECT_EQ(_mlir_memref_to_llvm_alloc(3 << 20), mine);
}

TEST(Allocator, BoundsTheCache) {
  // Freeing more than the cap (256 MiB) keeps at most the cap: a 200 MiB
  // buffer and then another 200 MiB one cannot both stay cached.
  void *a = _mlir_memref_to_llvm_alloc(200u << 20), *b = _mlir_memref_to_llvm_alloc(200u << 20);
  _mlir_memref_to_llvm_free(a);
  _mlir_memref_to_llvm_free(b); // over the cap: back to the system
  void *c = _mlir_memref_to_llvm_alloc(200u << 20), *d = _mlir_memref_to_llvm_alloc(200u << 20);
  EXPECT_EQ(c, a);
  _mlir_memref_to_llvm_free(c);
  _mlir_memref_to_llvm_free(d);
}
} // namespace
