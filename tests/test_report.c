/* vt_report_print and vt_report_write: the summary holds the numbers; the
 * report directory is created (mkdir -p), holds exactly the six files (no
 * temporaries), CSV and JSON agree with the metrics (names with commas,
 * quotes and backslashes escaped), the PNGs decode with libpng at the
 * expected sizes and show a dark diagonal and both curves; a missing
 * validation split and a single epoch still plot; errors name the file. */
#include <dirent.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "base/vt_common.h"
#include "plot/vt_png_plot.h"

#include "vt_test.h"


static char *slurp(const char *dir, const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *s = malloc((size_t)n + 1);
  s[fread(s, 1, (size_t)n, f)] = '\0';
  fclose(f);
  return s;
}

static uint8_t *read_png(const char *dir, const char *name, int *w, int *h) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path)) return NULL;
  img.format = PNG_FORMAT_RGB;
  uint8_t *rgb = malloc(PNG_IMAGE_SIZE(img));
  if (!png_image_finish_read(&img, NULL, rgb, 0, NULL)) {
    free(rgb);
    return NULL;
  }
  *w = (int)img.width, *h = (int)img.height;
  return rgb;
}

static long count_color(const uint8_t *rgb, int w, int h, vt_color col) {
  long n = 0;
  for (long k = 0; k < (long)w * h; k++)
    n += rgb[3 * k] == (col >> 16) && rgb[3 * k + 1] == ((col >> 8) & 255) && rgb[3 * k + 2] == (col & 255);
  return n;
}

/* One CSV field at *s (RFC 4180 quoting); advances past the separator. */
static void csv_next(const char **s, char *out, size_t size) {
  size_t o = 0;
  int quoted = **s == '"';
  if (quoted) (*s)++;
  for (; **s; (*s)++) {
    if (quoted && **s == '"' && (*s)[1] == '"') (*s)++;
    else if (quoted && **s == '"') quoted = 0, (*s)++;
    if (!quoted && (**s == ',' || **s == '\n' || !**s)) break;
    if (o + 1 < size) out[o++] = **s;
  }
  out[o] = '\0';
  if (**s == ',' || **s == '\n') (*s)++;
}

