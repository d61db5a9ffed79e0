/* vggtap-merge: presents the shard stores of one extraction (vggtap-extract
 * --shard I/N) as one store, through HDF5 virtual datasets (or, with
 * --materialize, as one real file). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_merge.h"
#include "base/vt_cli.h"
#include "base/vt_common.h"
#include "store/vt_h5.h"
#include "store/vt_store_read.h"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2 };

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
    "compression and image list.\n"
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

int main(int argc, char **argv) {
  vt_h5_no_close_at_exit();
  static const struct option longopts[] = {
      {"out", required_argument, 0, 'o'}, {"materialize", no_argument, 0, 'm'},
      {"overwrite", no_argument, 0, 'O'}, {"quiet", no_argument, 0, 'q'},
      {"help", no_argument, 0, 'h'},      {"version", no_argument, 0, 'V'},
      {0, 0, 0, 0}};
  const char *out = NULL;
  int overwrite = 0, quiet = 0;
  vt_merge_options o = {0};
  for (int c; (c = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
    switch (c) {
      case 'o': out = optarg; break;
      case 'm': o.materialize = 1; break;
      case 'O': overwrite = 1; break;
      case 'q': quiet = 1; break;
      case 'h': fputs(usage, stdout); return EXIT_OK;
      case 'V': printf("vggtap-merge %s\n", VT_VERSION); return EXIT_OK;
      default: fprintf(stderr, "vggtap-merge: see --help\n"); return EXIT_USAGE;
    }
  }
  if (!out || optind >= argc) {
    fprintf(stderr, "vggtap-merge: give --out MERGED.h5 and the shard files (see --help)\n");
    return EXIT_USAGE;
  }
  /* the same file under another name (./s0.h5, an absolute path, a link)
   * too: --overwrite would replace that shard with a store reading itself */
  for (int i = optind; i < argc; i++)
    if (vt_same_file(argv[i], out)) {
      fprintf(stderr, "vggtap-merge: --out %s is the shard %s\n", out, argv[i]);
      return EXIT_USAGE;
    }
  struct stat st;
  if (!overwrite && stat(out, &st) == 0) {
    fprintf(stderr, "vggtap-merge: %s exists; pass --overwrite to replace it\n", out);
    return EXIT_ERROR;
  }
  char *command = vt_join_args(argc, argv);
  o.command = command;
  double t0 = vt_now();
  vt_merge_result res;
  int rc = vt_store_merge(out, argv + optind, argc - optind, &o, &res);
  /* Read the result back as vggtap-train will: index, attributes and every
   * virtual dataset's source files. */
  vt_store s;
  if (rc == 0 && vt_store_open(out, &s) == 0) vt_store_close(&s);
  else rc = -1;
  free(command);
  if (rc < 0) {
    fprintf(stderr, "vggtap-merge: %s\n", vt_failure_reason());
    return EXIT_ERROR;
  }
  if (!quiet)
    fprintf(stderr, "vggtap-merge: wrote %s: %lld rows from %d shards, %d feature datasets %s, "
                    "%.2f s\n", out, res.n_rows, res.n_shards,
            o.materialize ? res.n_copied : res.n_virtual,
            o.materialize ? "copied" : "virtual (nothing copied)", vt_now() - t0);
  return EXIT_OK;
}
