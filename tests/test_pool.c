/* test_pool: the ordered-sink worker pool (common/base/vt_pool.h). Jobs of
 * uneven length on 1-5 workers and rings of 1-7 slots are consumed exactly
 * once each, in job order, with no slot overwritten before its result was
 * consumed and never more than n_slots + n_threads jobs started and not
 * consumed; a stop ends the run after a prefix of jobs with no gap and no
 * job started but not consumed; a failing sink, a failing worker init and a
 * thread that cannot be started fail the run with their reason, and every
 * worker that was set up is torn down (its threads joined). */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "base/vt_common.h"
#include "base/vt_pool.h"
#include "vt_test.h"

/* pthread_create, failing from call number fail_from on (0: never): the
 * pool's calls come here, as this executable defines the symbol. */
static atomic_int create_calls, fail_from;
int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg) {
  static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
  if (!real) *(void **)&real = dlsym(RTLD_NEXT, "pthread_create");
  int n = atomic_fetch_add(&create_calls, 1) + 1;
  if (atomic_load(&fail_from) && n >= atomic_load(&fail_from)) return 11; /* EAGAIN */
  return real(t, a, fn, arg);
}

enum { MAX_SLOTS = 8 };

typedef struct {
  int n_threads, n_slots;
  atomic_llong slot_job[MAX_SLOTS]; /* the job whose result is in the slot, -1 when consumed */
  atomic_llong started, consumed;
  atomic_int inits, finis, bad_order, overwritten, too_many;
  long long expect;  /* the next job the sink must see */
  long long stop_at, fail_at; /* the sink stops / fails at this job (-1: never) */
  int fail_init;     /* init number that fails (0: none) */
  atomic_int stop;
} run_state;

static int init(void *ctx, void *worker) {
  run_state *r = ctx;
  int n = atomic_fetch_add(&r->inits, 1) + 1;
  if (n == r->fail_init) return vt_fail("init %d failed", n);
  *(int *)worker = n;
  return 0;
}

static void fini(void *ctx, void *worker) {
  run_state *r = ctx;
  if (*(int *)worker) atomic_fetch_add(&r->finis, 1);
}

static void work(void *ctx, void *worker, long long job, int slot) {
  run_state *r = ctx;
  long long in_flight = atomic_fetch_add(&r->started, 1) + 1 - atomic_load(&r->consumed);
  if (in_flight > r->n_slots + r->n_threads) atomic_fetch_add(&r->too_many, 1);
  if (atomic_load(&r->slot_job[slot]) != -1) atomic_fetch_add(&r->overwritten, 1);
  /* uneven work, so that jobs finish out of order */
  struct timespec ts = {0, (long)((job * 7919) % 5) * 40000};
  nanosleep(&ts, NULL);
  atomic_store(&r->slot_job[slot], job);
}

static int sink(void *ctx, long long job, int slot) {
  run_state *r = ctx;
  if (job != r->expect || atomic_load(&r->slot_job[slot]) != job) atomic_fetch_add(&r->bad_order, 1);
  r->expect = job + 1;
  atomic_store(&r->slot_job[slot], -1);
  atomic_fetch_add(&r->consumed, 1);
  if (job == r->stop_at) atomic_store(&r->stop, 1);
  if (job == r->fail_at) return vt_fail("disk full at job %lld", job);
  return 0;
}

static int run(run_state *r, long long n_jobs, long long *done) {
  for (int i = 0; i < MAX_SLOTS; i++) atomic_store(&r->slot_job[i], -1);
  vt_pool p = {.n_threads = r->n_threads, .n_slots = r->n_slots, .n_jobs = n_jobs, .ctx = r,
               .worker_size = sizeof(int), .init = init, .fini = fini, .work = work, .sink = sink,
               .stop = &r->stop};
  return vt_pool_run(&p, done);
}

static run_state *fresh(int threads, int slots) {
  run_state *r = calloc(1, sizeof *r);
  r->n_threads = threads;
  r->n_slots = slots;
  r->stop_at = r->fail_at = -1;
  return r;
}

