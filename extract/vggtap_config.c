/* vggtap-config: reads a vggtap INI config for pipeline.mk (docs/CONFIG.md,
 * docs/WORKFLOW.md): checks it, prints values with paths resolved, and writes
 * the small files make decides on (a section's settings, the image listing)
 * only when their content changes, so make re-runs a step exactly when what
 * it depends on changed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "extract_options.h"
#include "predict_options.h"
#include "train_options.h"
#include "base/vt_args.h"
#include "base/vt_cli.h"
#include "base/vt_common.h"
#include "base/vt_config.h"
#include "leaderboard.h"
#include "net/vt_extract.h"
#include "vt_features.h"
#include "image/vt_inputs.h"
#include "net/vt_vgg.h"
#include "net/vt_weights_find.h"

static const char usage[] =
    "usage: vggtap-config check CONFIG\n"
    "       vggtap-config get CONFIG SECTION KEY [DEFAULT]\n"
    "       vggtap-config settings CONFIG SECTION [--set KEY=VALUE]... [--out FILE]\n"
    "       vggtap-config images CONFIG SECTION [--out FILE]\n"
    "       vggtap-config weights CONFIG\n"
    "\n"
    "The helper behind pipeline.mk (docs/WORKFLOW.md); configs: docs/CONFIG.md.\n"
    "  check     parse CONFIG and check every section before any work: [extract],\n"
    "            [train] and [predict] as their programs read them (each key one of\n"
    "            the program's options, each value valid: taps, poolings, numbers),\n"
    "            the keys of [vggtap], [evaluate] and [sweep] (its taps must be among\n"
    "            [extract]'s, its pools must parse), and that [evaluate] gives its\n"
    "            images the way [extract] does. Every other subcommand checks too.\n"
    "  get       print one value (paths resolved against CONFIG's folder), or DEFAULT;\n"
    "            exit 1 if neither\n"
    "  settings  print a section as sorted key=value lines, paths resolved, with the\n"
    "            [vggtap] keys the section's program takes and any --set lines: what\n"
    "            make compares to decide whether a step's settings changed\n"
    "  images    list the images the section's data or manifest names, with size and\n"
    "            modification time (a manifest lists itself too)\n"
    "  weights   print the weights file vggtap-extract would use (the [extract] weights\n"
    "            key, else [vggtap]'s, else $VGGTAP_WEIGHTS, else the Keras cache, else,\n"
    "            for taps up to block2_pool, the bundled data/weights file), or say how\n"
    "            to get one\n"
    "  --out FILE  write there, and only if the content changed (keeps its time stamp\n"
    "              otherwise), instead of standard output\n"
    "\n"
    "Exit status: 0 ok, 1 error (bad config, missing value, no weights), 2 usage.\n";

enum { O_SET = VT_OPT_FIRST_FREE, O_OUT };

static const struct option options[] = {
    {"set", required_argument, 0, O_SET}, {"out", required_argument, 0, O_OUT},
    VT_OPTIONS_HELP_VERSION, {0, 0, 0, 0}};

static const vt_program program = {"vggtap-config", usage, options, NULL};

/* ---- a growable text buffer ---- */

typedef struct {
  char *s;
  size_t n, cap;
} text;

static void text_add(text *t, const char *s) {
  size_t len = strlen(s);
  if (t->n + len + 1 > t->cap) {
    t->cap = (t->n + len + 1) * 2;
    t->s = vt_xrealloc(t->s, t->cap);
  }
  memcpy(t->s + t->n, s, len + 1);
  t->n += len;
}

static void text_addf(text *t, const char *fmt, ...) VT_PRINTF(2, 3);
static void text_addf(text *t, const char *fmt, ...) {
  char buf[4352];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  text_add(t, buf);
}

static int write_text(FILE *f, const void *content) {
  fputs(content, f);
  return 0; /* a failed write shows in the stream's error state */
}

