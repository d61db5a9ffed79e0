/* vt_cli.h: parsing of command-line values shared by the programs; each
 * failure names the flag and the value. */
#ifndef VT_CLI_H
#define VT_CLI_H

/* A whole number in lo..hi. */
int vt_parse_long(const char *s, long lo, long hi, const char *flag, long *out);
/* A network input size: "N" (square) or "HxW", each 8..4096. */
int vt_parse_size(const char *s, const char *flag, int *height, int *width);
/* The command line as one string, arguments separated by spaces (malloc'd):
 * the `command` a store records. */
char *vt_join_args(int argc, char *const *argv);

#endif
