/* report.html and its pieces: base64 against RFC 4648's vectors, HTML
 * escaping, the JPEG encoder round trip, which wrong rows the gallery
 * shows, the sentence saying which rows the scores come from for every
 * kind of scored rows, and the page itself: class names escaped, the
 * curves and a real photo's thumbnail inline (decoded back: size and
 * aspect), a photo that is gone shown as a note, not a failure. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "base/vt_html.h"
#include "base/vt_text.h"
#include "image/vt_image.h"
#include "metrics.h"
#include "report.h"
#include "report_html.h"
#include "vt_test.h"

/* What writer(f) writes, as a string (free it). */
static char *capture_text(void (*writer)(FILE *, const char *), const char *arg) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  writer(f, arg);
  fclose(f);
  return buf;
}

static void base64_of(FILE *f, const char *s) {
  vt_html_base64(f, (const uint8_t *)s, strlen(s));
}

static void test_base64_and_escaping(void) {
  /* RFC 4648, section 10 */
  static const char *vec[][2] = {{"", ""},        {"f", "Zg=="},         {"fo", "Zm8="},
                                 {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                 {"foobar", "Zm9vYmFy"}};
  for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
    char *got = capture_text(base64_of, vec[i][0]);
    CHECK(!strcmp(got, vec[i][1]), "base64(%s) = %s, want %s", vec[i][0], got, vec[i][1]);
    free(got);
  }
  char *got = capture_text(vt_html_text, "<b class=\"x\">Tom & Jerry's</b>");
  CHECK(!strcmp(got, "&lt;b class=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/b&gt;"), "%s", got);
  free(got);
  got = capture_text(vt_html_text, "caf\xe9 \xc3\xa9t\xc3\xa9");
  CHECK(!strcmp(got, "caf\\xe9 \xc3\xa9t\xc3\xa9"), "a stray byte as \\xHH, UTF-8 kept: %s", got);
  free(got);
}

static int write_jpeg(FILE *f, const void *im) {
  return vt_image_write_jpeg(im, 90, f);
}

/* A smooth gradient survives JPEG at quality 90 within a few levels. */
static void test_jpeg_round_trip(void) {
  vt_image im = {64, 48, vt_xmalloc(64 * 48 * 3)};
  for (int y = 0; y < 48; y++)
    for (int x = 0; x < 64; x++) {
      uint8_t *p = im.rgb + (y * 64 + x) * 3;
      p[0] = (uint8_t)(x * 4), p[1] = (uint8_t)(y * 5), p[2] = (uint8_t)(128 + x - y);
    }
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  CHECK(write_jpeg(f, &im) == 0);
  fclose(f);
  vt_image back;
  CHECK(vt_image_decode((const uint8_t *)buf, n, SIZE_MAX, &back) == 0, "%s", vt_failure_reason());
  if (back.rgb) {
    CHECK(back.width == 64 && back.height == 48);
    double err = 0;
    for (int i = 0; i < 64 * 48 * 3; i++) err += fabs((double)back.rgb[i] - im.rgb[i]);
    err /= 64 * 48 * 3;
    CHECK(err < 3, "mean absolute error %.2f levels", err);
    free(back.rgb);
  }
  free(buf);
  free(im.rgb);
}

static void test_pick_wrong(void) {
  /* 5 rows, 3 classes: rows 1, 3 and 4 are wrong, row 3 surest, 1 and 4 tie */
  const float p[] = {0.8f, 0.1f, 0.1f, /* 0: right */
                     0.2f, 0.7f, 0.1f, /* 1: wrong (true 0), 0.7 */
                     0.1f, 0.1f, 0.8f, /* 2: right */
                     0.05f, 0.05f, 0.9f, /* 3: wrong (true 1), 0.9 */
                     0.7f, 0.2f, 0.1f}; /* 4: wrong (true 1), 0.7 */
  const int y[] = {0, 0, 2, 1, 1};
  int out[5];
  int n = vt_report_pick_wrong(p, y, 5, 3, 5, out);
  CHECK(n == 3 && out[0] == 3 && out[1] == 1 && out[2] == 4, "n %d: %d %d %d", n, out[0], out[1], out[2]);
  n = vt_report_pick_wrong(p, y, 5, 3, 2, out);
  CHECK(n == 2 && out[0] == 3 && out[1] == 1, "capped at 2");
}

