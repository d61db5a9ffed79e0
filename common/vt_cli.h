/* vt_cli.h: parsing and checking of command-line values shared by the
 * programs; each failure names the flag or the path, and the value. */
#ifndef VT_CLI_H
#define VT_CLI_H

/* A whole number in lo..hi. */
int vt_parse_long(const char *s, long lo, long hi, const char *flag, long *out);
/* A network input size: "N" (square) or "HxW", each 8..4096. */
int vt_parse_size(const char *s, const char *flag, int *height, int *width);
/* Fails early, before any work, if an output file cannot be written at
 * path: it is a directory, or a file cannot be created beside it (the
 * programs write PATH.tmpPID and rename it over PATH). Leaves nothing
 * behind. 0 or -1 + a reason naming path. */
int vt_check_writable(const char *path);
/* 1 if paths a and b name the same file: the same inode if both exist, the
 * same name in the same directory if neither does (./h.h5 and h.h5). */
int vt_same_file(const char *a, const char *b);
/* The command line as one string, arguments separated by spaces (malloc'd):
 * the `command` a store records. */
char *vt_join_args(int argc, char *const *argv);

#endif
