/*===- MemrefCopy.c - The memref copy the generated code calls ------------===*
 *
 * Code lowered from MLIR copies strided memrefs by calling memrefCopy (the
 * MLIR C runner utils provide it for JITs). A compiled lowbit model carries
 * this implementation instead, so it depends on nothing but libc. It follows
 * the descriptor layout of MLIR's UnrankedMemRefType lowering: an unranked
 * memref is {int64 rank, void *descriptor}, a ranked descriptor is
 * {T *allocated, T *aligned, int64 offset, int64 sizes[rank], int64 strides[rank]}.
 *===----------------------------------------------------------------------===*/

#include <stdint.h>
#include <string.h>

typedef struct {
  int64_t rank;
  void *descriptor;
} lowbit_unranked_memref;

typedef struct {
  char *allocated;
  char *aligned;
  int64_t offset;
  int64_t shape_and_strides[];
} lowbit_memref_descriptor;

void memrefCopy(int64_t element_size, lowbit_unranked_memref *src, lowbit_unranked_memref *dst) {
  const lowbit_memref_descriptor *s = src->descriptor;
  lowbit_memref_descriptor *d = dst->descriptor;
  int64_t rank = src->rank;
  const int64_t *sizes = s->shape_and_strides, *src_strides = sizes + rank;
  const int64_t *dst_strides = d->shape_and_strides + rank;
  char *src_base = s->aligned + s->offset * element_size;
  char *dst_base = d->aligned + d->offset * element_size;
  int64_t count = 1;
  for (int64_t i = 0; i < rank; ++i)
    count *= sizes[i];
  if (count == 0)
    return;
  if (rank == 0) {
    memcpy(dst_base, src_base, element_size);
    return;
  }
  /* Walk the index space in row-major order, tracking both offsets. */
  int64_t index[rank];
  memset(index, 0, sizeof(index));
  int64_t src_off = 0, dst_off = 0;
  for (int64_t n = 0; n < count; ++n) {
    memcpy(dst_base + dst_off * element_size, src_base + src_off * element_size, element_size);
    for (int64_t axis = rank - 1; axis >= 0; --axis) {
      src_off += src_strides[axis];
      dst_off += dst_strides[axis];
      if (++index[axis] < sizes[axis])
        break;
      src_off -= src_strides[axis] * sizes[axis];
      dst_off -= dst_strides[axis] * sizes[axis];
      index[axis] = 0;
    }
  }
}
