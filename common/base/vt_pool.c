#include "base/vt_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"

/* The state of a ring slot: the job allowed to fill it (j, then j + n_slots
 * once the sink consumed j), and whether that job's result is in it. */
typedef struct {
  long long ready_for;
  int filled;
} slot_state;

typedef struct {
  const vt_pool *p;
  pthread_mutex_t mu;
  pthread_cond_t cv;  /* any change below: a slot filled or freed, a worker gone, a failure */
  slot_state *slots;
  long long next_job; /* the next job a worker claims */
  int failed;         /* a worker's init or the sink failed: stop at once */
  char reason[1024];  /* a worker's init failure (vt_fail's reason is per thread) */
} pool;

static int stop_requested(const pool *s) { return s->p->stop && atomic_load(s->p->stop); }

/* Takes the next job and waits for its slot; -1 when there is none to take
 * (all claimed, stopping, or failed). Called with the lock held. */
static long long claim(pool *s) {
  if (s->failed || stop_requested(s) || s->next_job == s->p->n_jobs) return -1;
  long long j = s->next_job++;
  slot_state *sl = &s->slots[j % s->p->n_slots];
  while (sl->ready_for != j && !s->failed) pthread_cond_wait(&s->cv, &s->mu);
  return s->failed ? -1 : j;
}

static void *worker(void *arg) {
  pool *s = arg;
  const vt_pool *p = s->p;
  void *state = p->worker_size ? vt_xcalloc(1, p->worker_size) : NULL;
  int ready = !p->init || p->init(p->ctx, state) == 0;
  pthread_mutex_lock(&s->mu);
  if (!ready && !s->failed) {
    s->failed = 1;
    snprintf(s->reason, sizeof s->reason, "%s", vt_failure_reason());
  }
  for (long long j; ready && (j = claim(s)) >= 0;) {
    pthread_mutex_unlock(&s->mu);
    p->work(p->ctx, state, j, (int)(j % p->n_slots));
    pthread_mutex_lock(&s->mu);
    s->slots[j % p->n_slots].filled = 1;
    pthread_cond_broadcast(&s->cv);
  }
  pthread_cond_broadcast(&s->cv); /* stopping: the sink may wait for a job nobody will take */
  pthread_mutex_unlock(&s->mu);
  if (ready && p->fini) p->fini(p->ctx, state);
  free(state);
  return NULL;
}

/* Waits until job j is in its slot: 0, or 1 when it never will be (stopped
 * before anyone took it), -1 on a worker's failure. */
static int wait_for(pool *s, long long j) {
  const slot_state *sl = &s->slots[j % s->p->n_slots];
  pthread_mutex_lock(&s->mu);
  int rc = 0;
  while (!(sl->filled && sl->ready_for == j)) {
    if (s->failed) {
      rc = -1;
      break;
    }
    /* Untaken, and stopping: nobody will take it. A worker that sees the
     * stop broadcasts before it returns, so this is seen. */
    if (j >= s->next_job && stop_requested(s)) {
      rc = 1;
      break;
    }
    pthread_cond_wait(&s->cv, &s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int vt_pool_run(const vt_pool *p, long long *n_done) {
  *n_done = 0;
  if (p->n_threads < 1 || p->n_slots < 1) return vt_fail("worker pool: %d threads, %d slots", p->n_threads, p->n_slots);
  pool s = {.p = p};
  pthread_mutex_init(&s.mu, NULL);
  pthread_cond_init(&s.cv, NULL);
  s.slots = vt_xcalloc((size_t)p->n_slots, sizeof *s.slots);
  for (int i = 0; i < p->n_slots; i++) s.slots[i].ready_for = i;
  pthread_t *th = vt_xmalloc((size_t)p->n_threads * sizeof *th);
  int started = 0, rc = 0;
  for (; started < p->n_threads; started++) {
    int err = pthread_create(&th[started], NULL, worker, &s);
    if (err) {
      pthread_mutex_lock(&s.mu);
      s.failed = 1;
      pthread_cond_broadcast(&s.cv);
      pthread_mutex_unlock(&s.mu);
      rc = vt_fail("cannot start worker thread %d of %d: %s", started + 1, p->n_threads, strerror(err));
      break;
    }
  }
  for (long long j = 0; rc == 0 && j < p->n_jobs; j++) {
    rc = wait_for(&s, j);
    if (rc == -1) rc = vt_fail("%s", s.reason);
    if (rc == 0 && p->sink && p->sink(p->ctx, j, (int)(j % p->n_slots)) < 0) rc = -1;
    if (rc != 0) break;
    ++*n_done;
    pthread_mutex_lock(&s.mu);
    s.slots[j % p->n_slots].filled = 0;
    s.slots[j % p->n_slots].ready_for = j + p->n_slots;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
  }
  /* On a failure the workers stop at once; on a stop they finish what they
   * hold (consumed above) and take nothing more. */
  pthread_mutex_lock(&s.mu);
  if (rc < 0) s.failed = 1;
  pthread_cond_broadcast(&s.cv);
  pthread_mutex_unlock(&s.mu);
  for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
  free(th);
  free(s.slots);
  pthread_cond_destroy(&s.cv);
  pthread_mutex_destroy(&s.mu);
  return rc;
}
