/* vt_config.c: INI config files over libinih, and their expansion into
 * command-line flags (see vt_config.h and docs/CONFIG.md). */
#include "base/vt_config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/vt_cli.h"
#include "base/vt_common.h"

/* Sections a config may hold. [vggtap] holds keys shared by several programs
 * (and keys before any section); [evaluate] and [sweep] belong to pipeline.mk. */
static const char *const sections[] = {"vggtap", "extract", "train", "predict", "evaluate", "sweep"};

/* Keys of the sections no program owns, so nobody else would check them. */
static const char *const vggtap_keys[] = {"weights", "work"};
static const char *const evaluate_keys[] = {"data", "manifest", "label-column", "split-column"};
static const char *const sweep_keys[] = {"taps", "pools", "heads", "augment", "metric"};

/* Keys whose values are paths, resolved against the config's directory;
 * head names a file in [predict] and a kind of head in [train]. */
static const char *const path_keys[] = {"data", "eval",   "head",   "list",    "log",  "manifest",
                                        "out",  "report", "store",  "weights", "work"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int in_list(const char *s, const char *const *list, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(s, list[i])) return 1;
  return 0;
}

/* True for keys whose value is a file or directory (data, out, weights, ...). */
static int is_path_key(const char *key, const char *section) {
  if (!strcmp(key, "head") && !strcmp(section, "train")) return 0;
  return in_list(key, path_keys, COUNT(path_keys));
}

int vt_config_shared_applies(const char *key, const char *section) {
  /* weights: every program that runs the network. work: pipeline.mk only. */
  return !strcmp(key, "weights") && (!strcmp(section, "extract") || !strcmp(section, "predict"));
}

/* ---- parsing ---- */

/* inih reads through this fgets-like reader, which counts lines (so every
 * entry knows its line) and notices lines longer than inih's buffer (which
 * inih would silently split in two). */
typedef struct {
  FILE *f;
  int line, long_line;
} line_reader;

static char *read_line(char *str, int num, void *stream) {
  line_reader *r = stream;
  if (!fgets(str, num, r->f)) return NULL;
  r->line++;
  size_t len = strlen(str);
  if (len == (size_t)num - 1 && str[len - 1] != '\n') {
    int ch = fgetc(r->f);
    if (ch != EOF && ch != '\n') {
      while (ch != EOF && ch != '\n') ch = fgetc(r->f);
      if (!r->long_line) r->long_line = r->line;
    }
  }
  return str;
}

typedef struct {
  vt_config *c;
  line_reader *r;
  int err_line;
  char err[512];
} parse_state;

static int entry_error(parse_state *p, const char *fmt, ...) VT_PRINTF(2, 3);
static int entry_error(parse_state *p, const char *fmt, ...) {
  if (!p->err_line) {
    p->err_line = p->r->line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
  }
  return 0; /* tells inih this line is an error */
}

static int valid_key(const char *k) {
  if (!*k) return 0;
  for (; *k; k++)
    if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '-' || *k == '_')) return 0;
  return 1;
}

