/* store_writer.h: writing a feature store so that a crash at any moment
 * loses at most the rows of one open part, and the same command resumes.
 *
 * While it runs, vggtap-extract writes into OUT.partial/ beside OUT:
 *   plan.h5           the run's settings (root attributes as in the store)
 *   part-NNNNNN.h5    finished rows, in increasing row order; each part is
 *                     written as part-NNNNNN.h5.tmp and renamed when closed,
 *                     so a part that exists is complete
 *   lock              held by the running extractor (store_lock.h)
 *   maps.h5           uncompressed maps, written in place (map_file.h); the
 *                     parts then hold no maps
 *   assembling        present while the assembly writes into maps.h5
 * When every row is in some part, the parts are assembled into maps.h5 (or,
 * without in-place maps, into OUT.partial/assemble.h5.tmp), which is renamed
 * to OUT, and OUT.partial/ is removed: OUT exists only when complete.
 * Anything *.tmp found on start is debris of a killed run and is deleted. */
#ifndef VT_STORE_WRITER_H
#define VT_STORE_WRITER_H

#include <stdint.h>

#include "net/vt_extract.h"
#include "image/vt_inputs.h"

/* Settings compared when resuming, and provenance recorded in the store. */
typedef struct {
  char weights_sha256[65];
  char taps[512];
  char grids[64];        /* "" when pooled vectors are not stored */
  char preprocessing[16];
  char resize[16];
  int input_height, input_width;
  char map_dtype[16];    /* float32, float16 or none */
  char compression[16];  /* none or deflate-L */
  char map_pool[16];     /* none or avgK (--map-pool) */
  char augment[8];       /* none or flip (--augment) */
  long long max_pixels;
  char rows_digest[32];  /* digest of classes + (path, label, split) per row */
  long long n_rows;
  /* a shard (--shard i/n, extract/shard.h) when shard_count > 0: its place
   * in the whole run, whose rows_digest and n_rows are the global ones */
  int shard_index, shard_count;
  long long shard_first_row, global_n_rows;
  char global_rows_digest[32];
  /* recorded, not compared: */
  const char *weights_file, *source, *data_root, *command;
} vt_store_meta;

/* Dataset sets: one per tap, and with --augment flip one more per tap for
 * the mirrored photo (the taps again, after the photo's). */
enum { VT_STORE_MAX_SETS = 2 * VT_VGG16_NLAYERS };

/* What is stored: a set s holds <group>features/<name> (its maps) and
 * <group>pooled/<name>/... (its pooled vectors). */
typedef struct {
  int n_sets;
  const char *name[VT_STORE_MAX_SETS];  /* the tap */
  const char *group[VT_STORE_MAX_SETS]; /* "" (the photo) or "mirror/" */
  /* shape of a stored map (reduced by map_pool); c is also the pooled
   * vectors' channels */
  int h[VT_STORE_MAX_SETS], w[VT_STORE_MAX_SETS], c[VT_STORE_MAX_SETS];
  int n_grids, grids[VT_MAX_GRIDS];
  int maps, pooled;  /* store maps / pooled vectors */
  int map_half;      /* maps as float16 */
  int map_pool;      /* maps stored k x k average pooled (--map-pool avgK); 1 = full maps */
  int mirror;        /* --augment flip: sets n_sets/2.. are the mirrored photo's */
  int deflate;       /* 0 = none, else shuffle + deflate level 1..9 */
} vt_store_layout;

/* One finished row. maps[s] holds set s's h*w*c floats (uint16 halves if
 * map_half); pooled[s] is in vt_extractor's layout (per grid: avg then max).
 * Failed rows leave maps/pooled NULL. */
typedef struct {
  long long row;
  uint8_t status;
  const char *error;
  int width, height;
  const void *maps[VT_STORE_MAX_SETS];
  const float *pooled[VT_STORE_MAX_SETS];
} vt_store_row;

/* Fills meta's rows_digest and n_rows from the inputs. */
void vt_store_meta_digest_rows(vt_store_meta *m, const vt_inputs *in);

/* The start of a run on OUT, safe against a second extractor and against a
 * kill at any moment: without --overwrite and OUT.partial/, a complete OUT
 * made with the settings m means nothing to do (1; checked before taking
 * the lock, so that a complete store on a read-only share needs no write);
 * OUT made with other settings is refused (-1 + the differences) and leaves
 * no trace. Otherwise takes the lock (store_lock.h: *lock, which the caller
 * keeps open until it exits), removes OUT and the stopped run's parts with
 * overwrite, and returns 0: go on with vt_partial_open, which resumes the
 * rows of OUT.partial/ when its plan is m. -1 + reason on an error. */
int vt_store_begin(const char *out, const vt_store_meta *m, int overwrite, int *lock);

typedef struct vt_partial vt_partial;

/* Opens OUT.partial/ (creating it, or resuming it when its plan matches m;
 * a different plan is refused with the differences). done[row] is set to 1
 * for rows already in a part; *n_done counts them. */
vt_partial *vt_partial_open(const char *out, const vt_store_meta *m, const vt_store_layout *lay,
                            uint8_t *done, long long *n_done);
/* Appends a row (rows must come in increasing order). Closes the part after
 * enough rows or seconds have gone into it. */
int vt_partial_add(vt_partial *p, const vt_store_row *r);
/* Closes the open part so its rows survive a crash. */
int vt_partial_commit(vt_partial *p);
/* Rows in finished parts: what a rerun will not redo. */
long long vt_partial_rows_safe(const vt_partial *p);
/* All rows done: writes OUT and removes OUT.partial/. Returns the ok and
 * failed row counts. */
int vt_partial_assemble(vt_partial *p, const vt_inputs *in, const char *out, long long *n_ok,
                        long long *n_failed);
void vt_partial_free(vt_partial *p);

#endif
