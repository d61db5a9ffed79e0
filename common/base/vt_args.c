/* vt_args.c: the option loop and messages every program shares (vt_args.h). */
#include "base/vt_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_cli.h"
#include "base/vt_common.h"
#include "base/vt_config.h"
#include "base/vt_cpu.h"

enum { MAX_OPTIONS = 96 };

int vt_args_start(const vt_program *p, int *argc, char ***argv) {
  optind = 0; /* glibc: start over, also after an earlier argv */
  opterr = 0; /* vt_args_next says what went wrong */
  if (p->config_section) return vt_config_apply(argc, argv, p->config_section, p->options);
  return 0;
}

/* The options whose names start with the n characters of name. */
static int prefix_matches(const vt_program *p, const char *name, size_t n, const char **out) {
  int m = 0;
  for (const struct option *o = p->options; o->name && m < MAX_OPTIONS; o++)
    if (!strncmp(o->name, name, n)) out[m++] = o->name;
  return m;
}

static const struct option *find(const vt_program *p, const char *name, size_t n) {
  for (const struct option *o = p->options; o->name; o++)
    if (strlen(o->name) == n && !strncmp(o->name, name, n)) return o;
  return NULL;
}

/* "unknown option '--pol' (did you mean --pool?)" for the word arg. */
static int unknown(const vt_program *p, const char *arg) {
  const char *name = arg + strspn(arg, "-");
  size_t n = strcspn(name, "=");
  char key[64];
  snprintf(key, sizeof key, "%.*s", (int)(n < sizeof key ? n : sizeof key - 1), name);
  const char *names[MAX_OPTIONS];
  int m = 0;
  for (const struct option *o = p->options; o->name && m < MAX_OPTIONS; o++) names[m++] = o->name;
  const char *near = vt_nearest_name(key, names, m);
  const char *matches[MAX_OPTIONS];
  if (!near && arg[1] != '-' && prefix_matches(p, key, strlen(key), matches) == 1) near = matches[0]; /* -h */
  if (near) return vt_fail("unknown option '%s' (did you mean --%s?)", arg, near);
  return vt_fail("unknown option '%s'", arg);
}

/* Why getopt_long refused the long option in arg ("--name" or "--name=v"). */
static int refused(const vt_program *p, const char *arg, int missing_value) {
  const char *name = arg + 2;
  size_t n = strcspn(name, "=");
  const char *matches[MAX_OPTIONS];
  int m = prefix_matches(p, name, n, matches);
  const struct option *o = find(p, name, n);
  if (!o && m == 1) o = find(p, matches[0], strlen(matches[0]));
  if (o && missing_value) return vt_fail("--%s needs a value", o->name);
  if (o && name[n] == '=') return vt_fail("--%s takes no value (given '%s')", o->name, arg);
  if (m > 1) {
    char list[512] = "";
    for (int i = 0; i < m; i++)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s--%s", i ? ", " : "", matches[i]);
    return vt_fail("option '%.*s' is ambiguous: %s", (int)n + 2, arg, list);
  }
  return unknown(p, arg);
}

int vt_args_next(const vt_program *p, int argc, char **argv) {
  int c = getopt_long(argc, argv, ":", p->options, NULL);
  if (c == VT_OPT_HELP) {
    fputs(p->usage, stdout);
    exit(VT_EXIT_OK);
  }
  if (c == VT_OPT_VERSION) {
    vt_cpu_print_version(p->name);
    exit(VT_EXIT_OK);
  }
  if (c != '?' && c != ':') return c;
  /* A long option's word is the one just passed; a short one ("-x", which
   * no program has) is still being read, or was. */
  const char *arg = argv[optind - 1];
  if (optopt > 0 && optopt < 0x100) {
    for (int i = 1; i < argc; i++)
      if (argv[i][0] == '-' && argv[i][1] == optopt) {
        arg = argv[i];
        break;
      }
    unknown(p, arg);
  } else {
    refused(p, arg, c == ':');
  }
  return VT_OPT_BAD;
}

int vt_exit_usage(const vt_program *p) {
  fprintf(stderr, "%s: %s\n(see %s --help)\n", p->name, vt_config_annotate(vt_failure_reason()), p->name);
  return VT_EXIT_USAGE;
}

int vt_exit_error(const vt_program *p) {
  fprintf(stderr, "%s: %s\n", p->name, vt_failure_reason());
  return VT_EXIT_ERROR;
}