static int on_entry(void *user, const char *section, const char *key, const char *value) {
  parse_state *p = user;
  vt_config *c = p->c;
  if (!*section) section = "vggtap";
  if (!in_list(section, sections, COUNT(sections)))
    return entry_error(p, "unknown section [%s] (known: [vggtap], [extract], [train], [predict], "
                          "[evaluate], [sweep])", section);
  if (!valid_key(key))
    return entry_error(p, "'%s' is not a key name (lower-case letters, digits and '-', as the "
                          "long flag)", key);
  if (!*value) return entry_error(p, "key '%s' has no value", key);
  const char *const *known = NULL;
  int n_known = 0;
  if (!strcmp(section, "vggtap")) known = vggtap_keys, n_known = COUNT(vggtap_keys);
  if (!strcmp(section, "evaluate")) known = evaluate_keys, n_known = COUNT(evaluate_keys);
  if (!strcmp(section, "sweep")) known = sweep_keys, n_known = COUNT(sweep_keys);
  if (known && !in_list(key, known, n_known)) {
    const char *near = vt_nearest_name(key, known, n_known);
    if (near) return entry_error(p, "[%s] unknown key '%s' (did you mean '%s'?)", section, key, near);
    return entry_error(p, "[%s] unknown key '%s' (see docs/CONFIG.md)", section, key);
  }
  const vt_config_entry *old = vt_config_find(c, section, key);
  if (old)
    return entry_error(p, "key '%s' given twice in this section (first at line %d; an indented "
                          "line continues the line above it)", key, old->line);
  c->entries = vt_xrealloc(c->entries, (size_t)(c->n + 1) * sizeof *c->entries);
  vt_config_entry *e = &c->entries[c->n++];
  e->section = vt_xstrdup(section);
  e->key = vt_xstrdup(key);
  e->value = vt_xstrdup(value);
  e->line = p->r->line;
  return 1;
}

int vt_config_load(const char *path, vt_config *c) {
  memset(c, 0, sizeof *c);
  FILE *f = fopen(path, "r");
  if (!f) return vt_fail("%s: cannot open config file: %s", path, strerror(errno));
  c->path = vt_xstrdup(path);
  c->dir = vt_xstrdup(path);
  char *slash = strrchr(c->dir, '/');
  if (!slash) strcpy(c->dir, ".");
  else if (slash == c->dir) slash[1] = '\0';
  else *slash = '\0';
  line_reader r = {.f = f};
  parse_state p = {.c = c, .r = &r};
  int bad = ini_parse_stream(read_line, &r, on_entry, &p);
  int read_error = ferror(f);
  fclose(f);
  if (read_error) {
    vt_config_free(c);
    return vt_fail("%s: read error", path);
  }
  /* The earliest of: a line too long, inih's syntax error, our entry error. */
  int line = 0;
  const char *why = NULL;
  if (r.long_line) line = r.long_line, why = "line too long (libinih reads at most 199 characters)";
  if (bad > 0 && bad != p.err_line && (!line || bad < line))
    line = bad, why = "syntax error: expected [section], key = value, or a ; or # comment";
  if (p.err_line && (!line || p.err_line < line)) line = p.err_line, why = p.err;
  if (line) {
    int rc = vt_fail("%s:%d: %s", path, line, why);
    vt_config_free(c);
    return rc;
  }
  return 0;
}

void vt_config_free(vt_config *c) {
  for (int i = 0; i < c->n; i++) {
    free(c->entries[i].section);
    free(c->entries[i].key);
    free(c->entries[i].value);
  }
  free(c->entries);
  free(c->path);
  free(c->dir);
  memset(c, 0, sizeof *c);
}

const vt_config_entry *vt_config_find(const vt_config *c, const char *section, const char *key) {
  for (int i = 0; i < c->n; i++)
    if (!strcmp(c->entries[i].section, section) && !strcmp(c->entries[i].key, key))
      return &c->entries[i];
  return NULL;
}

/* Removes "." components and folds "name/.." where name is a real folder
 * (not a symlink, whose ".." leads elsewhere), in place:
 * "configs/../demo/run" -> "demo/run". */
static void clean_path(char *path) {
  int absolute = path[0] == '/';
  char *out = path + absolute, *in = out;
  size_t keep[512]; /* start offsets (in out) of the components kept */
  int depth = 0, fixed = 0; /* fixed: leading components that cannot fold ("..") */
  size_t len = 0;
  while (*in) {
    size_t n = strcspn(in, "/");
    char *next = in + n + (in[n] == '/');
    int dot = n == 1 && in[0] == '.', dotdot = n == 2 && in[0] == '.' && in[1] == '.';
    if (dot || n == 0) {
      in = next;
      continue;
    }
    if (dotdot && depth > fixed) {
      /* fold only if the component is a real folder */
      char saved = out[len];
      out[len] = '\0';
      struct stat st;
      int real_dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
      out[len] = saved;
      if (real_dir) {
        len = keep[--depth];
        if (len) len--; /* drop the '/' before it */
        in = next;
        continue;
      }
    }
    if (depth == 512) return;
    if (len) out[len++] = '/';
    keep[depth++] = len;
    if (dotdot && depth - 1 == fixed) fixed++;
    memmove(out + len, in, n);
    len += n;
    in = next;
  }
  out[len] = '\0';
  if (!absolute && !len) strcpy(path, ".");
}

