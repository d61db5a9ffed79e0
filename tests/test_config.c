/* test_config: INI parsing (sections, keys, lines of errors), path
 * resolution, expansion of a config into flags (flags win, switches, unknown
 * keys with the file and line), error annotation, and the weights lookup. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/vt_common.h"
#include "base/vt_config.h"
#include "net/vt_weights.h"
#include "net/vt_weights_find.h"

#include "vt_test.h"

static char dir[256];

static const char *write_file(const char *name, const char *text) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  fputs(text, f);
  fclose(f);
  return path;
}

/* Loads text as a config; returns the load result, the reason in *why. */
static int load_text(const char *text, vt_config *c, const char **why) {
  const char *path = write_file("t.ini", text);
  int rc = vt_config_load(path, c);
  *why = vt_failure_reason();
  return rc;
}

/* The load must fail with a reason starting "<dir>/t.ini:<line>: " and holding `part`. */
static void expect_error(const char *text, int line, const char *part) {
  vt_config c;
  const char *why;
  char want[600];
  snprintf(want, sizeof want, "%s/t.ini:%d: ", dir, line);
  int rc = load_text(text, &c, &why);
  CHECK(rc == -1);
  if (rc == 0) {
    vt_config_free(&c);
    fprintf(stderr, "  expected an error at line %d for:\n%s\n", line, text);
    return;
  }
  if (strncmp(why, want, strlen(want)) != 0 || !strstr(why, part)) {
    fprintf(stderr, "  got '%s'\n  want '%s...%s'\n", why, want, part);
    failures++;
  }
}

static void test_parse(void) {
  vt_config c;
  const char *why;
  int rc = load_text("; comment\n# comment\nweights = w.h5\n\n[extract]\ntap = block1_pool, block2_pool\n"
                     "data=imgs ; inline comment\n[train]\nepochs = 5\n[sweep]\nheads = none 256\n",
                     &c, &why);
  CHECK(rc == 0);
  if (rc < 0) {
    fprintf(stderr, "  %s\n", why);
    return;
  }
  CHECK(c.n == 5);
  const vt_config_entry *e = vt_config_find(&c, "vggtap", "weights");
  CHECK(e && e->line == 3 && !strcmp(e->value, "w.h5"));
  e = vt_config_find(&c, "extract", "tap");
  CHECK(e && e->line == 6 && !strcmp(e->value, "block1_pool, block2_pool"));
  e = vt_config_find(&c, "extract", "data");
  CHECK(e && e->line == 7 && !strcmp(e->value, "imgs"));
  CHECK(vt_config_find(&c, "train", "epochs") && vt_config_find(&c, "train", "epochs")->line == 9);
  CHECK(vt_config_find(&c, "train", "tap") == NULL);
  CHECK(vt_config_find(&c, "sweep", "heads") != NULL);

  /* Relative path keys resolve against the config's directory; others do not. */
  char *v = vt_config_value(&c, vt_config_find(&c, "extract", "data"));
  char want[600];
  snprintf(want, sizeof want, "%s/imgs", dir);
  CHECK(!strcmp(v, want));
  free(v);
  v = vt_config_value(&c, vt_config_find(&c, "extract", "tap"));
  CHECK(!strcmp(v, "block1_pool, block2_pool"));
  free(v);
  vt_config_free(&c);

  /* store names a file in [train] and [predict]; [extract]'s keep says what
   * the store keeps (pooled, maps,pooled), passed on as it is; head is a file
   * in [predict] and a kind of head in [train]. */
  rc = load_text("[extract]\nkeep = maps,pooled\n[train]\nstore = s.h5\nhead = conv\n[predict]\nhead = h.h5\n",
                 &c, &why);
  CHECK(rc == 0);
  if (rc == 0) {
    v = vt_config_value(&c, vt_config_find(&c, "extract", "keep"));
    CHECK(!strcmp(v, "maps,pooled"));
    if (strcmp(v, "maps,pooled")) fprintf(stderr, "  [extract] keep: got %s\n", v);
    free(v);
    v = vt_config_value(&c, vt_config_find(&c, "train", "store"));
    snprintf(want, sizeof want, "%s/s.h5", dir);
    CHECK(!strcmp(v, want));
    free(v);
    v = vt_config_value(&c, vt_config_find(&c, "train", "head"));
    CHECK(!strcmp(v, "conv"));
    if (strcmp(v, "conv")) fprintf(stderr, "  [train] head: got %s\n", v);
    free(v);
    v = vt_config_value(&c, vt_config_find(&c, "predict", "head"));
    snprintf(want, sizeof want, "%s/h.h5", dir);
    CHECK(!strcmp(v, want));
    free(v);
    vt_config_free(&c);
  }

  rc = load_text("[extract]\ndata = /abs/x\nout = ~/s.h5\n", &c, &why);
  CHECK(rc == 0);
  if (rc == 0) {
    v = vt_config_value(&c, vt_config_find(&c, "extract", "data"));
    CHECK(!strcmp(v, "/abs/x"));
    free(v);
    v = vt_config_value(&c, vt_config_find(&c, "extract", "out"));
    snprintf(want, sizeof want, "%s/s.h5", getenv("HOME"));
    CHECK(!strcmp(v, want));
    free(v);
    vt_config_free(&c);
  }
}