/* A top-level number of metrics.json; NaN if absent or not a number. */
static double json_num(const json_t *root, const char *key) {
  const json_t *v = json_object_get(root, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

int main(void) {
  const int k = 4;
  const char *names[4] = {"v-neck", "round, neck", "say \"hi\"", "back\\slash"};
  int yt[400], yp[400], n = 0;
  for (int c = 0; c < k; c++)
    for (int i = 0; i < 100; i++, n++) yt[n] = c, yp[n] = i < 80 + 5 * c ? c : (c + 1 + i % 2) % k;
  vt_metrics m;
  CHECK(vt_metrics_compute(k, n, yt, yp, &m) == 0);
  vt_epoch_log log[6];
  for (int e = 0; e < 6; e++)
    log[e] = (vt_epoch_log){e + 1, 0.01, 1.5 / (e + 1), 0.5 + 0.05 * e, e == 2 ? NAN : 1.6 / (e + 1), 0.45 + 0.04 * e};
  vt_report r = {.title = "block2_pool gap softmax on val split",
                 .eval_name = "validation split",
                 .class_names = names,
                 .metrics = &m,
                 .epochs = log,
                 .n_epochs = 6,
                 .head_params = 1040,
                 .dense_params = 3305185296L,
                 .dense_params_with_convs = 3305224016L,
                 .train_seconds = 2.25,
                 .extra = json_pack("{s:s, s:i}", "tap", "block2_pool", "seed", 7)};

  /* terminal summary */
  char *text = NULL;
  size_t text_len = 0;
  FILE *mf = open_memstream(&text, &text_len);
  vt_report_print(mf, &r);
  fclose(mf);
  CHECK(strstr(text, "block2_pool gap softmax on val split"));
  CHECK(strstr(text, "validation split"));
  CHECK(strstr(text, "head: 1,040 parameters"));
  CHECK(strstr(text, "Dense(4) = 3,305,185,296 (3,305,224,016 with the tap's convs trained)"));
  CHECK(strstr(text, ": 3,178,063 times fewer\n")); /* 3305185296 / 1040 */
  CHECK(strstr(text, "round, neck") && strstr(text, "back\\slash"));
  char want[128];
  snprintf(want, sizeof want, "accuracy %.4f   balanced accuracy %.4f   macro-F1 %.4f", m.accuracy,
           m.balanced_accuracy, m.macro_f1);
  CHECK(strstr(text, want));
  snprintf(want, sizeof want, "%9d %4ld %4ld %4ld %4ld\n", 0, m.confusion[0], m.confusion[1], m.confusion[2], m.confusion[3]);
  CHECK(strstr(text, want));
  free(text);

  /* the ratio reads the same way at every size (it was 4789.0, 331,681 and
   * 3.2 million): whole numbers with separators, one decimal below 10 */
  static const struct {
    long head, dense;
    const char *want;
  } ratios[] = {{1000, 4789000, ": 4,789 times fewer\n"}, {1290, 427868170, ": 331,681 times fewer\n"},
                {1000, 2500, ": 2.5 times fewer\n"}, {5000, 1000, ": 5.0 times more\n"},
                {10, 1000, ": 100 times fewer\n"}};
  for (size_t i = 0; i < sizeof ratios / sizeof ratios[0]; i++) {
    vt_report q = r;
    q.head_params = ratios[i].head;
    q.dense_params = q.dense_params_with_convs = ratios[i].dense;
    text = NULL;
    mf = open_memstream(&text, &text_len);
    vt_report_print(mf, &q);
    fclose(mf);
    CHECK(strstr(text, ratios[i].want));
    if (!strstr(text, ratios[i].want)) fprintf(stderr, "  wanted '%s' in:\n%s", ratios[i].want, text);
    free(text);
  }

  /* report files in a directory that does not exist yet */
  char base[] = "/tmp/vt_test_report_XXXXXX", dir[256];
  CHECK(mkdtemp(base) != NULL);
  snprintf(dir, sizeof dir, "%s/a/b", base);
  CHECK(vt_report_write(dir, &r) == 0);
  CHECK(vt_report_write(dir, &r) == 0); /* overwriting works too */
  const char *files[7] = {"metrics.json", "per_class.csv", "confusion.csv", "confusion.txt", "confusion.png", "curves.png",
                          "report.html"};
  DIR *d = opendir(dir);
  CHECK(d != NULL);
  int seen = 0, other = 0;
  for (struct dirent *de; d && (de = readdir(d));) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    int known = 0;
    for (int i = 0; i < 7; i++) known |= !strcmp(de->d_name, files[i]);
    if (known) seen++;
    else other++, fprintf(stderr, "unexpected file %s\n", de->d_name);
  }
  if (d) closedir(d);
  CHECK(seen == 7 && other == 0);

  /* per_class.csv */
  char *csv = slurp(dir, "per_class.csv"), field[128];
  CHECK(csv && !strncmp(csv, "class,name,precision,recall,f1,support\n", 39));
  const char *s = csv ? strchr(csv, '\n') + 1 : "";
  for (int c = 0; c < k; c++) {
    csv_next(&s, field, sizeof field);
    CHECK(atoi(field) == c);
    csv_next(&s, field, sizeof field);
    CHECK(!strcmp(field, names[c]));
    double v[3];
    for (int j = 0; j < 3; j++) csv_next(&s, field, sizeof field), v[j] = strtod(field, NULL);
    CHECK(fabs(v[0] - m.precision[c]) < 1e-9 && fabs(v[1] - m.recall[c]) < 1e-9 && fabs(v[2] - m.f1[c]) < 1e-9);
    csv_next(&s, field, sizeof field);
    CHECK(atol(field) == m.support[c]);
  }
  CHECK(*s == '\0');
  free(csv);

  /* confusion.csv: header of class names, then one row per true class */
  csv = slurp(dir, "confusion.csv");
  s = csv ? csv : "";
  csv_next(&s, field, sizeof field);
  CHECK(!strcmp(field, "true\\pred"));
  for (int c = 0; c < k; c++) {
    csv_next(&s, field, sizeof field);
    CHECK(!strcmp(field, names[c]));
  }
  for (int i = 0; i < k; i++) {
    csv_next(&s, field, sizeof field);
    CHECK(!strcmp(field, names[i]));
    for (int j = 0; j < k; j++) {
      csv_next(&s, field, sizeof field);
      CHECK(atol(field) == m.confusion[i * k + j]);
    }
  }
  CHECK(*s == '\0');
  free(csv);

  char *txt = slurp(dir, "confusion.txt");
  CHECK(txt && strstr(txt, "rows: true class") && strstr(txt, "3 = back\\slash"));
  free(txt);

  /* metrics.json */
  /* read back with libjansson's parser: valid JSON (no bare nan/inf), the
   * values, the escaped names, NaN as null, the extra members */
  char *json = slurp(dir, "metrics.json");
  json_error_t err;
  json_t *root = json ? json_loads(json, 0, &err) : NULL;
  CHECK(root, "metrics.json: %s", json ? err.text : "missing");
  if (root) {
    CHECK(fabs(json_num(root, "accuracy") - m.accuracy) < 1e-9);
    CHECK(fabs(json_num(root, "balanced_accuracy") - m.balanced_accuracy) < 1e-9);
    CHECK(fabs(json_num(root, "macro_f1") - m.macro_f1) < 1e-9);
    CHECK(json_num(root, "n") == n);
    CHECK(json_num(root, "dense_params") == 3305185296.0);
    const json_t *pc = json_object_get(root, "per_class");
    CHECK(json_array_size(pc) == 4 &&
          !strcmp(json_string_value(json_object_get(json_array_get(pc, 2), "name")), "say \"hi\"") &&
          !strcmp(json_string_value(json_object_get(json_array_get(pc, 3), "name")), "back\\slash"));
    CHECK(json_is_null(json_object_get(json_array_get(json_object_get(root, "epochs"), 2), "val_loss")));
    CHECK(!strcmp(json_string_value(json_object_get(root, "tap")), "block2_pool") && json_num(root, "seed") == 7);
    /* where the scores come from: a boolean, a sentence, null without validation metrics */
    CHECK(json_is_boolean(json_object_get(root, "held_out")));
    const char *note = json_string_value(json_object_get(root, "score_note"));
    CHECK(note && *note);
    CHECK(json_is_null(json_object_get(root, "val_accuracy")) && json_num(root, "n_train") == 0);
  }
  json_decref(root);
  free(json);

  /* confusion.png: the layout's size, darker diagonal */
  int w, h;
  uint8_t *rgb = read_png(dir, "confusion.png", &w, &h);
  vt_heatmap hm = {.title = "Confusion matrix", .xlabel = "predicted class", .ylabel = "true class",
                   .n = k, .counts = m.confusion, .labels = names};
  vt_heatmap_geometry g;
  vt_heatmap_layout(&hm, &g);
  CHECK(rgb && w == g.width && h == g.height);
  for (int i = 0; rgb && i < k; i++)
    for (int j = 0; j < k; j++) {
      const uint8_t *p = rgb + ((size_t)(g.y0 + i * g.cell + 3) * w + g.x0 + j * g.cell + 3) * 3;
      const uint8_t *q = rgb + ((size_t)(g.y0 + i * g.cell + 3) * w + g.x0 + i * g.cell + 3) * 3;
      if (i != j) CHECK(p[0] + p[1] + p[2] > q[0] + q[1] + q[2] + 150);
    }
  free(rgb);

  /* curves.png: both series drawn */
  rgb = read_png(dir, "curves.png", &w, &h);
  CHECK(rgb && w == 1000 && h == 480);
  if (rgb) CHECK(count_color(rgb, w, h, 0x1F77B4) > 500 && count_color(rgb, w, h, 0xE8710A) > 500);
  free(rgb);

  /* one epoch, no validation: the train points alone, no orange */
  vt_epoch_log one = {1, 0.01, 0.9, 0.6, NAN, NAN};
  r.epochs = &one, r.n_epochs = 1;
  CHECK(vt_report_write(dir, &r) == 0);
  rgb = read_png(dir, "curves.png", &w, &h);
  CHECK(rgb && count_color(rgb, w, h, 0x1F77B4) > 10 && count_color(rgb, w, h, 0xE8710A) == 0);
  free(rgb);

  /* no epochs: no curves.png */
  char dir2[300];
  snprintf(dir2, sizeof dir2, "%s/noepochs", base);
  r.epochs = NULL, r.n_epochs = 0;
  CHECK(vt_report_write(dir2, &r) == 0);
  char path[400];
  snprintf(path, sizeof path, "%s/curves.png", dir2);
  CHECK(access(path, F_OK) != 0);
  snprintf(path, sizeof path, "%s/metrics.json", dir2);
  CHECK(access(path, F_OK) == 0);

  /* errors name the path: a directory below a regular file */
  char bad[300];
  snprintf(bad, sizeof bad, "%s/metrics.json/sub", dir);
  CHECK(vt_report_write(bad, &r) == -1);
  CHECK(strstr(vt_failure_reason(), "metrics.json") != NULL);
  fprintf(stderr, "expected failure: %s\n", vt_failure_reason());

  json_decref(r.extra);
  vt_metrics_free(&m);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  CHECK(system(cmd) == 0);
  if (failures) fprintf(stderr, "%d checks failed\n", failures);
  else printf("report: all checks passed\n");
  return failures ? 1 : 0;
}