char *vt_config_value(const vt_config *c, const vt_config_entry *e) {
  const char *v = e->value;
  if (!is_path_key(e->key, e->section)) return vt_xstrdup(v);
  const char *home = getenv("HOME");
  const char *base = NULL;
  if (v[0] == '~' && (v[1] == '/' || !v[1]) && home) base = home, v += v[1] ? 2 : 1;
  else if (v[0] != '/' && strcmp(c->dir, ".")) base = c->dir;
  if (!base) return vt_xstrdup(v);
  size_t n = strlen(base) + strlen(v) + 2;
  char *s = vt_xmalloc(n);
  snprintf(s, n, "%s%s%s", base, base[strlen(base) - 1] == '/' || !*v ? "" : "/", v);
  clean_path(s);
  return s;
}

/* ---- expansion into flags ---- */

/* What the last vt_config_apply took from the file, for vt_config_annotate. */
static struct {
  vt_config cfg;
  char **argv; /* the argv made, and its flags from argv[1] to argv[1 + n - 1] */
  int n;
  const vt_config_entry **used; /* [n] entries that became flags */
} applied;

static int parse_switch(const char *v, int *on) {
  static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
  if (in_list(v, yes, COUNT(yes))) return *on = 1, 0;
  if (in_list(v, no, COUNT(no))) return *on = 0, 0;
  return -1;
}

static int reserved(const char *name) {
  return !strcmp(name, "help") || !strcmp(name, "version") || !strcmp(name, "config");
}

static const struct option *find_option(const struct option *longopts, const char *key) {
  if (reserved(key)) return NULL;
  for (const struct option *o = longopts; o->name; o++)
    if (!strcmp(o->name, key)) return o;
  return NULL;
}

static int unknown_key(const vt_config *c, const vt_config_entry *e, const char *program,
                       const struct option *longopts) {
  /* the program does have --help, --version and --config: only not as keys */
  if (reserved(e->key))
    return vt_fail("%s:%d: [%s] unknown key '%s': help, version and config are command-line "
                   "flags only", c->path, e->line, e->section, e->key);
  const char *names[128];
  int n = 0;
  for (const struct option *o = longopts; o->name && n < 128; o++)
    if (!reserved(o->name)) names[n++] = o->name;
  const char *near = vt_nearest_name(e->key, names, n);
  if (near)
    return vt_fail("%s:%d: [%s] unknown key '%s' (did you mean '%s'?)", c->path, e->line,
                   e->section, e->key, near);
  return vt_fail("%s:%d: [%s] unknown key '%s': %s has no --%s (see %s --help)", c->path, e->line,
                 e->section, e->key, program, e->key, program);
}

/* 1 if arg is --name or --name=... */
static int names_option(const char *arg, const char *name) {
  size_t n = strlen(name);
  return !strncmp(arg, "--", 2) && !strncmp(arg + 2, name, n) && (!arg[2 + n] || arg[2 + n] == '=');
}