/* "sub/../x" folds when sub is a real folder, not when it is a symlink. */
static void test_clean_paths(void) {
  char sub[600], link[600], path[700], want[700];
  snprintf(sub, sizeof sub, "%s/sub", dir);
  snprintf(link, sizeof link, "%s/link", dir);
  mkdir(sub, 0755);
  if (symlink(sub, link) != 0) perror("symlink");
  const char *text = "[extract]\ndata = ../imgs\nout = ./a/./b//c.h5\nmanifest = ../../x/m.csv\n";
  for (int via_link = 0; via_link < 2; via_link++) {
    snprintf(path, sizeof path, "%s/t.ini", via_link ? link : sub);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    vt_config c;
    CHECK(vt_config_load(path, &c) == 0);
    char *v = vt_config_value(&c, vt_config_find(&c, "extract", "data"));
    if (via_link) snprintf(want, sizeof want, "%s/../imgs", link);
    else snprintf(want, sizeof want, "%s/imgs", dir);
    CHECK(!strcmp(v, want));
    if (strcmp(v, want)) fprintf(stderr, "  got %s, want %s\n", v, want);
    free(v);
    v = vt_config_value(&c, vt_config_find(&c, "extract", "out"));
    snprintf(want, sizeof want, "%s/a/b/c.h5", via_link ? link : sub);
    CHECK(!strcmp(v, want));
    free(v);
    if (!via_link) {
      /* dir is /tmp/test_config.XXXXXX: both of its components fold */
      v = vt_config_value(&c, vt_config_find(&c, "extract", "manifest"));
      CHECK(!strcmp(v, "/tmp/x/m.csv"));
      if (strcmp(v, "/tmp/x/m.csv")) fprintf(stderr, "  got %s\n", v);
      free(v);
    }
    vt_config_free(&c);
  }
  /* A relative config path keeps leading ".." it cannot fold. */
  if (chdir(sub) == 0) {
    FILE *f = fopen("../t2.ini", "w");
    fputs("[extract]\ndata = ../../imgs\n", f);
    fclose(f);
    vt_config c;
    CHECK(vt_config_load("../t2.ini", &c) == 0);
    char *v = vt_config_value(&c, vt_config_find(&c, "extract", "data"));
    CHECK(!strcmp(v, "../../../imgs"));
    if (strcmp(v, "../../../imgs")) fprintf(stderr, "  got %s\n", v);
    free(v);
    vt_config_free(&c);
    if (chdir("/") != 0) perror("chdir");
  }
}

static void test_errors(void) {
  expect_error("[extract]\ntap = a\n[bogus]\nx = 1\n", 4, "unknown section [bogus]");
  expect_error("[extract]\ntap = a\ntap = b\n", 3, "given twice");
  expect_error("[vggtap]\nweights = w\nwork = r\nthreads = 2\n", 4, "[vggtap] unknown key 'threads'");
  expect_error("[sweep]\ntaps = block1_pool\npool = gap\n", 3, "[sweep] unknown key 'pool' (did you mean 'pools'?)");
  expect_error("[evaluate]\n\ndata = d\nstore = s\n", 4, "[evaluate] unknown key 'store'");
  expect_error("[extract]\ntap = a\nthis line has no equals sign\n", 3, "syntax error");
  expect_error("[extract\ntap = a\n", 1, "syntax error");
  expect_error("[train]\nepochs =\n", 2, "no value");
  expect_error("[train]\nEpochs! = 3\n", 2, "not a key name");
  /* The earliest error is the one reported. */
  expect_error("[train]\nepochs = 1\nbad line\n[nope]\nx = 1\n", 3, "syntax error");
  /* An over-long line is an error, not silently split by inih. */
  char longline[600] = "[extract]\ndata = ";
  memset(longline + strlen(longline), 'x', 300);
  strcat(longline, "\ntap = a\n");
  expect_error(longline, 2, "line too long");
  /* A missing file names the file. */
  vt_config c;
  CHECK(vt_config_load("/nonexistent/x.ini", &c) == -1 && strstr(vt_failure_reason(), "/nonexistent/x.ini"));
}

