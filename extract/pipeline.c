#include "pipeline.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "base/vt_half.h"
#include "net/vt_conv.h"
#include "store/vt_store_schema.h"

/* A ring of result slots: job j fills slot j % n_slots once the writer has
 * written job j - n_slots, which bounds memory and keeps rows in order. */
typedef struct {
  long long ready_for; /* the job allowed to fill this slot */
  int filled;
  vt_store_row row;
  char error[512];
  void *maps[VT_STORE_MAX_SETS];
  float *pooled[VT_STORE_MAX_SETS];
} slot;

typedef struct {
  const vt_pipeline *pl;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  slot *slots;
  int n_slots;
  long long next_job;  /* next job to claim */
  int abort;           /* writer failed: stop claiming */
  int init_failed;
  char init_error[512];
} shared;

static int stopping(const shared *s) { return s->abort || atomic_load(s->pl->stop); }

/* Set `set`'s map into dst from the extractor's float32 map of its tap
 * (fh x fw): k x k averaged (--map-pool) and/or float16, through scratch
 * when both. */
static void store_map(const vt_store_layout *lay, int set, const float *full, int fh, int fw,
                      float *scratch, void *dst) {
  const float *src = full;
  if (lay->map_pool > 1) {
    src = lay->map_half ? scratch : dst;
    vt_avgpool_k(full, fh, fw, lay->c[set], lay->map_pool, (float *)src);
  }
  if (lay->map_half) vt_float_to_half_n(src, dst, (size_t)lay->h[set] * lay->w[set] * lay->c[set]);
}

static void fill_slot(const shared *s, vt_extractor *x, float *scratch, slot *sl, long long row) {
  const vt_pipeline *pl = s->pl;
  const vt_store_layout *lay = pl->lay;
  const int n_taps = pl->cfg->n_taps;
  memset(&sl->row, 0, sizeof sl->row);
  sl->row.row = row;
  sl->error[0] = '\0';
  sl->row.error = sl->error;
  if (vt_extractor_load(x, pl->in->full[row], lay->mirror) < 0) {
    sl->row.status = VT_ROW_FAILED;
    snprintf(sl->error, sizeof sl->error, "%s", vt_failure_reason());
    return;
  }
  sl->row.status = VT_ROW_OK;
  sl->row.width = x->image_width;
  sl->row.height = x->image_height;
  /* full float32 maps are computed straight into the slot: no copy */
  int direct = lay->maps && !lay->map_half && lay->map_pool == 1;
  for (int m = 0; m <= lay->mirror; m++) {
    float *into[VT_VGG16_NLAYERS] = {0};
    for (int t = 0; t < n_taps && direct; t++) into[t] = sl->maps[m * n_taps + t];
    vt_extractor_forward(x, m, into);
    for (int t = 0; t < n_taps; t++) {
      int set = m * n_taps + t, l = pl->cfg->taps[t];
      if (lay->maps) {
        if (!direct) store_map(lay, set, x->ws.out[l], x->ws.oh[l], x->ws.ow[l], scratch, sl->maps[set]);
        sl->row.maps[set] = sl->maps[set];
      }
      if (lay->pooled) {
        memcpy(sl->pooled[set], x->pooled[t], x->pooled_len[t] * sizeof(float));
        sl->row.pooled[set] = sl->pooled[set];
      }
    }
  }
  vt_extractor_unload(x);
}

static void *worker(void *arg) {
  shared *s = arg;
  const vt_pipeline *pl = s->pl;
  vt_extractor x;
  if (vt_extractor_init(&x, pl->cfg, pl->weights) < 0) {
    pthread_mutex_lock(&s->mu);
    s->init_failed = 1;
    snprintf(s->init_error, sizeof s->init_error, "%s", vt_failure_reason());
    s->abort = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
  }
  /* reduced float16 maps are averaged in float32 first */
  size_t scratch_len = 0;
  for (int t = 0; t < pl->lay->n_sets && pl->lay->map_pool > 1 && pl->lay->map_half; t++) {
    size_t n = (size_t)pl->lay->h[t] * pl->lay->w[t] * pl->lay->c[t];
    if (n > scratch_len) scratch_len = n;
  }
  float *scratch = scratch_len ? vt_xmalloc(scratch_len * sizeof(float)) : NULL;
  for (;;) {
    pthread_mutex_lock(&s->mu);
    if (stopping(s) || s->next_job == pl->n_jobs) {
      pthread_mutex_unlock(&s->mu);
      break;
    }
    long long j = s->next_job++;
    slot *sl = &s->slots[j % s->n_slots];
    while (sl->ready_for != j && !s->abort) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (sl->ready_for == j) fill_slot(s, &x, scratch, sl, pl->jobs[j]);
    pthread_mutex_lock(&s->mu);
    sl->filled = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
  }
  free(scratch);
  vt_extractor_free(&x);
  return NULL;
}