int vt_config_apply(int *argc, char ***argv, const char *section, const struct option *longopts) {
  int n = *argc;
  char **av = *argv;
  const char *file = NULL;
  int at = -1, width = 0; /* argv index of --config and how many slots it takes */
  for (int i = 1; i < n && strcmp(av[i], "--"); i++) {
    const char *f = NULL;
    int w = 0;
    if (!strcmp(av[i], "--config")) {
      if (i + 1 >= n) return vt_fail("--config needs a FILE");
      f = av[i + 1], w = 2;
    } else if (!strncmp(av[i], "--config=", 9)) {
      f = av[i] + 9, w = 1;
    }
    if (!f) continue;
    if (file) return vt_fail("--config given twice");
    file = f, at = i, width = w;
    i += w - 1;
  }
  if (!file) return 0;

  vt_config_release();
  vt_config *c = &applied.cfg;
  if (vt_config_load(file, c) < 0) return -1;

  char program[64];
  snprintf(program, sizeof program, "vggtap-%s", section);
  char **out = vt_xmalloc((size_t)(n + c->n + 1) * sizeof *out);
  applied.used = vt_xmalloc((size_t)(c->n + 1) * sizeof *applied.used);
  int m = 0;
  out[m++] = av[0];
  for (int i = 0; i < c->n; i++) {
    const vt_config_entry *e = &c->entries[i];
    int mine = !strcmp(e->section, section);
    if (!mine && !(!strcmp(e->section, "vggtap") && vt_config_shared_applies(e->key, section)))
      continue;
    /* The program's own section wins over [vggtap], wherever each stands. */
    if (!mine && vt_config_find(c, section, e->key)) continue;
    const struct option *o = find_option(longopts, e->key);
    if (!o) {
      unknown_key(c, e, program, longopts);
      goto fail;
    }
    /* The command line gives this option too: it wins, and the file's value
     * is not even parsed (a bad one there cannot stop the run). */
    int overridden = 0;
    for (int j = 1; j < n && strcmp(av[j], "--") && !overridden; j++)
      overridden = (j < at || j >= at + width) && names_option(av[j], e->key);
    if (overridden) continue;
    char *value = vt_config_value(c, e);
    size_t len = strlen(e->key) + strlen(value) + 4;
    char *flag = vt_xmalloc(len);
    if (o->has_arg == no_argument) {
      int on;
      if (parse_switch(value, &on) < 0) {
        free(value);
        free(flag);
        vt_fail("%s:%d: [%s] %s is a switch: write true or false, not '%s'", c->path, e->line,
                e->section, e->key, e->value);
        goto fail;
      }
      snprintf(flag, len, "--%s", e->key);
      if (!on) {
        free(flag);
        flag = NULL;
      }
    } else {
      snprintf(flag, len, "--%s=%s", e->key, value);
    }
    free(value);
    if (!flag) continue;
    out[m++] = flag;
    applied.used[applied.n++] = e;
  }
  for (int i = 1; i < n; i++)
    if (i < at || i >= at + width) out[m++] = av[i];
  out[m] = NULL;
  *argc = m;
  *argv = applied.argv = out;
  return 0;
fail:
  for (int i = 1; i < m; i++) free(out[i]);
  free(out);
  vt_config_release();
  return -1;
}

void vt_config_release(void) {
  for (int i = 0; applied.argv && i < applied.n; i++) free(applied.argv[1 + i]);
  free(applied.argv);
  vt_config_free(&applied.cfg);
  free(applied.used);
  memset(&applied, 0, sizeof applied);
}

/* 1 if msg holds "--key" not followed by another key character. */
static int mentions(const char *msg, const char *key) {
  size_t n = strlen(key);
  for (const char *s = strstr(msg, "--"); s; s = strstr(s + 1, "--")) {
    const char *end = s + 2 + n;
    if (!strncmp(s + 2, key, n) && !valid_key((char[]){*end, 0})) return 1;
  }
  return 0;
}

const char *vt_config_annotate(const char *msg) {
  static _Thread_local char buf[1280];
  for (int u = 0; u < applied.n; u++) {
    const vt_config_entry *e = applied.used[u];
    if (!mentions(msg, e->key)) continue;
    snprintf(buf, sizeof buf, "%s:%d: %s", applied.cfg.path, e->line, msg);
    return buf;
  }
  return msg;
}
