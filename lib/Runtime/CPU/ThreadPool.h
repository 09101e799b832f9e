/*===- ThreadPool.h - Worker threads of a model instance -------------------===*
 *
 * Each model instance with more than one thread owns a pool: its workers
 * sleep until lowbit_pool_run hands them a task, so nothing is created per
 * run. While an instance runs, lowbit_current_pool (thread local) points at
 * its pool, so that the micro-kernels the generated code calls can split
 * their work without a context argument.
 *===----------------------------------------------------------------------===*/

#ifndef LOWBIT_RUNTIME_CPU_THREADPOOL_H
#define LOWBIT_RUNTIME_CPU_THREADPOOL_H

#ifdef __cplusplus
extern "C" {
#define LOWBIT_THREAD_LOCAL thread_local
#else
#define LOWBIT_THREAD_LOCAL _Thread_local
#endif

typedef struct lowbit_pool lowbit_pool;

/* A pool of `threads` - 1 workers (the caller is the other thread), or NULL
 * if threads cannot be created. */
lowbit_pool *lowbit_pool_create(int threads);
void lowbit_pool_destroy(lowbit_pool *pool);
int lowbit_pool_size(const lowbit_pool *pool); /* threads, the caller included */

/* Runs task(context, i) for i in [0, tasks) on the pool's threads and the
 * caller (thread t runs i = t, t + size, ...), and returns when all are
 * done. A NULL pool runs them all on the caller. */
void lowbit_pool_run(lowbit_pool *pool, int tasks, void (*task)(void *context, int index),
                     void *context);

/* The pool of the instance running on this thread, NULL outside a run or for
 * a single-threaded instance. */
extern LOWBIT_THREAD_LOCAL lowbit_pool *lowbit_current_pool;

#ifdef __cplusplus
}
#endif

#endif /* LOWBIT_RUNTIME_CPU_THREADPOOL_H */
