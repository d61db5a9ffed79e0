/* vt_pool.h: the one worker pool of vggtap (libvips' sink_disc is the
 * model: work in parallel, consume in order, no gaps). n_threads workers each
 * take the next job index and compute it into a slot of a ring; the calling
 * thread, the sink, consumes the results strictly in job order. Job j is
 * computed into slot j % n_slots only once the sink has consumed job
 * j - n_slots, so at most n_slots results wait for the sink (memory is
 * bounded by the slots the caller allocates) and at most n_slots + n_threads
 * jobs are started and not yet consumed.
 *
 * vggtap-extract's workers decode and run one image each into a slot and
 * its sink writes the rows to the store; vggtap-predict's sink has nothing
 * to write in order, so it only waits. */
#ifndef VT_POOL_H
#define VT_POOL_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct {
  int n_threads;   /* workers, >= 1 (the sink runs on the calling thread) */
  int n_slots;     /* the ring, >= 1 */
  long long n_jobs;
  void *ctx;       /* passed to every callback */
  /* Per-worker state: worker_size zeroed bytes per worker, set up by
   * init on the worker's own thread before its first job (NULL: none).
   * init returns 0 or -1 + reason (vt_fail), which fails the run; fini is
   * called on every state whose init succeeded. */
  size_t worker_size;
  int (*init)(void *ctx, void *worker);
  void (*fini)(void *ctx, void *worker);
  /* Computes job into slot, on a worker thread. Cannot fail the run: a
   * job that fails (an unreadable image) records that in its slot. */
  void (*work)(void *ctx, void *worker, long long job, int slot);
  /* Consumes job's result from slot, on the calling thread, in job order.
   * 0, or -1 + reason to stop the run (a write error). NULL: nothing to do. */
  int (*sink)(void *ctx, long long job, int slot);
  /* When set (a signal handler may set it, from any thread), no job starts
   * any more; the jobs already started are finished and consumed. NULL:
   * never. */
  const atomic_int *stop;
} vt_pool;

/* Runs jobs 0..n_jobs-1. Returns 0 when all were consumed, 1 when stopped
 * through *stop (jobs 0..*n_done-1 were consumed, none after), -1 + reason
 * when a worker's init, the sink or starting a thread failed (the jobs
 * consumed before that stay consumed). In every case every thread started
 * has been joined when it returns. */
int vt_pool_run(const vt_pool *p, long long *n_done);

#endif
