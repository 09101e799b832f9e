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

/* Copies a strided array of `rank` dimensions: the innermost dimensions
 * that are contiguous in both source and destination form one run, copied
 * with one memcpy; the outer index space is walked in row-major order. */
void lowbit_strided_copy(int64_t element_size, int64_t rank, const int64_t *sizes,
                         const char *src, const int64_t *src_strides, char *dst,
                         const int64_t *dst_strides) {
  int64_t count = 1;
  for (int64_t i = 0; i < rank; ++i)
    count *= sizes[i];
  if (count == 0)
    return;
  int64_t outer = rank, run = 1;
  while (outer > 0 && src_strides[outer - 1] == run && dst_strides[outer - 1] == run)
    run *= sizes[--outer];
  int64_t index[outer > 0 ? outer : 1];
  memset(index, 0, sizeof(index));
  int64_t src_off = 0, dst_off = 0;
  for (int64_t n = 0; n < count / run; ++n) {
    memcpy(dst + dst_off * element_size, src + src_off * element_size, run * element_size);
    for (int64_t axis = outer - 1; axis >= 0; --axis) {
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

void memrefCopy(int64_t element_size, lowbit_unranked_memref *src, lowbit_unranked_memref *dst) {
  const lowbit_memref_descriptor *s = src->descriptor;
  lowbit_memref_descriptor *d = dst->descriptor;
  int64_t rank = src->rank;
  const int64_t *sizes = s->shape_and_strides;
  lowbit_strided_copy(element_size, rank, sizes, s->aligned + s->offset * element_size,
                      sizes + rank, d->aligned + d->offset * element_size,
                      d->shape_and_strides + rank);
}
