#include "vt_team.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/vt_common.h"

struct vt_team {
  int members;
  pthread_t *threads;
  pthread_barrier_t barrier;
  vt_team_job job; /* NULL tells the threads to end */
  void *ctx;
  /* the threads wait here until every one of them is started (go = 1) or
   * one could not be (go = -1: they end at once) */
  pthread_mutex_t lock;
  pthread_cond_t started;
  int go;
};

typedef struct {
  vt_team *t;
  int member;
} member_arg;

static void *member_main(void *p) {
  member_arg a = *(member_arg *)p;
  free(p);
  pthread_mutex_lock(&a.t->lock);
  while (a.t->go == 0) pthread_cond_wait(&a.t->started, &a.t->lock);
  int go = a.t->go;
  pthread_mutex_unlock(&a.t->lock);
  if (go < 0) return NULL;
  for (;;) {
    pthread_barrier_wait(&a.t->barrier); /* a job was posted */
    if (!a.t->job) return NULL;
    a.t->job(a.t->ctx, a.member, a.t->members);
    pthread_barrier_wait(&a.t->barrier); /* every member is done */
  }
}

vt_team *vt_team_start(int members) {
  if (members < 1) members = 1;
  vt_team *t = vt_xcalloc(1, sizeof *t);
  t->members = members;
  if (members == 1) return t;
  t->threads = vt_xcalloc((size_t)members, sizeof(pthread_t));
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->started, NULL);
  if (pthread_barrier_init(&t->barrier, NULL, (unsigned)members) != 0) {
    vt_fail("cannot create a barrier for %d threads", members);
    t->members = 1;
    vt_team_stop(t);
    return NULL;
  }
  int started = 1;
  for (; started < members; started++) {
    member_arg *a = vt_xmalloc(sizeof *a);
    *a = (member_arg){t, started};
    if (pthread_create(&t->threads[started], NULL, member_main, a) != 0) {
      free(a);
      break;
    }
  }
  pthread_mutex_lock(&t->lock);
  t->go = started == members ? 1 : -1;
  pthread_cond_broadcast(&t->started);
  pthread_mutex_unlock(&t->lock);
  if (started == members) return t;
  vt_fail("cannot start thread %d of %d", started + 1, members);
  for (int m = 1; m < started; m++) pthread_join(t->threads[m], NULL);
  pthread_barrier_destroy(&t->barrier);
  t->members = 1;
  vt_team_stop(t);
  return NULL;
}

void vt_team_stop(vt_team *t) {
  if (!t) return;
  if (t->members > 1) {
    t->job = NULL;
    pthread_barrier_wait(&t->barrier);
    for (int m = 1; m < t->members; m++) pthread_join(t->threads[m], NULL);
    pthread_barrier_destroy(&t->barrier);
  }
  if (t->threads) {
    pthread_cond_destroy(&t->started);
    pthread_mutex_destroy(&t->lock);
  }
  free(t->threads);
  free(t);
}

int vt_team_size(const vt_team *t) { return t ? t->members : 1; }

void vt_team_run(vt_team *t, vt_team_job job, void *ctx) {
  if (!t || t->members == 1) {
    job(ctx, 0, 1);
    return;
  }
  t->job = job;
  t->ctx = ctx;
  pthread_barrier_wait(&t->barrier);
  job(ctx, 0, t->members);
  pthread_barrier_wait(&t->barrier);
}

void vt_team_sync(vt_team *t) {
  if (t && t->members > 1) pthread_barrier_wait(&t->barrier);
}