/* Writes t to path unless path already holds exactly t (so its time stamp
 * only moves when the content does); atomically, by rename. */
static int write_if_changed(const char *path, const text *t) {
  const char *content = t->s ? t->s : "";
  FILE *f = fopen(path, "rb");
  if (f) {
    size_t len = strlen(content), same = 1, i = 0;
    for (int ch; (ch = fgetc(f)) != EOF; i++)
      if (i >= len || ch != (unsigned char)content[i]) {
        same = 0;
        break;
      }
    fclose(f);
    if (same && i == len) return 0;
  }
  return vt_write_file_atomic(path, write_text, content);
}

static int emit(const char *out, const text *t) {
  if (out) return write_if_changed(out, t);
  fputs(t->s ? t->s : "", stdout);
  return 0;
}

/* ---- subcommands ---- */

/* Each word is "softmax", widths like 256,128, "conv" or "conv:" and conv
 * widths as --conv takes them (64,64, 1x1:32,64) (pipeline.mk names
 * folders after them, with '-' for ',' and '_' for ':'). */
static int valid_head(const char *w) {
  size_t n = strlen(w);
  if (!strcmp(w, "softmax") || !strcmp(w, "conv")) return 1;
  if (!strncmp(w, "conv:", 5)) {
    char widths[1024];
    size_t k = 0;
    for (const char *p = w + 5; *p && k + 1 < sizeof widths; p++) /* kernels out */
      if (!strncmp(p, "1x1:", 4) || !strncmp(p, "3x3:", 4)) p += 3;
      else widths[k++] = *p;
    widths[k] = '\0';
    return k > 0 && valid_head(widths);
  }
  int ok = w[0] != ',' && w[n - 1] != ',';
  for (size_t i = 0; i < n && ok; i++) ok = (w[i] >= '0' && w[i] <= '9') || (w[i] == ',' && w[i + 1] != ',');
  return ok;
}

/* One word of a [sweep] list, checked as the program it goes to would check
 * it: a typo there would otherwise surface only once the extraction is done.
 * stored: the taps [extract] stores, which every sweep tap must be among. */
static int check_sweep_word(const vt_config_entry *e, const char *w, const vt_extract_config *stored) {
  if (strchr(w, '/')) return vt_fail("'/' cannot be part of a value (values name folders)");
  if (!strcmp(e->key, "heads") && !valid_head(w))
    return vt_fail("each head is softmax, hidden widths like 256,128, conv, or conv: and conv "
                   "widths like conv:1x1:32,64 (in '%s')", e->value);
  int mode;
  if (!strcmp(e->key, "augment") &&
      vt_parse_choice(w, "augment", (const char *const[]){"auto", "none", "flip", "mapflip", NULL}, &mode) < 0)
    return -1;
  vt_board_metric metric;
  if (!strcmp(e->key, "metric") && vt_board_metric_parse(w, &metric) < 0)
    return vt_fail("the metric is accuracy, balanced_accuracy or macro_f1, not '%s'", w);
  if (!strcmp(e->key, "pools")) {
    vt_pooling pooling;
    return vt_pooling_parse(w, &pooling);
  }
  if (!strcmp(e->key, "taps")) {
    vt_extract_config taps = {0};
    if (vt_extract_parse_taps(&taps, w) < 0) return -1;
    for (int i = 0; i < taps.n_taps; i++) {
      int in_store = 0;
      for (int j = 0; j < stored->n_taps; j++) in_store |= stored->taps[j] == taps.taps[i];
      if (!in_store && stored->n_taps) {
        char names[512];
        vt_extract_taps_text(stored, names, sizeof names);
        return vt_fail("%s is not among the taps [extract] stores (%s)", vt_vgg16_layers[taps.taps[i]].name, names);
      }
    }
  }
  return 0;
}

