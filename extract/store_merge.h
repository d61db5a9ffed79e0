/* store_merge.h: joining the shard stores of one extraction (vggtap-extract
 * --shard I/N, extract/shard.h) into one store (docs/SCALING.md).
 *
 * The merged store has the single-run schema and rows: the same root
 * attributes with the global n_rows and rows_digest, /classes and every
 * /images/... dataset copied (they are small), and every other per-row dataset
 * (/features/<tap>, /pooled/<tap>/...) either virtual (HDF5 virtual datasets
 * mapping each shard's block of rows into its file: nothing is copied) or,
 * materialised, a real copy (map chunks copied raw, without re-encoding). */
#ifndef VT_STORE_MERGE_H
#define VT_STORE_MERGE_H

typedef struct {
  int materialize;     /* copy the features instead of mapping them */
  const char *command; /* recorded as the merged store's `command` */
} vt_merge_options;

typedef struct {
  long long n_rows;
  int n_shards, n_virtual, n_copied; /* datasets mapped / copied */
} vt_merge_result;

/* Checks that the shard files are complete shards of one run with the same
 * settings, all N of them once each (listing every problem found: missing
 * or unfinished shards, differing settings, duplicates), then writes `out`
 * (via out.tmp, renamed when complete). 0 or -1 + reason. */
int vt_store_merge(const char *out, char *const *shards, int n, const vt_merge_options *o,
                   vt_merge_result *res);

#endif
