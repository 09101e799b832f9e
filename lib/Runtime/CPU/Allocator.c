/*===- Allocator.c - Buffers of the generated code ------------------------===*
 *
 * The generated code allocates its temporaries and results through
 * _mlir_memref_to_llvm_{alloc,aligned_alloc,free} (finalize-memref-to-llvm
 * with use-generic-functions). Large buffers are kept on a per-thread free
 * list by size class when freed, so a model run again reuses the previous
 * run's memory instead of mapping, faulting in and zeroing fresh pages
 * (glibc returns large blocks to the system on free). Each thread keeps at
 * most LOWBIT_BUFFER_CACHE bytes; its cache is released when it exits.
 *===----------------------------------------------------------------------===*/

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SMALL (64 * 1024)                  /* smaller buffers go straight to malloc */
#define LOWBIT_BUFFER_CACHE (256ull << 20) /* bytes cached per thread */
#define CLASSES (64 * 8)                   /* 8 size classes per power of two */

/* Lies just below the pointer handed out. */
typedef struct header {
  struct header *next; /* on a free list */
  void *raw;           /* what malloc returned */
  size_t bytes;        /* usable bytes of the size class; 0: not cached */
  int size_class;
} header;

typedef struct {
  header *free[CLASSES];
  size_t cached;
} cache;

static _Thread_local cache local;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void release(void *unused) {
  (void)unused;
  for (int c = 0; c < CLASSES; ++c)
    while (local.free[c]) {
      header *h = local.free[c];
      local.free[c] = h->next;
      free(h->raw);
    }
  local.cached = 0;
}

static void make_exit_key(void) { pthread_key_create(&exit_key, release); }

/* Rounds size up to one of 8 steps between consecutive powers of two. */
static size_t round_to_class(size_t size, int *size_class) {
  int log = 63 - __builtin_clzll((unsigned long long)size);
  size_t step = ((size_t)1 << log) / 8;
  size_t steps = (size + step - 1) / step; /* 8..16 */
  *size_class = log * 8 + (int)(steps - 8);
  return steps * step;
}

static void *allocate(size_t alignment, size_t size) {
  if (alignment < sizeof(header))
    alignment = 64;
  size_t offset = (sizeof(header) + alignment - 1) / alignment * alignment;
  int size_class = -1;
  size_t bytes = size;
  if (size >= SMALL && alignment <= 64) {
    bytes = round_to_class(size, &size_class);
    header *h = local.free[size_class];
    if (h) {
      local.free[size_class] = h->next;
      local.cached -= h->bytes;
      return (char *)h + sizeof(header);
    }
  }
  char *raw = malloc(offset + bytes + alignment);
  if (!raw)
    return NULL;
  char *ptr = (char *)(((uintptr_t)raw + offset + alignment - 1) / alignment * alignment);
  header *h = (header *)(ptr - sizeof(header));
  h->raw = raw;
  h->bytes = size_class >= 0 ? bytes : 0;
  h->size_class = size_class;
  return ptr;
}

void *_mlir_memref_to_llvm_alloc(size_t size) { return allocate(16, size); }

void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t size) {
  return allocate(alignment, size);
}

void _mlir_memref_to_llvm_free(void *ptr) {
  if (!ptr)
    return;
  header *h = (header *)((char *)ptr - sizeof(header));
  if (h->bytes == 0 || local.cached + h->bytes > LOWBIT_BUFFER_CACHE) {
    free(h->raw);
    return;
  }
  pthread_once(&exit_key_once, make_exit_key);
  pthread_setspecific(exit_key, &local); /* non-null, so release runs at exit */
  h->next = local.free[h->size_class];
  local.free[h->size_class] = h;
  local.cached += h->bytes;
}

/* A library unloaded while threads live must not leave them a destructor to
 * call at exit; the caches of other threads are then given up. */
__attribute__((destructor)) static void unload(void) {
  release(NULL);
  if (pthread_once(&exit_key_once, make_exit_key) == 0)
    pthread_key_delete(exit_key);
}