static int check_sweep(const vt_config *c, const vt_config_entry *e) {
  /* [extract]'s taps as pipeline.mk passes them; left unchecked (n_taps 0)
   * when they do not parse, which vggtap-extract reports itself */
  const vt_config_entry *et = vt_config_find(c, "extract", "tap");
  vt_extract_config stored = {0};
  if (vt_extract_parse_taps(&stored, et ? et->value : "block1_pool") < 0) stored.n_taps = 0;
  char w[1024];
  for (const char *p = e->value + strspn(e->value, " \t"); *p; p += strspn(p, " \t")) {
    size_t n = strcspn(p, " \t");
    snprintf(w, sizeof w, "%.*s", (int)n, p);
    if (check_sweep_word(e, w, &stored) < 0) return vt_fail_prefix("%s:%d: [sweep] %s", c->path, e->line, e->key);
    p += n;
  }
  return 0;
}

static int parse_extract(int argc, char **argv) {
  vt_extract_options o;
  return vt_extract_options_parse(argc, argv, &o);
}

static int parse_train(int argc, char **argv) {
  vt_train_options o;
  return vt_train_options_parse(argc, argv, &o);
}

static int parse_predict(int argc, char **argv) {
  vt_predict_options o;
  return vt_predict_options_parse(argc, argv, &o);
}

/* The program's section (and the [vggtap] keys it takes) read as the
 * program reads it from `--config CONFIG`: every key one of its options,
 * every value valid. So a typo in [train] stops pipeline.mk before the
 * extraction, not after it. */
static int check_program(const vt_config *c, const vt_program *p, int (*parse)(int argc, char **argv)) {
  char *args[] = {(char *)p->name, "--config", c->path, NULL}, **argv = args;
  int argc = 3;
  if (vt_args_start(p, &argc, &argv) < 0) return -1; /* "FILE:LINE: ..." */
  if (parse(argc, argv) == 0) return 0;
  /* "FILE:LINE: --key ..." where the message names the key's flag */
  char msg[1400];
  const char *reason = vt_failure_reason(), *annotated = vt_config_annotate(reason);
  if (annotated != reason) snprintf(msg, sizeof msg, "%s", annotated);
  else snprintf(msg, sizeof msg, "%s: [%s] %s", c->path, p->config_section, reason);
  return vt_fail("%s", msg);
}

static int check(const vt_config *c) {
  const vt_config_entry *ed = vt_config_find(c, "extract", "data"), *em = vt_config_find(c, "extract", "manifest");
  const vt_config_entry *vd = vt_config_find(c, "evaluate", "data"), *vm = vt_config_find(c, "evaluate", "manifest");
  if (vd && vm) return vt_fail("%s:%d: [evaluate] gives both data and manifest; give one", c->path, vm->line);
  /* pipeline.mk extracts the evaluation store with the [extract] settings and
   * the [evaluate] images as flags; a flag only replaces the same key. */
  if (vd && em) return vt_fail("%s:%d: [evaluate] data, but [extract] uses manifest (line %d): give both the same way", c->path, vd->line, em->line);
  if (vm && ed) return vt_fail("%s:%d: [evaluate] manifest, but [extract] uses data (line %d): give both the same way", c->path, vm->line, ed->line);
  for (int i = 0; i < c->n; i++) {
    const vt_config_entry *e = &c->entries[i];
    if (!strcmp(e->section, "evaluate") && (!strcmp(e->key, "label-column") || !strcmp(e->key, "split-column")) && !vm)
      return vt_fail("%s:%d: [evaluate] %s goes with an [evaluate] manifest", c->path, e->line, e->key);
    if (!strcmp(e->section, "sweep") && check_sweep(c, e) < 0) return -1;
  }
  int rc = 0;
  if (check_program(c, &vt_extract_program, parse_extract) < 0 || check_program(c, &vt_train_program, parse_train) < 0 ||
      check_program(c, &vt_predict_program, parse_predict) < 0)
    rc = -1;
  vt_config_release();
  return rc;
}

