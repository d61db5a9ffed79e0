/* shard.h: splitting one extraction into n independent shards
 * (docs/SCALING.md).
 *
 * Shard i of n holds the contiguous block of global rows
 *   [floor(i*N/n), floor((i+1)*N/n))
 * of the N rows in the store's row order (docs/STORE.md), in that order: row
 * r of the shard is global row shard_first_row + r. The partition depends
 * only on N, i and n, so it is the same for every run over the same data
 * set, and concatenating the shards in index order gives exactly the rows of
 * a single run. A shard store is an ordinary store of its rows (n_rows and
 * rows_digest describe them) plus the attributes shard_index, shard_count,
 * shard_first_row, global_n_rows and global_rows_digest. */
#ifndef VT_SHARD_H
#define VT_SHARD_H

#include "store_writer.h"
#include "image/vt_inputs.h"

/* Parses "i/n" (0 <= i < n, n >= 1). */
int vt_shard_parse(const char *text, int *index, int *count);

/* The block of rows of shard i of n over N rows. */
void vt_shard_range(long long n_rows, int index, int count, long long *first, long long *n);

/* Keeps only shard i of n's rows in `in`, and records in m the global
 * rows_digest/n_rows (which m must already hold, from all rows) and the
 * shard's own. Fails if a shard would be empty (more shards than rows). */
int vt_shard_select(vt_store_meta *m, vt_inputs *in, int index, int count);

#endif