static void check_common(run_state *r, const char *what) {
  CHECK(atomic_load(&r->bad_order) == 0, "%s: a job consumed out of order or from the wrong slot", what);
  CHECK(atomic_load(&r->overwritten) == 0, "%s: a slot filled before its result was consumed", what);
  CHECK(atomic_load(&r->too_many) == 0, "%s: more than slots + threads jobs in flight", what);
  CHECK(atomic_load(&r->finis) == atomic_load(&r->inits) - (r->fail_init ? 1 : 0),
        "%s: %d workers set up, %d torn down", what, atomic_load(&r->inits), atomic_load(&r->finis));
}

int main(void) {
  static const int threads[] = {1, 2, 3, 5}, slots[] = {1, 2, 4, 7};
  for (size_t a = 0; a < 4; a++)
    for (size_t b = 0; b < 4; b++) {
      for (long long n_jobs = 0; n_jobs <= 150; n_jobs += 150) {
        run_state *r = fresh(threads[a], slots[b]);
        long long done = -1;
        int rc = run(r, n_jobs, &done);
        char what[64];
        snprintf(what, sizeof what, "%d threads, %d slots, %lld jobs", threads[a], slots[b], n_jobs);
        CHECK(rc == 0 && done == n_jobs && r->expect == n_jobs, "%s: rc %d, %lld done", what, rc, done);
        CHECK(atomic_load(&r->started) == n_jobs, "%s: %lld started", what, (long long)r->started);
        CHECK(atomic_load(&r->inits) == threads[a], "%s: %d inits", what, atomic_load(&r->inits));
        check_common(r, what);
        free(r);
      }
    }

  /* A stop from the sink: a prefix consumed, nothing started left behind. */
  for (size_t a = 0; a < 4; a++) {
    run_state *r = fresh(threads[a], 4);
    r->stop_at = 20;
    long long done = -1;
    int rc = run(r, 1000, &done);
    CHECK(rc == 1 && done >= 21 && done <= 21 + 4 + threads[a], "stop: rc %d, %lld done", rc, done);
    CHECK(atomic_load(&r->started) == done, "stop: %lld started, %lld consumed", (long long)r->started, done);
    check_common(r, "stop");
    free(r);
  }

  /* A failing sink: the run fails with its reason, after the jobs before it. */
  run_state *r = fresh(3, 4);
  r->fail_at = 10;
  long long done = -1;
  int rc = run(r, 1000, &done);
  CHECK(rc == -1 && done == 10, "sink failure: rc %d, %lld done", rc, done);
  CHECK(strcmp(vt_failure_reason(), "disk full at job 10") == 0, "reason: %s", vt_failure_reason());
  check_common(r, "sink failure");
  free(r);

  /* A worker whose init fails: its reason, from its thread, fails the run. */
  r = fresh(3, 4);
  r->fail_init = 2;
  rc = run(r, 1000, &done);
  CHECK(rc == -1 && strcmp(vt_failure_reason(), "init 2 failed") == 0, "init failure: rc %d, %s", rc,
        vt_failure_reason());
  check_common(r, "init failure");
  free(r);

  /* The third thread cannot be started: a clear failure, the two started
   * are joined (and torn down). */
  r = fresh(4, 4);
  atomic_store(&create_calls, 0);
  atomic_store(&fail_from, 3);
  rc = run(r, 1000, &done);
  atomic_store(&fail_from, 0);
  CHECK(rc == -1 && strstr(vt_failure_reason(), "cannot start worker thread 3 of 4"), "thread failure: rc %d, %s",
        rc, vt_failure_reason());
  CHECK(done == 0, "thread failure: %lld jobs consumed", done);
  check_common(r, "thread failure");
  free(r);

  printf("%s\n", failures ? "FAILED" : "pool: order, bounds, stop and failures as specified");
  return failures != 0;
}