/* Failures are worth seeing as they happen, but not thousands of them. */
static void report_failure(const vt_pipeline *pl, const vt_store_row *r, long long n_failed) {
  enum { SHOWN = 20 };
  if (n_failed <= SHOWN)
    fprintf(stderr, "%svggtap-extract: %s: %s\n", pl->progress->tty ? "\r\033[K" : "",
            pl->in->full[r->row], r->error);
  if (n_failed == SHOWN)
    fprintf(stderr, "vggtap-extract: (further failures are not shown; all are in the store)\n");
}

int vt_pipeline_run(const vt_pipeline *pl, long long *n_ok, long long *n_failed) {
  shared s = {.pl = pl};
  pthread_mutex_init(&s.mu, NULL);
  pthread_cond_init(&s.cv, NULL);
  s.n_slots = 2 * pl->n_threads + 2;
  s.slots = vt_xcalloc((size_t)s.n_slots, sizeof *s.slots);
  const vt_store_layout *lay = pl->lay;
  /* The maps of all slots in one allocation, each at a page boundary: the
   * map file may write them with O_DIRECT (map_file.h), and together they are
   * large enough for huge pages (vt_xpage_alloc) even where one map is not. */
  size_t map_at[VT_STORE_MAX_SETS] = {0}, slot_bytes = 0;
  for (int t = 0; t < lay->n_sets && lay->maps; t++) {
    map_at[t] = slot_bytes;
    size_t bytes = (size_t)lay->h[t] * lay->w[t] * lay->c[t] * (lay->map_half ? 2 : 4);
    slot_bytes += (bytes + 4095) / 4096 * 4096;
  }
  void *map_block = lay->maps ? vt_xpage_alloc((size_t)s.n_slots * slot_bytes) : NULL;
  for (int i = 0; i < s.n_slots; i++) {
    s.slots[i].ready_for = i;
    for (int t = 0; t < lay->n_sets; t++) {
      if (lay->maps) s.slots[i].maps[t] = (char *)map_block + (size_t)i * slot_bytes + map_at[t];
      size_t np = 0;
      for (int gi = 0; gi < lay->n_grids; gi++) np += 2 * (size_t)lay->grids[gi] * lay->grids[gi] * lay->c[t];
      if (lay->pooled) s.slots[i].pooled[t] = vt_xmalloc(np * sizeof(float));
    }
  }
  pthread_t *th = vt_xmalloc((size_t)pl->n_threads * sizeof *th);
  for (int i = 0; i < pl->n_threads; i++) pthread_create(&th[i], NULL, worker, &s);

  int rc = 0;
  *n_ok = *n_failed = 0;
  for (long long j = 0; j < pl->n_jobs; j++) {
    slot *sl = &s.slots[j % s.n_slots];
    pthread_mutex_lock(&s.mu);
    while (!(sl->filled && sl->ready_for == j)) {
      /* Stopping: jobs nobody claimed will never come. */
      if ((stopping(&s) && j >= s.next_job) || s.init_failed) break;
      pthread_cond_wait(&s.cv, &s.mu);
    }
    int have = sl->filled && sl->ready_for == j;
    pthread_mutex_unlock(&s.mu);
    if (!have) {
      rc = s.init_failed ? -1 : 1;
      break;
    }
    if (vt_partial_add(pl->partial, &sl->row) < 0) {
      rc = -1;
      break;
    }
    *(sl->row.status == VT_ROW_OK ? n_ok : n_failed) += 1;
    if (sl->row.status != VT_ROW_OK && !pl->progress->quiet) report_failure(pl, &sl->row, *n_failed);
    vt_progress_update(pl->progress, pl->progress->done_at_start + j + 1,
                       pl->progress->failed + (sl->row.status != VT_ROW_OK));
    pthread_mutex_lock(&s.mu);
    sl->filled = 0;
    sl->ready_for = j + s.n_slots;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
  }
  char reason[1024];
  snprintf(reason, sizeof reason, "%s", s.init_failed ? s.init_error : vt_failure_reason());
  pthread_mutex_lock(&s.mu);
  if (rc != 0) s.abort = 1;
  pthread_cond_broadcast(&s.cv);
  pthread_mutex_unlock(&s.mu);
  for (int i = 0; i < pl->n_threads; i++) pthread_join(th[i], NULL);
  if (rc >= 0 && vt_partial_commit(pl->partial) < 0) rc = -1;
  else if (rc < 0) vt_fail("%s", reason);
  for (int i = 0; i < s.n_slots; i++)
    for (int t = 0; t < VT_STORE_MAX_SETS; t++) free(s.slots[i].pooled[t]);
  free(map_block);
  free(s.slots);
  free(th);
  pthread_cond_destroy(&s.cv);
  pthread_mutex_destroy(&s.mu);
  return rc;
}