/* A program's option table, as getopt_long takes it. */
static const struct option opts[] = {
    {"data", required_argument, 0, 'd'}, {"tap", required_argument, 0, 't'},
    {"weights", required_argument, 0, 'w'}, {"epochs", required_argument, 0, 'e'},
    {"lr", required_argument, 0, 'l'}, {"lr-schedule", required_argument, 0, 's'},
    {"quiet", no_argument, 0, 'q'}, {"strict", no_argument, 0, 'S'},
    {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};

/* Runs vt_config_apply on a copy of args; returns its result, argv in *out. */
static int apply(int n, const char *const *args, const char *section, int *argc, char ***out) {
  char **av = malloc((size_t)(n + 1) * sizeof *av);
  for (int i = 0; i < n; i++) av[i] = (char *)args[i];
  av[n] = NULL;
  *argc = n;
  *out = av;
  int rc = vt_config_apply(argc, out, section, opts);
  if (*out != av) free(av); /* replaced by vt_config_apply's own */
  return rc;
}

static int same_args(int argc, char **argv, const char *const *want, int n) {
  if (argc != n) return 0;
  for (int i = 0; i < n; i++)
    if (strcmp(argv[i], want[i])) return 0;
  return argv[n] == NULL;
}

static void print_args(int argc, char **argv) {
  fprintf(stderr, "  got:");
  for (int i = 0; i < argc; i++) fprintf(stderr, " [%s]", argv[i]);
  fprintf(stderr, "\n");
}

static void test_apply(void) {
  const char *path = write_file("p.ini", "weights = w.h5\nwork = runs/x\n[extract]\ndata = imgs\n"
                                         "tap = block2_pool\nquiet = yes\nstrict = false\n"
                                         "[train]\nepochs = 5\nlr = 0.5\n");
  char cfgarg[600], data[600], weights[600];
  snprintf(cfgarg, sizeof cfgarg, "--config=%s", path);
  snprintf(data, sizeof data, "--data=%s/imgs", dir);
  snprintf(weights, sizeof weights, "--weights=%s/w.h5", dir);

  /* [vggtap] weights goes to extract; config flags come first, the command
   * line after them, --config itself is removed; the file's tap is left out
   * because the command line gives --tap (flags win). */
  int argc;
  char **argv;
  const char *a1[] = {"prog", "--tap", "block1_pool", "--config", path, "x.jpg"};
  CHECK(apply(6, a1, "extract", &argc, &argv) == 0);
  const char *w1[] = {"prog", weights, data, "--quiet", "--tap", "block1_pool", "x.jpg"};
  if (!same_args(argc, argv, w1, 7)) {
    failures++;
    print_args(argc, argv);
  }
  /* getopt_long sees only the command line's --tap. */
  optind = 1;
  const char *tap = NULL;
  for (int ch; (ch = getopt_long(argc, argv, "", opts, NULL)) != -1;)
    if (ch == 't') tap = optarg;
  CHECK(tap && !strcmp(tap, "block1_pool"));
  CHECK(optind == argc - 1 && !strcmp(argv[optind], "x.jpg"));

  /* Annotation: a message about a config-given option names file:line; one
   * about an option the command line also gave, or about another, does not. */
  char want[700];
  snprintf(want, sizeof want, "%s:4: --data: cannot read", path);
  CHECK(!strcmp(vt_config_annotate("--data: cannot read"), want));
  CHECK(!strcmp(vt_config_annotate("--tap: unknown layer"), "--tap: unknown layer")); /* from the command line */
  CHECK(!strcmp(vt_config_annotate("--database x"), "--database x"));
  CHECK(!strcmp(vt_config_annotate("no option here"), "no option here"));

  /* [train] does not take weights (not shared with train); -- stops the search. */
  const char *a2[] = {"prog", cfgarg, "--", "--config", "y"};
  CHECK(apply(5, a2, "train", &argc, &argv) == 0);
  const char *w2[] = {"prog", "--epochs=5", "--lr=0.5", "--", "--config", "y"};
  if (!same_args(argc, argv, w2, 6)) {
    failures++;
    print_args(argc, argv);
  }
  snprintf(want, sizeof want, "%s:10: --lr wants a positive number", path);
  CHECK(!strcmp(vt_config_annotate("--lr wants a positive number"), want));
  CHECK(!strcmp(vt_config_annotate("--lr-schedule is bad"), "--lr-schedule is bad"));

  /* --key=value on the command line also replaces the file's key. */
  const char *a2b[] = {"prog", cfgarg, "--lr=0.1"};
  CHECK(apply(3, a2b, "train", &argc, &argv) == 0);
  const char *w2b[] = {"prog", "--epochs=5", "--lr=0.1"};
  if (!same_args(argc, argv, w2b, 3)) {
    failures++;
    print_args(argc, argv);
  }

  /* The program's section wins over [vggtap] for a shared key, even when
   * [vggtap] comes later in the file: one --weights, the section's. */
  path = write_file("w.ini", "[extract]\nweights = mine.h5\n[vggtap]\nweights = shared.h5\n");
  const char *a2c[] = {"prog", "--config", path};
  CHECK(apply(3, a2c, "extract", &argc, &argv) == 0);
  char mine[600];
  snprintf(mine, sizeof mine, "--weights=%s/mine.h5", dir);
  const char *w2c[] = {"prog", mine};
  if (!same_args(argc, argv, w2c, 2)) {
    failures++;
    print_args(argc, argv);
  }

  /* Without --config nothing changes. */
  const char *a3[] = {"prog", "--tap", "x"};
  vt_config_release();
  CHECK(apply(3, a3, "extract", &argc, &argv) == 0 && same_args(argc, argv, a3, 3));
  free(argv);

  /* An unknown key names file, line and a near key; a bad switch value too. */
  path = write_file("u.ini", "[train]\nepochs = 5\nepoch = 3\n");
  const char *a4[] = {"prog", "--config", path};
  CHECK(apply(3, a4, "train", &argc, &argv) == -1);
  CHECK(!strcmp(vt_config_annotate("--epochs wants"), "--epochs wants")); /* nothing applied */
  snprintf(want, sizeof want, "%s:3: [train] unknown key 'epoch' (did you mean 'epochs'?)", path);
  CHECK(!strcmp(vt_failure_reason(), want));
  if (strcmp(vt_failure_reason(), want)) fprintf(stderr, "  got '%s'\n", vt_failure_reason());
  free(argv);
  path = write_file("s.ini", "[extract]\nquiet = maybe\n");
  const char *a5[] = {"prog", "--config", path};
  CHECK(apply(3, a5, "extract", &argc, &argv) == -1);
  snprintf(want, sizeof want, "%s:2: ", path);
  CHECK(!strncmp(vt_failure_reason(), want, strlen(want)) && strstr(vt_failure_reason(), "switch"));
  free(argv);
  /* help/version/config are not keys. */
  path = write_file("h.ini", "[extract]\nhelp = true\n");
  const char *a6[] = {"prog", "--config", path};
  CHECK(apply(3, a6, "extract", &argc, &argv) == -1 && strstr(vt_failure_reason(), "unknown key 'help'"));
  /* and the reason does not deny that the program has --help */
  CHECK(strstr(vt_failure_reason(), "command-line flags only") && !strstr(vt_failure_reason(), "has no --"));
  free(argv);
  path = write_file("c.ini", "[train]\nconfig = other.ini\n");
  const char *a6c[] = {"prog", "--config", path};
  CHECK(apply(3, a6c, "train", &argc, &argv) == -1 && strstr(vt_failure_reason(), "unknown key 'config'") &&
        strstr(vt_failure_reason(), "command-line flags only"));
  free(argv);
  /* A key unknown to this program in a section it does not own is fine. */
  path = write_file("o.ini", "[predict]\ntop = 3\n[extract]\ntap = a\n");
  const char *a7[] = {"prog", "--config", path};
  CHECK(apply(3, a7, "extract", &argc, &argv) == 0 && argc == 2 && !strcmp(argv[1], "--tap=a"));
  vt_config_release();
  const char *a8[] = {"prog", "--config"};
  CHECK(apply(2, a8, "extract", &argc, &argv) == -1);
  free(argv);
  const char *a9[] = {"prog", "--config", path, "--config=x"};
  CHECK(apply(4, a9, "extract", &argc, &argv) == -1 && strstr(vt_failure_reason(), "twice"));
  free(argv);
}

/* vt_xdirname, which vt_same_file, the VDS source check and vggtap-merge's
 * relative shard names resolve against. */
static void test_dirname(void) {
  static const char *cases[][2] = {{"a.h5", "."},  {"d/a.h5", "d"},   {"/a.h5", "/"},
                                   {"/d/e/a", "/d/e"}, {"d//a", "d/"}, {"d/", "d"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *got = vt_xdirname(cases[i][0]);
    CHECK(!strcmp(got, cases[i][1]), "vt_xdirname(%s) = '%s', expected '%s'", cases[i][0], got, cases[i][1]);
    free(got);
  }
}

static void test_weights_find(void) {
  char home[600], cache[700], file[800];
  snprintf(home, sizeof home, "%s/home", dir);
  mkdir(home, 0755);
  setenv("HOME", home, 1);
  unsetenv("KERAS_HOME");
  unsetenv("VGGTAP_WEIGHTS");
  const int deep = VT_VGG16_NCONV, shallow = VT_BUNDLED_WEIGHTS_CONVS;
  /* Nothing anywhere for a tap deeper than the bundled block1-block2 file:
   * the message says what to download and where, and offers a config's
   * `weights` key only to a program that reads configs. */
  CHECK(vt_weights_find(NULL, 1, deep) == NULL);
  const char *why = vt_failure_reason();
  CHECK(strstr(why, VT_KERAS_WEIGHTS_URL) && strstr(why, VT_KERAS_WEIGHTS_MD5) &&
        strstr(why, "VGGTAP_WEIGHTS") && strstr(why, home));
  CHECK(strstr(why, "up to block5_conv3") && strstr(why, "data/weights/vgg16_keras_prefix.h5 holds only block1-block2"),
        "%s", why);
  CHECK(strstr(why, "no `weights` key") && strstr(why, "`weights = FILE` in the config"));
  CHECK(vt_weights_find(NULL, 0, shallow + 1) == NULL);
  why = vt_failure_reason();
  CHECK(strstr(why, VT_KERAS_WEIGHTS_URL) && strstr(why, "--weights FILE, or export VGGTAP_WEIGHTS"));
  CHECK(strstr(why, "up to block3_conv1"), "%s", why);
  CHECK(!strstr(why, "config's") && !strstr(why, "weights` key"), "a program without --config was told of a config: %s",
        why);
  /* The bundled file, last, for the taps it holds (tests/test_weights_lookup.sh
   * checks it is the checkout's). */
  const char *got = vt_weights_find(NULL, 1, shallow);
  CHECK(got && strstr(got, "/data/weights/vgg16_keras_prefix.h5") && access(got, R_OK) == 0, "bundled: %s",
        got ? got : vt_failure_reason());
  /* The Keras cache, before the bundled file. */
  snprintf(cache, sizeof cache, "%s/.keras", home);
  mkdir(cache, 0755);
  snprintf(cache, sizeof cache, "%s/.keras/models", home);
  mkdir(cache, 0755);
  snprintf(file, sizeof file, "%s/%s", cache, VT_KERAS_WEIGHTS_NAME);
  fclose(fopen(file, "w"));
  got = vt_weights_find(NULL, 1, shallow);
  CHECK(got && !strcmp(got, file));
  got = vt_weights_find(NULL, 1, deep);
  CHECK(got && !strcmp(got, file));
  /* $VGGTAP_WEIGHTS before the cache, and a missing one is an error. */
  const char *other = write_file("other.h5", "x");
  setenv("VGGTAP_WEIGHTS", other, 1);
  got = vt_weights_find(NULL, 1, shallow);
  CHECK(got && !strcmp(got, other));
  setenv("VGGTAP_WEIGHTS", "/nonexistent/w.h5", 1);
  CHECK(vt_weights_find(NULL, 1, shallow) == NULL && strstr(vt_failure_reason(), "VGGTAP_WEIGHTS=/nonexistent/w.h5"));
  /* The flag (or config key) before everything; missing is an error. */
  got = vt_weights_find(other, 1, shallow);
  CHECK(got && !strcmp(got, other));
  CHECK(vt_weights_find("/nonexistent/flag.h5", 1, shallow) == NULL &&
        strstr(vt_failure_reason(), "/nonexistent/flag.h5 (from --weights or the config's `weights` key)"));
  CHECK(vt_weights_find("/nonexistent/flag.h5", 0, shallow) == NULL &&
        strstr(vt_failure_reason(), "/nonexistent/flag.h5 (from --weights) does not exist"));
  /* $KERAS_HOME replaces ~/.keras, as in Keras. */
  unsetenv("VGGTAP_WEIGHTS");
  setenv("KERAS_HOME", "/nonexistent-keras", 1);
  CHECK(vt_weights_find(NULL, 1, deep) == NULL && strstr(vt_failure_reason(), "/nonexistent-keras/models"));
  unlink(file);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/test_config.XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_parse();
  test_clean_paths();
  test_errors();
  test_apply();
  test_dirname();
  test_weights_find();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  if (failures) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("test_config: all checks passed\n");
  return 0;
}
