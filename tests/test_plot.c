/* vt_png_plot: the font (every printable glyph drawn, all distinct, text
 * stays inside its box, rotated too), antialiased polylines (coverage, NaN
 * gaps, dots), PNG round trip through libpng, the heatmap colour map and
 * layout, and charts drawing something for 1 and many points. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "plot/vt_png_plot.h"

#include "vt_test.h"


static const uint8_t *px(const vt_canvas *c, int x, int y) { return c->rgb + ((size_t)y * c->w + x) * 3; }
static int is_white(const vt_canvas *c, int x, int y) {
  const uint8_t *p = px(c, x, y);
  return p[0] == 255 && p[1] == 255 && p[2] == 255;
}

/* Non-white pixels inside and outside the rectangle (x, y, w, h). */
static void count_ink(const vt_canvas *c, int x, int y, int w, int h, long *in, long *out) {
  *in = *out = 0;
  for (int j = 0; j < c->h; j++)
    for (int i = 0; i < c->w; i++)
      if (!is_white(c, i, j)) {
        if (i >= x && i < x + w && j >= y && j < y + h) (*in)++;
        else (*out)++;
      }
}

static double luminance(vt_color c) {
  return 0.299 * (c >> 16) + 0.587 * ((c >> 8) & 255) + 0.114 * (c & 255);
}