/* For each kind of scored rows: held out or not, and the sentence says so. */
static void test_score_notes(const vt_metrics *m) {
  struct {
    vt_scored_set set;
    const char *chose;
    int held;
    const char *words;
  } cases[] = {
      {VT_SCORED_EVAL, "the kept epoch", 1, "another store, which chose nothing"},
      {VT_SCORED_TEST, "the kept epoch", 1, "the test split's 400 rows (20% of each class), which chose nothing"},
      {VT_SCORED_VAL, NULL, 1, "which chose nothing in this training"},
      {VT_SCORED_VAL, "the kept epoch", 0, "the same rows that chose the kept epoch: an optimistic score"},
      {VT_SCORED_TRAIN, NULL, 0, "nothing was held out"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    vt_report r = {.eval_name = "x.h5", .metrics = m, .scored = cases[i].set, .val_chose = cases[i].chose,
                   .test_note = "20% of each class"};
    char note[1024];
    vt_report_score_note(&r, note, sizeof note);
    CHECK(vt_report_held_out(&r) == cases[i].held, "case %zu: held out %d", i, vt_report_held_out(&r));
    CHECK(strstr(note, cases[i].words) != NULL, "case %zu: '%s' lacks '%s'", i, note, cases[i].words);
  }
}

static size_t count(const char *s, const char *what) {
  size_t n = 0;
  for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
  return n;
}

/* The base64 after the first "data:image/jpeg;base64," decoded. */
static uint8_t *first_jpeg(const char *page, size_t *n) {
  const char *p = strstr(page, "data:image/jpeg;base64,");
  if (!p) return NULL;
  p += strlen("data:image/jpeg;base64,");
  size_t len = strcspn(p, "\"");
  uint8_t *out = vt_xmalloc(len);
  *n = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len && p[i] != '='; i++) {
    const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *c = strchr(abc, p[i]);
    if (!c) break;
    acc = acc << 6 | (uint32_t)(c - abc);
    bits += 6;
    if (bits >= 8) out[(*n)++] = (uint8_t)(acc >> (bits -= 8));
  }
  return out;
}

static void test_page(const vt_metrics *m, const char *const *names) {
  char photo[512];
  vt_test_data(photo, sizeof photo, "clothing-30/dress/041c6bde-e737-46fd-9586-984c1503941f.jpg"); /* 240x320 */
  vt_report_example wrong[2] = {{photo, 0, 2, 0.91, 0.05}, {"/no/such/photo.jpg", 1, 3, 0.6, 0.2}};
  vt_epoch_log log[5];
  for (int e = 0; e < 5; e++) log[e] = (vt_epoch_log){e + 1, 0.01, 1.0 / (e + 1), 0.5, 1.2 - 0.1 * e, 0.4};
  vt_report r = {.title = "b2 <avg4> & softmax", .eval_name = "test split", .class_names = names,
                 .metrics = m, .epochs = log, .n_epochs = 5, .head_params = 100, .scored = VT_SCORED_TEST,
                 .n_train = 900, .n_val = 200, .val_chose = "the kept epoch", .test_note = "20% of each class",
                 .val_metrics = m, .kept_epoch = 3, .wrong = wrong, .n_wrong = 2,
                 .settings = "seed=7\npool=<avg4>\n"};
  char *page = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&page, &len);
  CHECK(vt_report_html(f, &r) == 0, "%s", vt_failure_reason());
  fclose(f);
  CHECK(!strncmp(page, "<!DOCTYPE html>", 15));
  CHECK(strstr(page, "</html>\n") != NULL);
  CHECK(!strstr(page, "<script") && !strstr(page, "http://") && !strstr(page, "https://"),
        "no scripts, no network");
  CHECK(!strstr(page, "<avg4>") && strstr(page, "b2 &lt;avg4&gt; &amp; softmax") &&
        strstr(page, "pool=&lt;avg4&gt;"), "title and settings escaped");
  CHECK(strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt;") && strstr(page, "Tom &amp; Jerry"),
        "class names escaped");
  CHECK(strstr(page, "Scored on: test split (400 rows)") && strstr(page, "which chose nothing"),
        "which rows the scores come from");
  CHECK(strstr(page, "chose the kept epoch (epoch 3)"), "what the validation rows chose");
  CHECK(count(page, "data:image/png;base64,") == 1, "the curves inline");
  CHECK(count(page, "data:image/jpeg;base64,") == 1, "one thumbnail: the photo that exists");
  CHECK(count(page, "photo not readable: ") == 1 && strstr(page, "/no/such/photo.jpg"),
        "the missing photo as a note with its path");
  CHECK(count(page, "<figure>") == 2 && count(page, "<tr><td class=\"n\">") == 4,
        "two gallery entries, four per-class rows");
  size_t n;
  uint8_t *jpeg = first_jpeg(page, &n);
  vt_image thumb = {0};
  CHECK(jpeg && vt_image_decode(jpeg, n, SIZE_MAX, &thumb) == 0, "the thumbnail decodes");
  CHECK(thumb.height == VT_REPORT_THUMB && thumb.width == 120, "240x320 shrunk to 120x160: %dx%d",
        thumb.width, thumb.height);
  free(thumb.rgb);
  free(jpeg);
  free(page);
}

int main(void) {
  test_base64_and_escaping();
  test_jpeg_round_trip();
  test_pick_wrong();
  const char *names[4] = {"<script>alert(1)</script>", "Tom & Jerry", "say \"hi\"", "caf\xe9"};
  int yt[400], yp[400];
  for (int i = 0; i < 400; i++) yt[i] = i % 4, yp[i] = i % 5 ? yt[i] : (yt[i] + 1) % 4;
  vt_metrics m;
  CHECK(vt_metrics_compute(4, 400, yt, yp, &m) == 0);
  test_score_notes(&m);
  test_page(&m, names);
  vt_metrics_free(&m);
  if (failures) printf("%d checks failed\n", failures);
  else printf("report page ok\n");
  return failures != 0;
}