static int by_key(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int settings(const vt_config *c, const char *section, int n_set, char **set, const char *out) {
  char **lines = vt_xmalloc((size_t)(c->n + n_set + 1) * sizeof *lines);
  int n = 0;
  for (int i = 0; i < c->n; i++) {
    const vt_config_entry *e = &c->entries[i];
    if (strcmp(e->section, section) && !(!strcmp(e->section, "vggtap") && vt_config_shared_applies(e->key, section)))
      continue;
    char *v = vt_config_value(c, e);
    size_t len = strlen(e->key) + strlen(v) + 2;
    lines[n] = vt_xmalloc(len);
    snprintf(lines[n++], len, "%s=%s", e->key, v);
    free(v);
  }
  for (int i = 0; i < n_set; i++) lines[n++] = vt_xstrdup(set[i]);
  qsort(lines, (size_t)n, sizeof *lines, by_key);
  text t = {0};
  for (int i = 0; i < n; i++) {
    text_addf(&t, "%s\n", lines[i]);
    free(lines[i]);
  }
  free(lines);
  int rc = emit(out, &t);
  free(t.s);
  return rc;
}

static void stat_line(text *t, const char *shown, const char *path) {
  struct stat st;
  if (stat(path, &st) == 0)
    text_addf(t, "%s\t%lld\t%lld.%09ld\n", shown, (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  else
    text_addf(t, "%s\tmissing\n", shown);
}

/* The listing vggtap-extract would make for this section's data or manifest:
 * one line per image (the path as the store records it, size, mtime), in row
 * order, labels included, so any change that changes the store changes it. */
static int images(const vt_config *c, const char *section, const char *out) {
  const vt_config_entry *d = vt_config_find(c, section, "data"), *m = vt_config_find(c, section, "manifest");
  if (!d && !m) return vt_fail("%s: [%s] has neither data nor manifest", c->path, section);
  char *where = vt_config_value(c, d ? d : m);
  vt_inputs in;
  int rc;
  if (d) {
    rc = vt_inputs_from_folders(where, &in);
  } else {
    const vt_config_entry *lc = vt_config_find(c, section, "label-column"), *sc = vt_config_find(c, section, "split-column");
    rc = vt_inputs_from_manifest(where, lc ? lc->value : NULL, sc ? sc->value : NULL, &in);
  }
  if (rc < 0) {
    free(where);
    return -1;
  }
  text t = {0};
  text_addf(&t, "# %s %s: %d images, %d classes\n", in.source, where, in.n, in.n_classes);
  if (m) stat_line(&t, where, where);
  for (int i = 0; i < in.n; i++) {
    char shown[4200];
    snprintf(shown, sizeof shown, "%s\t%s\t%s", in.path[i], in.label[i] >= 0 ? in.classes[in.label[i]] : "",
             in.split[i]);
    stat_line(&t, shown, in.full[i]);
  }
  rc = emit(out, &t);
  free(t.s);
  free(where);
  vt_inputs_free(&in);
  return rc;
}

/* How many conv layers the config's taps need: [extract]'s (vggtap-extract's
 * default block1_pool); [sweep]'s are among them (check() runs first).
 * All of them when the taps do not parse: vggtap-extract reports that. */
static int convs_needed(const vt_config *c) {
  const vt_config_entry *e = vt_config_find(c, "extract", "tap");
  vt_extract_config taps = {0};
  if (vt_extract_parse_taps(&taps, e ? e->value : "block1_pool") < 0) return VT_VGG16_NCONV;
  return vt_extract_convs_needed(&taps);
}

/* The weights vggtap-extract would use with this config (pipeline.mk passes
 * them on): [extract]'s key, else [vggtap]'s, else the environment's, else
 * the Keras cache, else the bundled file if the taps fit in it. */
static int weights(const vt_config *c) {
  const vt_config_entry *e = vt_config_find(c, "extract", "weights");
  if (!e) e = vt_config_find(c, "vggtap", "weights");
  char *given = e ? vt_config_value(c, e) : NULL;
  const char *path = vt_weights_find(given, 1, convs_needed(c));
  if (path) printf("%s\n", path);
  free(given);
  return path ? 0 : -1;
}

/* The subcommand and its operands, --set and --out. */
typedef struct {
  const char *cmd, *config, *out;
  char *pos[3];
  int n_pos, n_set;
  char **set;
} config_command;

static int parse_command(int argc, char **argv, config_command *o) {
  memset(o, 0, sizeof *o);
  o->set = vt_xmalloc((size_t)argc * sizeof *o->set);
  if (vt_args_start(&program, &argc, &argv) < 0) return -1;
  for (int c; (c = vt_args_next(&program, argc, argv)) != -1;) {
    switch (c) {
      case O_OUT: o->out = optarg; break;
      case O_SET:
        if (!strchr(optarg, '=')) return vt_fail("--set wants KEY=VALUE, not '%s'", optarg);
        o->set[o->n_set++] = optarg;
        break;
      default: return -1; /* VT_OPT_BAD: the reason is set */
    }
  }
  if (optind + 2 > argc) return vt_fail("give a subcommand and a CONFIG");
  o->cmd = argv[optind];
  o->config = argv[optind + 1];
  const char *cmd = o->cmd;
  int want_min = !strcmp(cmd, "get") ? 2 : !strcmp(cmd, "settings") || !strcmp(cmd, "images") ? 1 : 0;
  int want_max = !strcmp(cmd, "get") ? 3 : want_min;
  if (strcmp(cmd, "check") && strcmp(cmd, "get") && strcmp(cmd, "settings") && strcmp(cmd, "images") &&
      strcmp(cmd, "weights"))
    return vt_fail("unknown subcommand '%s' (check, get, settings, images or weights)", cmd);
  for (int i = optind + 2; i < argc; i++) {
    if (o->n_pos == want_max) return vt_fail("unexpected argument '%s' for '%s'", argv[i], cmd);
    o->pos[o->n_pos++] = argv[i];
  }
  if (o->n_pos < want_min) return vt_fail("'%s' needs %s", cmd, want_min == 1 ? "a SECTION" : "a SECTION and a KEY");
  if (o->n_set && strcmp(cmd, "settings")) return vt_fail("--set goes with settings");
  if (o->out && strcmp(cmd, "settings") && strcmp(cmd, "images")) return vt_fail("--out goes with settings or images");
  return 0;
}

/* Runs the subcommand on the checked config c. */
static int run(const config_command *o, const vt_config *c) {
  const char *cmd = o->cmd;
  if (!strcmp(cmd, "check")) {
    printf("%s: ok (%d %s)\n", c->path, c->n, vt_plural(c->n, "key", "keys"));
    return 0;
  }
  if (!strcmp(cmd, "settings")) return settings(c, o->pos[0], o->n_set, o->set, o->out);
  if (!strcmp(cmd, "images")) return images(c, o->pos[0], o->out);
  if (!strcmp(cmd, "weights")) return weights(c);
  const vt_config_entry *e = vt_config_find(c, o->pos[0], o->pos[1]);
  if (!e && o->n_pos < 3) return vt_fail("%s: no key '%s' in [%s]", c->path, o->pos[1], o->pos[0]);
  char *v = e ? vt_config_value(c, e) : vt_xstrdup(o->pos[2]);
  printf("%s\n", v);
  free(v);
  return 0;
}

int main(int argc, char **argv) {
  config_command o;
  int rc = parse_command(argc, argv, &o) < 0 ? vt_exit_usage(&program) : VT_EXIT_OK;
  vt_config c;
  if (rc == VT_EXIT_OK) {
    if (vt_config_load(o.config, &c) < 0) {
      rc = vt_exit_error(&program);
    } else {
      if (check(&c) < 0 || run(&o, &c) < 0) rc = vt_exit_error(&program);
      vt_config_free(&c);
    }
  }
  free(o.set);
  return rc;
}
