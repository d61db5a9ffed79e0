/* extract_options.h: vggtap-extract's command line (its --help text, its
 * options and their checks), shared with `vggtap-config check`, which reads
 * a config's [extract] section through it before any work starts. */
#ifndef VT_EXTRACT_OPTIONS_H
#define VT_EXTRACT_OPTIONS_H

#include "base/vt_args.h"
#include "net/vt_net_options.h"

extern const vt_program vt_extract_program;

typedef struct {
  const char *data, *manifest, *out, *label_col, *split_col;
  const char *taps, *grids;     /* --tap and --grids as given (parsed into net.cfg) */
  int files;                    /* --files: the operands are images or folders */
  int keep_maps, keep_pooled;   /* --keep */
  int map_half;                 /* --map-dtype float16 */
  int map_pool;                 /* --map-pool avgK: maps stored k x k averaged; 1 = full */
  int mirror;                   /* --augment flip: also the mirrored photo */
  int compress;                 /* --compress: deflate level, 0 = none */
  int overwrite, strict, quiet;
  int shard_index, shard_count; /* --shard I/N; shard_count 0: the whole run */
  vt_net_options net;           /* --weights --size --resize --preprocess --threads; its cfg
                                 * also holds --tap, --grids and --max-pixels */
} vt_extract_options;

/* Reads the options of argv (after vt_args_start; optind is then at the
 * first operand): every value is checked (taps, grids, sizes, numbers),
 * nothing is read from disk. 0, or -1 + a reason naming the flag. */
int vt_extract_options_parse(int argc, char **argv, vt_extract_options *o);

#endif
