/*===- ThreadPool.c - Worker threads of a model instance -------------------===*
 *
 * A generation counter under one mutex: lowbit_pool_run publishes a task and
 * bumps the generation; thread t (the caller is 0) runs task indices t,
 * t + size, t + 2 size, ... below the task count; each worker that had any
 * counts down `pending`, and the caller waits for zero.
 *===----------------------------------------------------------------------===*/

#include "ThreadPool.h"

#include <pthread.h>
#include <stdlib.h>

_Thread_local lowbit_pool *lowbit_current_pool;
/* The running instance's GPU offload (../Offload.h), beside its pool. */
struct lowbit_offload;
_Thread_local struct lowbit_offload *lowbit_current_offload;

typedef struct {
  lowbit_pool *pool;
  int index;
  pthread_t thread;
} worker;

struct lowbit_pool {
  pthread_mutex_t mutex;
  pthread_cond_t wake, done;
  unsigned long generation;
  int stop, tasks, pending, size;
  void (*task)(void *, int);
  void *context;
  worker *workers; /* size - 1 */
};

static void *work(void *argument) {
  worker *self = argument;
  lowbit_pool *pool = self->pool;
  unsigned long seen = 0;
  pthread_mutex_lock(&pool->mutex);
  for (;;) {
    while (!pool->stop && pool->generation == seen)
      pthread_cond_wait(&pool->wake, &pool->mutex);
    if (pool->stop)
      break;
    seen = pool->generation;
    if (self->index >= pool->tasks)
      continue;
    void (*task)(void *, int) = pool->task;
    void *context = pool->context;
    int tasks = pool->tasks, size = pool->size;
    pthread_mutex_unlock(&pool->mutex);
    for (int i = self->index; i < tasks; i += size)
      task(context, i);
    pthread_mutex_lock(&pool->mutex);
    if (--pool->pending == 0)
      pthread_cond_signal(&pool->done);
  }
  pthread_mutex_unlock(&pool->mutex);
  return NULL;
}

lowbit_pool *lowbit_pool_create(int threads) {
  if (threads < 2)
    return NULL;
  lowbit_pool *pool = calloc(1, sizeof *pool);
  worker *workers = pool ? calloc((size_t)threads - 1, sizeof *workers) : NULL;
  if (!workers) {
    free(pool);
    return NULL;
  }
  pthread_mutex_init(&pool->mutex, NULL);
  pthread_cond_init(&pool->wake, NULL);
  pthread_cond_init(&pool->done, NULL);
  pool->workers = workers;
  pool->size = 1;
  for (int i = 1; i < threads; ++i) {
    workers[i - 1].pool = pool;
    workers[i - 1].index = i;
    if (pthread_create(&workers[i - 1].thread, NULL, work, &workers[i - 1]) != 0)
      break;
    pool->size++;
  }
  if (pool->size < 2) {
    lowbit_pool_destroy(pool);
    return NULL;
  }
  return pool;
}

void lowbit_pool_destroy(lowbit_pool *pool) {
  if (!pool)
    return;
  pthread_mutex_lock(&pool->mutex);
  pool->stop = 1;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->mutex);
  for (int i = 0; i < pool->size - 1; ++i)
    pthread_join(pool->workers[i].thread, NULL);
  pthread_cond_destroy(&pool->wake);
  pthread_cond_destroy(&pool->done);
  pthread_mutex_destroy(&pool->mutex);
  free(pool->workers);
  free(pool);
}

int lowbit_pool_size(const lowbit_pool *pool) { return pool ? pool->size : 1; }

void lowbit_pool_run(lowbit_pool *pool, int tasks, void (*task)(void *context, int index),
                     void *context) {
  if (!pool || tasks <= 1) {
    for (int i = 0; i < tasks; ++i)
      task(context, i);
    return;
  }
  pthread_mutex_lock(&pool->mutex);
  pool->task = task;
  pool->context = context;
  pool->tasks = tasks;
  pool->pending = (tasks < pool->size ? tasks : pool->size) - 1;
  pool->generation++;
  pthread_cond_broadcast(&pool->wake);
  int size = pool->size;
  pthread_mutex_unlock(&pool->mutex);
  for (int i = 0; i < tasks; i += size)
    task(context, i);
  pthread_mutex_lock(&pool->mutex);
  while (pool->pending > 0)
    pthread_cond_wait(&pool->done, &pool->mutex);
  pthread_mutex_unlock(&pool->mutex);
}
