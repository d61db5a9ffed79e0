#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "base/vt_half.h"
#include "base/vt_pool.h"
#include "net/vt_conv.h"
#include "store/vt_store_schema.h"

/* A result slot of the pool's ring (base/vt_pool.h): one finished row. */
typedef struct {
  vt_store_row row;
  char error[512];
  void *maps[VT_STORE_MAX_SETS];
  float *pooled[VT_STORE_MAX_SETS];
} slot;

typedef struct {
  const vt_pipeline *pl;
  slot *slots;
  long long n_ok, n_failed;
} shared;

/* A worker: its extractor, and where a reduced float16 map is averaged in
 * float32 first. */
typedef struct {
  vt_extractor x;
  float *scratch;
} worker_state;

static int worker_init(void *ctx, void *worker) {
  const shared *s = ctx;
  const vt_store_layout *lay = s->pl->lay;
  worker_state *w = worker;
  if (vt_extractor_init(&w->x, s->pl->cfg, s->pl->weights) < 0) return -1;
  size_t scratch_len = 0;
  for (int t = 0; t < lay->n_sets && lay->map_pool > 1 && lay->map_half; t++) {
    size_t n = (size_t)lay->h[t] * lay->w[t] * lay->c[t];
    if (n > scratch_len) scratch_len = n;
  }
  w->scratch = scratch_len ? vt_xmalloc(scratch_len * sizeof(float)) : NULL;
  return 0;
}

static void worker_fini(void *ctx, void *worker) {
  worker_state *w = worker;
  free(w->scratch);
  vt_extractor_free(&w->x);
}

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

/* Decodes and runs job j's image (and with --augment flip its mirror
 * image) into its slot (failures become failed rows). */
static void work(void *ctx, void *worker, long long j, int slot_index) {
  const shared *s = ctx;
  const vt_pipeline *pl = s->pl;
  const vt_store_layout *lay = pl->lay;
  const int n_taps = pl->cfg->n_taps;
  worker_state *w = worker;
  vt_extractor *x = &w->x;
  slot *sl = &s->slots[slot_index];
  long long row = pl->jobs[j];
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
        if (!direct) store_map(lay, set, x->ws.out[l], x->ws.oh[l], x->ws.ow[l], w->scratch, sl->maps[set]);
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

/* Failures are worth seeing as they happen, but not thousands of them. */
static void report_failure(const vt_pipeline *pl, const vt_store_row *r, long long n_failed) {
  enum { SHOWN = 20 };
  if (n_failed <= SHOWN)
    fprintf(stderr, "%svggtap-extract: %s: %s\n", pl->progress->tty ? "\r\033[K" : "",
            pl->in->full[r->row], r->error);
  if (n_failed == SHOWN)
    fprintf(stderr, "vggtap-extract: (further failures are not shown; all are in the store)\n");
}

/* Writes job j's row to the store, in row order. */
static int sink(void *ctx, long long j, int slot_index) {
  shared *s = ctx;
  const vt_pipeline *pl = s->pl;
  const vt_store_row *r = &s->slots[slot_index].row;
  if (vt_partial_add(pl->partial, r) < 0) return -1;
  *(r->status == VT_ROW_OK ? &s->n_ok : &s->n_failed) += 1;
  if (r->status != VT_ROW_OK && !pl->progress->quiet) report_failure(pl, r, s->n_failed);
  vt_progress_update(pl->progress, pl->progress->done_at_start + j + 1,
                     pl->progress->failed + (r->status != VT_ROW_OK));
  return 0;
}

int vt_pipeline_run(const vt_pipeline *pl, long long *n_ok, long long *n_failed) {
  shared s = {.pl = pl};
  int n_slots = 2 * pl->n_threads + 2;
  s.slots = vt_xcalloc((size_t)n_slots, sizeof *s.slots);
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
  void *map_block = lay->maps ? vt_xpage_alloc((size_t)n_slots * slot_bytes) : NULL;
  for (int i = 0; i < n_slots; i++) {
    for (int t = 0; t < lay->n_sets; t++) {
      if (lay->maps) s.slots[i].maps[t] = (char *)map_block + (size_t)i * slot_bytes + map_at[t];
      size_t np = 0;
      for (int gi = 0; gi < lay->n_grids; gi++) np += 2 * (size_t)lay->grids[gi] * lay->grids[gi] * lay->c[t];
      if (lay->pooled) s.slots[i].pooled[t] = vt_xmalloc(np * sizeof(float));
    }
  }
  vt_pool pool = {.n_threads = pl->n_threads, .n_slots = n_slots, .n_jobs = pl->n_jobs, .ctx = &s,
                  .worker_size = sizeof(worker_state), .init = worker_init, .fini = worker_fini,
                  .work = work, .sink = sink, .stop = pl->stop};
  long long done;
  int rc = vt_pool_run(&pool, &done);
  /* What was written is committed, also on a stop; on an error the caller
   * says how many rows are safe. */
  if (rc >= 0 && vt_partial_commit(pl->partial) < 0) rc = -1;
  *n_ok = s.n_ok;
  *n_failed = s.n_failed;
  for (int i = 0; i < n_slots; i++)
    for (int t = 0; t < VT_STORE_MAX_SETS; t++) free(s.slots[i].pooled[t]);
  free(map_block);
  free(s.slots);
  return rc;
}