int main(void) {
  vt_canvas c;
  long in, out;

  /* font: each glyph drawn alone; only space is empty; no two alike */
  static uint8_t glyphs[95][VT_FONT_W * VT_FONT_H];
  for (int ch = 32; ch < 127; ch++) {
    char s[2] = {(char)ch, 0};
    CHECK(vt_canvas_init(&c, VT_FONT_W, VT_FONT_H, 0xFFFFFF) == 0);
    vt_canvas_text(&c, 0, 0, s, 1, 0x000000);
    long ink = 0;
    for (int k = 0; k < VT_FONT_W * VT_FONT_H; k++) {
      glyphs[ch - 32][k] = c.rgb[3 * k] == 0;
      ink += glyphs[ch - 32][k];
      CHECK(!(k % VT_FONT_W == VT_FONT_W - 1 && glyphs[ch - 32][k])); /* spacing column */
    }
    CHECK(ch == ' ' ? ink == 0 : ink > 0);
    vt_canvas_free(&c);
  }
  for (int a = 0; a < 95; a++)
    for (int b = a + 1; b < 95; b++)
      if (!memcmp(glyphs[a], glyphs[b], sizeof glyphs[a])) {
        fprintf(stderr, "glyphs '%c' and '%c' are identical\n", a + 32, b + 32);
        failures++;
      }

  /* text stays in its box, upright and rotated; non-ASCII is one glyph per
   * UTF-8 sequence */
  const char *s = "Mjg|_Q 0.25%";
  int tw = vt_text_width(s, 2);
  CHECK(tw == (12 * VT_FONT_W - 1) * 2);
  CHECK(vt_text_width("\xc3\xa9t\xc3\xa9", 1) == vt_text_width("?t?", 1));
  CHECK(vt_text_width("", 3) == 0);
  CHECK(vt_canvas_init(&c, 300, 200, 0xFFFFFF) == 0);
  vt_canvas_text(&c, 20, 30, s, 2, 0x102030);
  count_ink(&c, 20, 30, tw, VT_FONT_H * 2, &in, &out);
  CHECK(in > 100 && out == 0);
  vt_canvas_free(&c);
  CHECK(vt_canvas_init(&c, 200, 300, 0xFFFFFF) == 0);
  vt_canvas_text_up(&c, 30, 20, s, 2, 0x102030);
  count_ink(&c, 30, 20, VT_FONT_H * 2, tw, &in, &out);
  CHECK(in > 100 && out == 0);
  vt_canvas_free(&c);
  /* rotated text reads bottom to top: the first glyph sits at the bottom of
   * the box, and the underscore's row (the 9th of the cell) becomes a column */
  CHECK(vt_canvas_init(&c, 100, 100, 0xFFFFFF) == 0);
  vt_canvas_text_up(&c, 10, 10, "_  ", 2, 0);
  count_ink(&c, 10 + 8 * 2, 10 + vt_text_width("_  ", 2) - 5 * 2, 2, 5 * 2, &in, &out);
  CHECK(in == 2 * 5 * 2 && out == 0);
  vt_canvas_free(&c);
  CHECK(vt_canvas_init(&c, 30, 20, 0xFFFFFF) == 0);
  vt_canvas_text(&c, -50, -5, "clipped text that runs off the canvas", 3, 0); /* must not crash */
  vt_canvas_free(&c);

  /* polylines: a horizontal 3-px line at y = 10.5 covers rows 9..11 fully
   * between its ends; a NaN leaves a gap; an isolated point becomes a dot */
  CHECK(vt_canvas_init(&c, 100, 40, 0xFFFFFF) == 0);
  double xs[5] = {10, 40, NAN, 60, 90}, ys[5] = {10.5, 10.5, 10.5, 10.5, 30.5};
  vt_canvas_polyline(&c, xs, ys, 2, 3, 0, 0x000000);
  for (int x = 12; x < 38; x++) CHECK(px(&c, x, 10)[0] == 0 && px(&c, x, 9)[0] == 0 && px(&c, x, 11)[0] == 0);
  for (int x = 12; x < 38; x++) CHECK(is_white(&c, x, 7) && is_white(&c, x, 13));
  vt_canvas_free(&c);
  CHECK(vt_canvas_init(&c, 100, 40, 0xFFFFFF) == 0);
  vt_canvas_polyline(&c, xs, ys, 5, 2, 0, 0x000000);
  CHECK(!is_white(&c, 25, 10));                     /* first segment */
  CHECK(is_white(&c, 50, 10));                      /* gap where the NaN is */
  CHECK(!is_white(&c, 75, 20) || !is_white(&c, 75, 21)); /* segment 3-4 */
  vt_canvas_free(&c);
  CHECK(vt_canvas_init(&c, 100, 40, 0xFFFFFF) == 0);
  double lone_x[3] = {NAN, 50, NAN}, lone_y[3] = {0, 20, 0};
  vt_canvas_polyline(&c, lone_x, lone_y, 3, 2, 0, 0x000000);
  count_ink(&c, 47, 17, 6, 6, &in, &out);
  CHECK(in > 4 && out == 0);
  vt_canvas_free(&c);

  /* PNG round trip: what libpng reads back is what was drawn */
  CHECK(vt_canvas_init(&c, 37, 23, 0x336699) == 0);
  vt_canvas_text(&c, 1, 1, "Ag", 1, 0xFF0000);
  vt_canvas_rect(&c, 30, 15, 100, 100, 0x00FF00);
  FILE *f = tmpfile();
  CHECK(f && vt_canvas_write_png(&c, f) == 0);
  rewind(f);
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  CHECK(png_image_begin_read_from_stdio(&img, f));
  CHECK(img.width == 37 && img.height == 23);
  img.format = PNG_FORMAT_RGB;
  uint8_t *back = malloc(PNG_IMAGE_SIZE(img));
  CHECK(png_image_finish_read(&img, NULL, back, 0, NULL));
  CHECK(memcmp(back, c.rgb, 37 * 23 * 3) == 0);
  free(back);
  fclose(f);
  vt_canvas_free(&c);
  CHECK(vt_canvas_init(&c, 0, 10, 0) == -1);

  /* colour map: white at 0, darker with every step, dark at 1 */
  CHECK(vt_heatmap_color(0) == 0xFFFFFF);
  CHECK(vt_heatmap_color(NAN) == 0xFFFFFF);
  for (int k = 1; k <= 100; k++) CHECK(luminance(vt_heatmap_color(k / 100.0)) < luminance(vt_heatmap_color((k - 1) / 100.0)));
  CHECK(luminance(vt_heatmap_color(1)) < 80);

  /* heatmap: sizes grow with the class count but stay sensible; the
   * diagonal of a diagonal-heavy matrix is darker than the rest */
  const char *names[50];
  long counts[50 * 50];
  for (int n = 1; n <= 50; n++) {
    for (int i = 0; i < n; i++) {
      names[i] = i % 3 ? "short" : "a class name that is much too long to print";
      for (int j = 0; j < n; j++) counts[i * n + j] = i == j ? 90 + i : (i + j) % 4 == 0;
    }
    vt_heatmap hm = {"Confusion", "predicted", "true", n, counts, names};
    vt_heatmap_geometry g;
    vt_heatmap_layout(&hm, &g);
    CHECK(g.cell >= 12 && g.width < 1400 && g.height < 1400);
    CHECK(g.x0 + n * g.cell < g.width && g.y0 + n * g.cell < g.height);
    if (n != 1 && n != 3 && n != 14 && n != 50) continue;
    CHECK(vt_plot_heatmap(&c, &hm) == 0);
    CHECK(c.w == g.width && c.h == g.height);
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) {
        const uint8_t *p = px(&c, g.x0 + j * g.cell + 2, g.y0 + i * g.cell + 2);
        double lum = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
        CHECK(i == j ? lum < 100 : lum > 200);
      }
    count_ink(&c, 0, 0, g.x0, c.h, &in, &out); /* row labels left of the matrix */
    CHECK(in > 50 * n);
    vt_canvas_free(&c);
  }
  vt_heatmap empty = {NULL, NULL, NULL, 0, counts, NULL};
  CHECK(vt_plot_heatmap(&c, &empty) == -1);

  /* line chart: 1 point and 300 points, with NaNs, draw the series colour
   * inside the panel and nothing outside it */
  for (int n = 1; n <= 300; n += 299) {
    double x[300], a[300], b[300];
    for (int i = 0; i < n; i++) x[i] = i + 1, a[i] = exp(-i / 30.0), b[i] = i % 7 ? 0.5 : NAN;
    vt_plot_series ser[2] = {{"train", a, 0x1F77B4}, {"validation", b, 0xE8710A}};
    vt_line_chart lc = {"Loss", "epoch", "loss", n, x, 2, ser, 0, NAN, 1, NAN, NULL};
    CHECK(vt_canvas_init(&c, 900, 400, 0xFFFFFF) == 0);
    vt_plot_line_chart(&c, 100, 50, 500, 300, &lc);
    long blue = 0, orange = 0;
    for (int j = 0; j < c.h; j++)
      for (int i = 0; i < c.w; i++) {
        const uint8_t *p = px(&c, i, j);
        blue += p[0] == 0x1F && p[1] == 0x77 && p[2] == 0xB4;
        orange += p[0] == 0xE8 && p[1] == 0x71 && p[2] == 0x0A;
      }
    CHECK(blue > 20 && orange > 20);
    count_ink(&c, 100, 50, 500, 300, &in, &out);
    CHECK(in > 1000 && out == 0);
    vt_canvas_free(&c);
  }

  if (failures) fprintf(stderr, "%d checks failed\n", failures);
  else printf("plot: all checks passed\n");
  return failures ? 1 : 0;
}
