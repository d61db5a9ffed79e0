/* vt_cli.h: parsing and checking of command-line values shared by the
 * programs, and writing their output files; each failure names the flag or
 * the path, and the value. */
#ifndef VT_CLI_H
#define VT_CLI_H

#include <stdio.h>

/* A whole number in lo..hi; the failure names flag, the range and s. */
int vt_parse_long(const char *s, long lo, long hi, const char *flag, long *out);
/* s as one of names (NULL-terminated): its index into *out, or a failure
 * "FLAG is A, B or C, not 'S'". */
int vt_parse_choice(const char *s, const char *flag, const char *const *names, int *out);
/* The same into an int. */
int vt_parse_int(const char *s, int lo, int hi, const char *flag, int *out);
/* A number in lo..hi (not nan, not under- or overflowing), likewise. */
int vt_parse_double(const char *s, double lo, double hi, const char *flag, double *out);
/* The same into a float. */
int vt_parse_float(const char *s, double lo, double hi, const char *flag, float *out);
/* A network input size: "N" (square) or "HxW", each 8..4096. */
int vt_parse_size(const char *s, const char *flag, int *height, int *width);
/* one if n is 1, else many: "1 folder", "2 folders". */
const char *vt_plural(long long n, const char *one, const char *many);
/* For "did you mean": the candidate nearest to name, if it is near enough
 * to be a typo of it (at most 1 edit for names up to 4 characters, 2 for
 * longer ones; an edit is a character added, dropped, changed, or two
 * neighbours swapped), else NULL. The first of equally near ones. */
const char *vt_nearest_name(const char *name, const char *const *candidates, int n);
/* PATH.tmpPID (malloc'd): the temporary file beside path that an output is
 * written to and then renamed over path, so the rename is atomic. */
char *vt_temp_name(const char *path);
/* Creates a file at path and removes it at once, with the signals held so
 * that an interrupt cannot leave it behind: 0 if that worked, else the errno
 * of the failed creation. A probe for whether outputs can be written. */
int vt_try_create(const char *path);
/* Fails early, before any work, if an output file cannot be written at
 * path: it is a directory, or a file cannot be created beside it (the
 * programs write PATH.tmpPID and rename it over PATH). Leaves nothing
 * behind. 0 or -1 + a reason naming path. */
int vt_check_writable(const char *path);
/* Writes path through a temporary file beside it (path.tmpPID, the name
 * vt_check_writable probes), renamed over path only when write(f, ctx),
 * the stream and the close all succeeded; SIGINT, SIGTERM and SIGHUP wait
 * meanwhile (vt_signal_hold). So path is the old file or the new one, never
 * half of it, and no temporary file is left. write returns 0 or -1 + reason.
 * 0, or -1 + "cannot write PATH: reason". */
int vt_write_file_atomic(const char *path, int (*write)(FILE *f, const void *ctx), const void *ctx);
/* 1 if paths a and b name the same file: the same inode if both exist, the
 * same name in the same directory if neither does (./h.h5 and h.h5). */
int vt_same_file(const char *a, const char *b);
/* The command line as one string, arguments separated by spaces (malloc'd):
 * the `command` a store records. */
char *vt_join_args(int argc, char *const *argv);

#endif
