#include "shard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"

int vt_shard_parse(const char *text, int *index, int *count) {
  char *end;
  errno = 0;
  long i = strtol(text, &end, 10);
  if (end == text || *end != '/' || errno) return vt_fail("'%s' is not i/n (e.g. 0/4)", text);
  const char *ns = end + 1;
  long n = strtol(ns, &end, 10);
  if (end == ns || *end || errno) return vt_fail("'%s' is not i/n (e.g. 0/4)", text);
  if (n < 1 || n > 1000000) return vt_fail("'%s': the shard count must be 1 to 1000000", text);
  if (i < 0 || i >= n) return vt_fail("'%s': the shard index must be 0 to %ld", text, n - 1);
  *index = (int)i;
  *count = (int)n;
  return 0;
}

void vt_shard_range(long long n_rows, int index, int count, long long *first, long long *n) {
  /* n_rows < 2^31 (vt_inputs counts rows in an int) and count <= 10^6, so
   * the products fit in 64 bits. */
  long long a = n_rows * index / count, b = n_rows * (index + 1) / count;
  *first = a;
  *n = b - a;
}

int vt_shard_select(vt_store_meta *m, vt_inputs *in, int index, int count) {
  long long first, n;
  vt_shard_range(in->n, index, count, &first, &n);
  if (n == 0)
    return vt_fail("--shard %d/%d: %d images cannot fill %d shards (each needs at least one)",
                   index, count, in->n, count);
  snprintf(m->global_rows_digest, sizeof m->global_rows_digest, "%s", m->rows_digest);
  m->global_n_rows = m->n_rows;
  m->shard_index = index;
  m->shard_count = count;
  m->shard_first_row = first;
  for (long long r = 0; r < in->n; r++) {
    if (r >= first && r < first + n) continue;
    free(in->path[r]);
    free(in->full[r]);
    free(in->split[r]);
  }
  size_t k = (size_t)n;
  memmove(in->path, in->path + first, k * sizeof *in->path);
  memmove(in->full, in->full + first, k * sizeof *in->full);
  memmove(in->label, in->label + first, k * sizeof *in->label);
  memmove(in->split, in->split + first, k * sizeof *in->split);
  in->n = (int)n;
  vt_store_meta_digest_rows(m, in);
  return 0;
}
