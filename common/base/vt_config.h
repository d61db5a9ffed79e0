/* vt_config.h: INI config files (docs/CONFIG.md), parsed by libinih and turned
 * into command-line flags.
 *
 * A program given `--config FILE` reads the section named after it ([extract],
 * [train], [predict]) plus the shared keys of [vggtap] that it takes, and
 * turns each `key = value` into `--key=value` placed before the real
 * command-line arguments: getopt_long keeps the last value of an option, so
 * flags win over the file. Keys are checked against the program's own option
 * table, and an error names the file and line. */
#ifndef VT_CONFIG_H
#define VT_CONFIG_H

#include <getopt.h>

typedef struct {
  char *section, *key, *value; /* section "" (keys before any [section]) is [vggtap] */
  int line;
} vt_config_entry;

typedef struct {
  char *path; /* as given */
  char *dir;  /* its directory: relative paths in path-valued keys are relative to it */
  int n;
  vt_config_entry *entries; /* in file order */
} vt_config;

/* Parses and checks a config file: syntax, known sections, no key given twice
 * in a section, and the keys of the sections no program owns ([vggtap],
 * [evaluate], [sweep]). Fails with "FILE:LINE: reason". */
int vt_config_load(const char *path, vt_config *c);
void vt_config_free(vt_config *c);

/* The entry for key in section, or NULL. */
const vt_config_entry *vt_config_find(const vt_config *c, const char *section, const char *key);
/* The entry's value (malloc'd); in a key that names a file or folder (data,
 * out, store, weights, ...), a relative path is resolved against the
 * config's directory. */
char *vt_config_value(const vt_config *c, const vt_config_entry *e);
/* True if the [vggtap] key is handed to program section `section`. */
int vt_config_shared_applies(const char *key, const char *section);

/* If argv holds `--config FILE` or `--config=FILE` (before any "--"), loads it
 * and replaces *argc and *argv by: argv[0], the config's flags for `section`, then
 * the remaining arguments. A key whose option the command line also gives is
 * left out (the flag wins, and the file's value is not even parsed). Every key must name an option of longopts exactly
 * (not help, version or config); a switch (no_argument) takes true/false,
 * yes/no, on/off or 1/0, and false leaves it out. Without --config, nothing
 * changes. The new argv lives until the next vt_config_apply or
 * vt_config_release. Returns 0 or -1 + "FILE:LINE: reason". */
int vt_config_apply(int *argc, char ***argv, const char *section, const struct option *longopts);
/* Frees what vt_config_apply made (programs need not call it). */
void vt_config_release(void);

/* For error messages: if the last vt_config_apply loaded a file and msg names
 * an option ("--epochs ...") whose value came from that file, returns
 * "FILE:LINE: msg" (in a thread-local buffer); else msg itself. */
const char *vt_config_annotate(const char *msg);

#endif
