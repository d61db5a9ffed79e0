/* vggtap-merge: presents the shard stores of one extraction (vggtap-extract
 * --shard I/N) as one store, through HDF5 virtual datasets (or, with
 * --materialize, as one real file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_merge.h"
#include "base/vt_args.h"
#include "base/vt_cli.h"
#include "base/vt_common.h"
#include "store/vt_h5.h"
#include "store/vt_store_read.h"


static const char usage[] =
    "usage: vggtap-merge --out MERGED.h5 [--materialize] [--overwrite] [--quiet] SHARD.h5...\n"
    "\n"
    "Joins the N shard stores of one extraction (vggtap-extract --shard I/N ... for every\n"
    "I in 0..N-1) into one feature store with the rows of a single run, in the same order\n"
    "(docs/SCALING.md). vggtap-train, vggtap-predict and vggtap-info read it like any store.\n"
    "\n"
    "By default nothing is copied but the small per-row tables (/classes, /images/*):\n"
    "/features and /pooled are HDF5 virtual datasets reading each shard's rows from its\n"
    "file, named by its path relative to MERGED.h5's directory. Keep the shard files\n"
    "where they are relative to MERGED.h5 (moving the whole folder is fine); readers\n"
    "refuse a merged store whose shard files are missing.\n"
    "\n"
    "Checks first, and lists every problem: each file is a complete shard (an\n"
    "unfinished one still has SHARD.h5.partial/), all N shards are there once, and\n"
    "they agree on weights, taps, grids, preprocessing, resize, input size, map type,\n"
    "compression, map reduction (--map-pool), augment and image list.\n"
    "\n"
    "  --out FILE       the merged store to write (written as FILE.tmp, then renamed)\n"
    "  --materialize    copy the features into FILE: one self-contained file, the same\n"
    "                   as a single-process run (map chunks are copied without re-encoding)\n"
    "  --overwrite      replace FILE if it exists\n"
    "  --quiet          no summary line\n"
    "  --help, --version\n"
    "\n"
    "Exit status: 0 written; 1 the shards cannot be merged (the reasons are listed) or an\n"
    "I/O error; 2 bad usage.\n";

enum { O_OUT = VT_OPT_FIRST_FREE, O_MATERIALIZE, O_OVERWRITE, O_QUIET };

static const struct option options[] = {
    {"out", required_argument, 0, O_OUT}, {"materialize", no_argument, 0, O_MATERIALIZE},
    {"overwrite", no_argument, 0, O_OVERWRITE}, {"quiet", no_argument, 0, O_QUIET},
    VT_OPTIONS_HELP_VERSION, {0, 0, 0, 0}};

static const vt_program program = {"vggtap-merge", usage, options, NULL};

typedef struct {
  const char *out;
  int overwrite, quiet;
  vt_merge_options merge;
} merge_options;

/* The options, then the shards; refuses an --out that is one of them. */
static int parse_options(int argc, char **argv, merge_options *o) {
  memset(o, 0, sizeof *o);
  if (vt_args_start(&program, &argc, &argv) < 0) return -1;
  for (int c; (c = vt_args_next(&program, argc, argv)) != -1;) {
    switch (c) {
      case O_OUT: o->out = optarg; break;
      case O_MATERIALIZE: o->merge.materialize = 1; break;
      case O_OVERWRITE: o->overwrite = 1; break;
      case O_QUIET: o->quiet = 1; break;
      default: return -1; /* VT_OPT_BAD: the reason is set */
    }
  }
  if (!o->out || optind >= argc) return vt_fail("give --out MERGED.h5 and the shard files");
  /* the same file under another name (./s0.h5, an absolute path, a link)
   * too: --overwrite would replace that shard with a store reading itself */
  for (int i = optind; i < argc; i++)
    if (vt_same_file(argv[i], o->out)) return vt_fail("--out %s is the shard %s", o->out, argv[i]);
  return 0;
}

int main(int argc, char **argv) {
  vt_h5_no_close_at_exit();
  merge_options o;
  if (parse_options(argc, argv, &o) < 0) return vt_exit_usage(&program);
  struct stat st;
  if (!o.overwrite && stat(o.out, &st) == 0) {
    vt_fail("%s exists; pass --overwrite to replace it", o.out);
    return vt_exit_error(&program);
  }
  char *command = vt_join_args(argc, argv);
  o.merge.command = command;
  double t0 = vt_now();
  vt_merge_result res;
  int rc = vt_store_merge(o.out, argv + optind, argc - optind, &o.merge, &res);
  /* Read the result back as vggtap-train will: index, attributes and every
   * virtual dataset's source files. */
  vt_store s;
  if (rc == 0 && vt_store_open(o.out, &s) == 0) vt_store_close(&s);
  else rc = -1;
  free(command);
  if (rc < 0) return vt_exit_error(&program);
  if (!o.quiet)
    fprintf(stderr, "%s: wrote %s: %lld %s from %d shards, %d feature datasets %s, %.2f s\n",
            program.name, o.out, res.n_rows, vt_plural(res.n_rows, "row", "rows"), res.n_shards,
            o.merge.materialize ? res.n_copied : res.n_virtual,
            o.merge.materialize ? "copied" : "virtual (nothing copied)", vt_now() - t0);
  return VT_EXIT_OK;
}
