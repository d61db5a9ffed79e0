/* vt_png_plot.c: see vt_png_plot.h. Everything is drawn in software into an
 * RGB buffer; antialiasing comes from a per-call coverage mask, so joints of a
 * polyline blend once and do not darken. */
#include "plot/vt_png_plot.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"

/* ---- font ---- */

/* 5x9 glyphs for ASCII 32..126: 7 rows above the baseline, 2 descender rows;
 * one byte per row, bit 4 is the leftmost column. Designed for this file. */
static const uint8_t font5x9[95][9] = {
    {0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00}, /*   */
    {0x04,0x04,0x04,0x04,0x04,0x00,0x04,0x00,0x00}, /* ! */
    {0x0a,0x0a,0x0a,0x00,0x00,0x00,0x00,0x00,0x00}, /* " */
    {0x0a,0x0a,0x1f,0x0a,0x1f,0x0a,0x0a,0x00,0x00}, /* # */
    {0x04,0x0f,0x14,0x0e,0x05,0x1e,0x04,0x00,0x00}, /* $ */
    {0x18,0x19,0x02,0x04,0x08,0x13,0x03,0x00,0x00}, /* % */
    {0x0c,0x12,0x14,0x08,0x15,0x12,0x0d,0x00,0x00}, /* & */
    {0x04,0x04,0x04,0x00,0x00,0x00,0x00,0x00,0x00}, /* ' */
    {0x02,0x04,0x08,0x08,0x08,0x04,0x02,0x00,0x00}, /* ( */
    {0x08,0x04,0x02,0x02,0x02,0x04,0x08,0x00,0x00}, /* ) */
    {0x00,0x04,0x15,0x0e,0x15,0x04,0x00,0x00,0x00}, /* * */
    {0x00,0x04,0x04,0x1f,0x04,0x04,0x00,0x00,0x00}, /* + */
    {0x00,0x00,0x00,0x00,0x00,0x06,0x06,0x02,0x04}, /* , */
    {0x00,0x00,0x00,0x1f,0x00,0x00,0x00,0x00,0x00}, /* - */
    {0x00,0x00,0x00,0x00,0x00,0x0c,0x0c,0x00,0x00}, /* . */
    {0x00,0x01,0x02,0x04,0x08,0x10,0x00,0x00,0x00}, /* / */
    {0x0e,0x11,0x13,0x15,0x19,0x11,0x0e,0x00,0x00}, /* 0 */
    {0x04,0x0c,0x04,0x04,0x04,0x04,0x0e,0x00,0x00}, /* 1 */
    {0x0e,0x11,0x01,0x02,0x04,0x08,0x1f,0x00,0x00}, /* 2 */
    {0x1f,0x02,0x04,0x02,0x01,0x11,0x0e,0x00,0x00}, /* 3 */
    {0x02,0x06,0x0a,0x12,0x1f,0x02,0x02,0x00,0x00}, /* 4 */
    {0x1f,0x10,0x1e,0x01,0x01,0x11,0x0e,0x00,0x00}, /* 5 */
    {0x06,0x08,0x10,0x1e,0x11,0x11,0x0e,0x00,0x00}, /* 6 */
    {0x1f,0x01,0x02,0x04,0x08,0x08,0x08,0x00,0x00}, /* 7 */
    {0x0e,0x11,0x11,0x0e,0x11,0x11,0x0e,0x00,0x00}, /* 8 */
    {0x0e,0x11,0x11,0x0f,0x01,0x02,0x0c,0x00,0x00}, /* 9 */
    {0x00,0x0c,0x0c,0x00,0x0c,0x0c,0x00,0x00,0x00}, /* : */
    {0x00,0x0c,0x0c,0x00,0x0c,0x0c,0x04,0x08,0x00}, /* ; */
    {0x02,0x04,0x08,0x10,0x08,0x04,0x02,0x00,0x00}, /* < */
    {0x00,0x00,0x1f,0x00,0x1f,0x00,0x00,0x00,0x00}, /* = */
    {0x08,0x04,0x02,0x01,0x02,0x04,0x08,0x00,0x00}, /* > */
    {0x0e,0x11,0x01,0x02,0x04,0x00,0x04,0x00,0x00}, /* ? */
    {0x0e,0x11,0x01,0x0d,0x15,0x15,0x0e,0x00,0x00}, /* @ */
    {0x0e,0x11,0x11,0x1f,0x11,0x11,0x11,0x00,0x00}, /* A */
    {0x1e,0x11,0x11,0x1e,0x11,0x11,0x1e,0x00,0x00}, /* B */
    {0x0e,0x11,0x10,0x10,0x10,0x11,0x0e,0x00,0x00}, /* C */
    {0x1c,0x12,0x11,0x11,0x11,0x12,0x1c,0x00,0x00}, /* D */
    {0x1f,0x10,0x10,0x1e,0x10,0x10,0x1f,0x00,0x00}, /* E */
    {0x1f,0x10,0x10,0x1e,0x10,0x10,0x10,0x00,0x00}, /* F */
    {0x0e,0x11,0x10,0x17,0x11,0x11,0x0f,0x00,0x00}, /* G */
    {0x11,0x11,0x11,0x1f,0x11,0x11,0x11,0x00,0x00}, /* H */
    {0x0e,0x04,0x04,0x04,0x04,0x04,0x0e,0x00,0x00}, /* I */
    {0x07,0x02,0x02,0x02,0x02,0x12,0x0c,0x00,0x00}, /* J */
    {0x11,0x12,0x14,0x18,0x14,0x12,0x11,0x00,0x00}, /* K */
    {0x10,0x10,0x10,0x10,0x10,0x10,0x1f,0x00,0x00}, /* L */
    {0x11,0x1b,0x15,0x15,0x11,0x11,0x11,0x00,0x00}, /* M */
    {0x11,0x11,0x19,0x15,0x13,0x11,0x11,0x00,0x00}, /* N */
    {0x0e,0x11,0x11,0x11,0x11,0x11,0x0e,0x00,0x00}, /* O */
    {0x1e,0x11,0x11,0x1e,0x10,0x10,0x10,0x00,0x00}, /* P */
    {0x0e,0x11,0x11,0x11,0x15,0x12,0x0d,0x00,0x00}, /* Q */
    {0x1e,0x11,0x11,0x1e,0x14,0x12,0x11,0x00,0x00}, /* R */
    {0x0f,0x10,0x10,0x0e,0x01,0x01,0x1e,0x00,0x00}, /* S */
    {0x1f,0x04,0x04,0x04,0x04,0x04,0x04,0x00,0x00}, /* T */
    {0x11,0x11,0x11,0x11,0x11,0x11,0x0e,0x00,0x00}, /* U */
    {0x11,0x11,0x11,0x11,0x11,0x0a,0x04,0x00,0x00}, /* V */
    {0x11,0x11,0x11,0x15,0x15,0x15,0x0a,0x00,0x00}, /* W */
    {0x11,0x11,0x0a,0x04,0x0a,0x11,0x11,0x00,0x00}, /* X */
    {0x11,0x11,0x0a,0x04,0x04,0x04,0x04,0x00,0x00}, /* Y */
    {0x1f,0x01,0x02,0x04,0x08,0x10,0x1f,0x00,0x00}, /* Z */
    {0x0e,0x08,0x08,0x08,0x08,0x08,0x0e,0x00,0x00}, /* [ */
    {0x00,0x10,0x08,0x04,0x02,0x01,0x00,0x00,0x00}, /* backslash */
    {0x0e,0x02,0x02,0x02,0x02,0x02,0x0e,0x00,0x00}, /* ] */
    {0x04,0x0a,0x11,0x00,0x00,0x00,0x00,0x00,0x00}, /* ^ */
    {0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x1f,0x00}, /* _ */
    {0x08,0x04,0x02,0x00,0x00,0x00,0x00,0x00,0x00}, /* ` */
    {0x00,0x00,0x0e,0x01,0x0f,0x11,0x0f,0x00,0x00}, /* a */
    {0x10,0x10,0x16,0x19,0x11,0x11,0x1e,0x00,0x00}, /* b */
    {0x00,0x00,0x0e,0x10,0x10,0x11,0x0e,0x00,0x00}, /* c */
    {0x01,0x01,0x0d,0x13,0x11,0x11,0x0f,0x00,0x00}, /* d */
    {0x00,0x00,0x0e,0x11,0x1f,0x10,0x0e,0x00,0x00}, /* e */
    {0x06,0x09,0x08,0x1c,0x08,0x08,0x08,0x00,0x00}, /* f */
    {0x00,0x00,0x0f,0x11,0x11,0x0f,0x01,0x11,0x0e}, /* g */
    {0x10,0x10,0x16,0x19,0x11,0x11,0x11,0x00,0x00}, /* h */
    {0x04,0x00,0x0c,0x04,0x04,0x04,0x0e,0x00,0x00}, /* i */
    {0x02,0x00,0x06,0x02,0x02,0x02,0x02,0x12,0x0c}, /* j */
    {0x10,0x10,0x12,0x14,0x18,0x14,0x12,0x00,0x00}, /* k */
    {0x0c,0x04,0x04,0x04,0x04,0x04,0x0e,0x00,0x00}, /* l */
    {0x00,0x00,0x1a,0x15,0x15,0x15,0x15,0x00,0x00}, /* m */
    {0x00,0x00,0x16,0x19,0x11,0x11,0x11,0x00,0x00}, /* n */
    {0x00,0x00,0x0e,0x11,0x11,0x11,0x0e,0x00,0x00}, /* o */
    {0x00,0x00,0x1e,0x11,0x11,0x1e,0x10,0x10,0x10}, /* p */
    {0x00,0x00,0x0f,0x11,0x11,0x0f,0x01,0x01,0x01}, /* q */
    {0x00,0x00,0x16,0x19,0x10,0x10,0x10,0x00,0x00}, /* r */
    {0x00,0x00,0x0f,0x10,0x0e,0x01,0x1e,0x00,0x00}, /* s */
    {0x08,0x08,0x1c,0x08,0x08,0x09,0x06,0x00,0x00}, /* t */
    {0x00,0x00,0x11,0x11,0x11,0x13,0x0d,0x00,0x00}, /* u */
    {0x00,0x00,0x11,0x11,0x11,0x0a,0x04,0x00,0x00}, /* v */
    {0x00,0x00,0x11,0x11,0x15,0x15,0x0a,0x00,0x00}, /* w */
    {0x00,0x00,0x11,0x0a,0x04,0x0a,0x11,0x00,0x00}, /* x */
    {0x00,0x00,0x11,0x11,0x11,0x0f,0x01,0x11,0x0e}, /* y */
    {0x00,0x00,0x1f,0x02,0x04,0x08,0x1f,0x00,0x00}, /* z */
    {0x02,0x04,0x04,0x08,0x04,0x04,0x02,0x00,0x00}, /* { */
    {0x04,0x04,0x04,0x04,0x04,0x04,0x04,0x00,0x00}, /* | */
    {0x08,0x04,0x04,0x02,0x04,0x04,0x08,0x00,0x00}, /* } */
    {0x00,0x00,0x08,0x15,0x02,0x00,0x00,0x00,0x00}, /* ~ */
};

static const uint8_t *glyph_at(const char **s) {
  unsigned char ch = (unsigned char)*(*s)++;
  if (ch >= 0x80) /* one '?' per UTF-8 sequence: skip its continuation bytes */
    while (((unsigned char)**s & 0xC0) == 0x80) (*s)++;
  if (ch < 32 || ch > 126) ch = '?';
  return font5x9[ch - 32];
}

int vt_text_width(const char *s, int scale) {
  int n = 0;
  while (*s) {
    glyph_at(&s);
    n++;
  }
  return n ? (n * VT_FONT_W - 1) * scale : 0;
}

/* Draws s with glyph pixel (u, v) (u along the text) mapped to the canvas by
 * up ? (x + v, y + width - 1 - u) : (x + u, y + v). */
static void draw_text(vt_canvas *c, int x, int y, const char *s, int scale, vt_color col, int up) {
  int width = vt_text_width(s, scale), u0 = 0;
  while (*s) {
    const uint8_t *g = glyph_at(&s);
    for (int row = 0; row < 9; row++)
      for (int bit = 0; bit < 5; bit++) {
        if (!(g[row] & (0x10 >> bit))) continue;
        int u = u0 + bit * scale, v = (row + 1) * scale; /* one blank row on top */
        if (up) vt_canvas_rect(c, x + v, y + width - u - scale, scale, scale, col);
        else vt_canvas_rect(c, x + u, y + v, scale, scale, col);
      }
    u0 += VT_FONT_W * scale;
  }
}

void vt_canvas_text(vt_canvas *c, int x, int y, const char *s, int scale, vt_color col) {
  draw_text(c, x, y, s, scale, col, 0);
}

void vt_canvas_text_up(vt_canvas *c, int x, int y, const char *s, int scale, vt_color col) {
  draw_text(c, x, y, s, scale, col, 1);
}

/* ---- canvas ---- */

int vt_canvas_init(vt_canvas *c, int w, int h, vt_color bg) {
  memset(c, 0, sizeof *c);
  size_t n;
  if (w <= 0 || h <= 0 || w > 20000 || h > 20000) return vt_fail("canvas size %dx%d", w, h);
  if (vt_size_mul3((size_t)w, (size_t)h, 3, &n) < 0) return -1;
  c->w = w;
  c->h = h;
  c->rgb = vt_xmalloc(n);
  vt_canvas_rect(c, 0, 0, w, h, bg);
  return 0;
}

void vt_canvas_free(vt_canvas *c) {
  free(c->rgb);
  memset(c, 0, sizeof *c);
}

void vt_canvas_rect(vt_canvas *c, int x, int y, int w, int h, vt_color col) {
  int x1 = x + w < c->w ? x + w : c->w, y1 = y + h < c->h ? y + h : c->h;
  if (x < 0) x = 0;
  if (y < 0) y = 0;
  for (int j = y; j < y1; j++)
    for (int i = x; i < x1; i++) {
      uint8_t *p = c->rgb + ((size_t)j * (size_t)c->w + (size_t)i) * 3;
      p[0] = (uint8_t)(col >> 16);
      p[1] = (uint8_t)(col >> 8);
      p[2] = (uint8_t)col;
    }
}

/* Raises cov to the coverage of a capsule of radius r around segment a-b:
 * 1 inside, falling linearly to 0 over one pixel at the edge. */
static void cover_segment(float *cov, int w, int h, double ax, double ay, double bx, double by,
                          double r) {
  int i0 = (int)floor(fmin(ax, bx) - r - 1), i1 = (int)ceil(fmax(ax, bx) + r + 1);
  int j0 = (int)floor(fmin(ay, by) - r - 1), j1 = (int)ceil(fmax(ay, by) + r + 1);
  if (i0 < 0) i0 = 0;
  if (j0 < 0) j0 = 0;
  if (i1 > w) i1 = w;
  if (j1 > h) j1 = h;
  double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
  for (int j = j0; j < j1; j++)
    for (int i = i0; i < i1; i++) {
      double px = i + 0.5 - ax, py = j + 0.5 - ay;
      double t = len2 > 0 ? (px * dx + py * dy) / len2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      double ex = px - t * dx, ey = py - t * dy;
      double a = r + 0.5 - sqrt(ex * ex + ey * ey);
      if (a <= 0) continue;
      float *p = &cov[(size_t)j * (size_t)w + (size_t)i];
      if (a > *p) *p = a > 1 ? 1.0f : (float)a;
    }
}

void vt_canvas_polyline(vt_canvas *c, const double *x, const double *y, int n, double width,
                        double dot_radius, vt_color col) {
  float *cov = vt_xcalloc((size_t)c->w * (size_t)c->h, sizeof(float));
  double r = width / 2;
  for (int i = 0; i < n; i++) {
    int ok = isfinite(x[i]) && isfinite(y[i]);
    int next = i + 1 < n && isfinite(x[i + 1]) && isfinite(y[i + 1]);
    int prev = i > 0 && isfinite(x[i - 1]) && isfinite(y[i - 1]);
    if (!ok) continue;
    if (next) cover_segment(cov, c->w, c->h, x[i], y[i], x[i + 1], y[i + 1], r);
    double dot = dot_radius > 0 ? dot_radius : (!next && !prev ? width : 0);
    if (dot > 0) cover_segment(cov, c->w, c->h, x[i], y[i], x[i], y[i], dot);
  }
  const double rgb[3] = {(col >> 16) & 255, (col >> 8) & 255, col & 255};
  for (size_t k = 0; k < (size_t)c->w * (size_t)c->h; k++) {
    if (cov[k] <= 0) continue;
    uint8_t *p = c->rgb + 3 * k;
    for (int ch = 0; ch < 3; ch++) p[ch] = (uint8_t)lround(p[ch] + cov[k] * (rgb[ch] - p[ch]));
  }
  free(cov);
}

int vt_canvas_write_png(const vt_canvas *c, FILE *f) {
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = (png_uint_32)c->w;
  img.height = (png_uint_32)c->h;
  img.format = PNG_FORMAT_RGB;
  if (!png_image_write_to_stdio(&img, f, 0, c->rgb, 0, NULL)) {
    vt_fail("libpng: %s", img.message);
    png_image_free(&img);
    return -1;
  }
  return 0;
}

/* ---- line chart ---- */

#define INK 0x222222u
#define AXIS 0x555555u
#define GRID 0xE4E4E4u
#define LEGEND_H 20
#define MARK 0x2CA02Cu
/* Offset from a text cell's top to the middle of its capitals (rows 1..7). */
#define CAP_MID(scale) (9 * (scale) / 2)

/* A round tick step near range/target: {1, 2, (2.5,) 5} x 10^k. */
static double nice_step(double range, int target, int allow_quarter) {
  double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
  double nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 && allow_quarter ? 2.5 : f <= 5 ? 5 : 10;
  return nf * mag;
}

/* Decimals needed to print multiples of step exactly. */
static int step_decimals(double step) {
  int d = 0;
  while (d < 8 && fabs(step * pow(10, d) - round(step * pow(10, d))) > 1e-6 * step * pow(10, d)) d++;
  return d;
}

typedef struct {
  double lo, hi, step;
  int decimals;
} axis_ticks;

static void tick_label(char *buf, size_t size, const axis_ticks *a, long k) {
  double v = (double)k * a->step;
  snprintf(buf, size, "%.*f", a->decimals, fabs(v) < 1e-12 ? 0.0 : v);
}

void vt_plot_line_chart(vt_canvas *c, int x, int y, int w, int h, const vt_line_chart *ch) {
  char buf[64];
  /* y range from the data, widened to round ticks, clipped to the limits */
  double ylo = INFINITY, yhi = -INFINITY;
  for (int s = 0; s < ch->n_series; s++)
    for (int i = 0; i < ch->n; i++)
      if (isfinite(ch->series[s].y[i])) {
        ylo = fmin(ylo, ch->series[s].y[i]);
        yhi = fmax(yhi, ch->series[s].y[i]);
      }
  if (!(ylo <= yhi)) ylo = 0, yhi = 1;
  if (yhi - ylo < 1e-9 * fmax(1, fabs(yhi))) {
    double pad = fmax(0.05 * fabs(ylo), 1e-3);
    ylo -= pad, yhi += pad;
  }
  axis_ticks ya = {.step = nice_step(yhi - ylo, 5, 1)};
  ya.lo = floor(ylo / ya.step) * ya.step;
  ya.hi = ceil(yhi / ya.step) * ya.step;
  if (isfinite(ch->y_lo) && ya.lo < ch->y_lo) ya.lo = ch->y_lo;
  if (isfinite(ch->y_hi) && ya.hi > ch->y_hi) ya.hi = ch->y_hi;
  if (ya.hi <= ya.lo) ya.hi = ya.lo + ya.step;
  ya.decimals = step_decimals(ya.step);

  double xlo = INFINITY, xhi = -INFINITY;
  for (int i = 0; i < ch->n; i++)
    if (isfinite(ch->x[i])) xlo = fmin(xlo, ch->x[i]), xhi = fmax(xhi, ch->x[i]);
  if (!(xlo <= xhi)) xlo = 0, xhi = 1;
  double xpad = xhi > xlo ? 0.03 * (xhi - xlo) : ch->integer_x ? 0.5 : fmax(0.05 * fabs(xlo), 1e-3);
  axis_ticks xa = {.lo = xlo - xpad, .hi = xhi + xpad};

  /* layout: title, rotated y label, y tick labels | plot | margin */
  int ylab_w = 0;
  for (long k = (long)ceil(ya.lo / ya.step - 1e-9); k * ya.step <= ya.hi + 1e-9 * ya.step; k++) {
    tick_label(buf, sizeof buf, &ya, k);
    int tw = vt_text_width(buf, 2);
    if (tw > ylab_w) ylab_w = tw;
  }
  int left = x + 14 + (ch->ylabel ? 2 * VT_FONT_H + 10 : 0) + ylab_w + 10;
  int right = x + w - 16, top = y + 14 + 2 * VT_FONT_H + 8 + (ch->n_series ? LEGEND_H + 10 : 8);
  int bottom = y + h - 14 - (ch->xlabel ? 2 * VT_FONT_H + 8 : 0) - 2 * VT_FONT_H - 10;
  if (right - left < 20 || bottom - top < 20) return; /* no room to plot anything */
  double pw = right - left, ph = bottom - top;
  /* about one x tick per 70 pixels */
  xa.step = nice_step(xa.hi - xa.lo, (int)fmax(2, pw / 70), !ch->integer_x);
  if (ch->integer_x && xa.step < 1) xa.step = 1;
  xa.decimals = step_decimals(xa.step);
#define PX(v) (left + ((v)-xa.lo) / (xa.hi - xa.lo) * pw)
#define PY(v) (bottom - (fmin(fmax((v), ya.lo), ya.hi) - ya.lo) / (ya.hi - ya.lo) * ph)

  if (ch->title)
    vt_canvas_text(c, x + (w - vt_text_width(ch->title, 2)) / 2, y + 14, ch->title, 2, INK);
  if (ch->ylabel)
    vt_canvas_text_up(c, x + 14, top + (bottom - top - vt_text_width(ch->ylabel, 2)) / 2,
                      ch->ylabel, 2, INK);
  if (ch->xlabel)
    vt_canvas_text(c, left + (right - left - vt_text_width(ch->xlabel, 2)) / 2,
                   y + h - 14 - 2 * VT_FONT_H, ch->xlabel, 2, INK);

  /* grid, ticks and tick labels */
  for (long k = (long)ceil(ya.lo / ya.step - 1e-9); k * ya.step <= ya.hi + 1e-9 * ya.step; k++) {
    int py = (int)floor(PY(k * ya.step));
    vt_canvas_rect(c, left, py, right - left, 1, GRID);
    vt_canvas_rect(c, left - 5, py, 5, 1, AXIS);
    tick_label(buf, sizeof buf, &ya, k);
    vt_canvas_text(c, left - 9 - vt_text_width(buf, 2), py - CAP_MID(2), buf, 2, INK);
  }
  int last_label_end = -1000;
  for (long k = (long)ceil(xa.lo / xa.step); k * xa.step <= xa.hi; k++) {
    int px = (int)floor(PX(k * xa.step));
    vt_canvas_rect(c, px, top, 1, bottom - top, GRID);
    vt_canvas_rect(c, px, bottom, 1, 5, AXIS);
    tick_label(buf, sizeof buf, &xa, k);
    int tw = vt_text_width(buf, 2);
    if (px - tw / 2 > last_label_end + 8) { /* skip labels that would collide */
      vt_canvas_text(c, px - tw / 2, bottom + 8, buf, 2, INK);
      last_label_end = px - tw / 2 + tw;
    }
  }
  vt_canvas_rect(c, left, top, 1, bottom - top + 1, AXIS);
  vt_canvas_rect(c, left, bottom, right - left + 1, 1, AXIS);
  vt_canvas_rect(c, right, top, 1, bottom - top + 1, AXIS);
  vt_canvas_rect(c, left, top, right - left + 1, 1, AXIS);

  /* the mark under the lines: dashes, its label at the top inside the plot */
  if (ch->mark_label && isfinite(ch->mark_x) && ch->mark_x >= xa.lo && ch->mark_x <= xa.hi) {
    int mx = (int)floor(PX(ch->mark_x));
    for (int yy = top + 1; yy < bottom; yy += 10) vt_canvas_rect(c, mx, yy, 2, yy + 6 < bottom ? 6 : bottom - yy, MARK);
    int tw = vt_text_width(ch->mark_label, 2);
    int tx = mx + 6 + tw <= right - 4 ? mx + 6 : mx - 6 - tw;
    vt_canvas_text(c, tx, top + 8, ch->mark_label, 2, MARK);
  }

  /* the lines, with dots at the points while there are few of them */
  double *px = vt_xmalloc((size_t)(ch->n ? ch->n : 1) * sizeof(double));
  double **py = vt_xcalloc((size_t)(ch->n_series ? ch->n_series : 1), sizeof(double *));
  for (int i = 0; i < ch->n; i++) px[i] = isfinite(ch->x[i]) ? PX(ch->x[i]) : NAN;
  for (int s = 0; s < ch->n_series; s++) {
    py[s] = vt_xmalloc((size_t)(ch->n ? ch->n : 1) * sizeof(double));
    for (int i = 0; i < ch->n; i++) py[s][i] = isfinite(ch->series[s].y[i]) ? PY(ch->series[s].y[i]) : NAN;
    double dots = pw / (ch->n ? ch->n : 1) >= 12 ? 3.5 : 0; /* few points: mark them */
    vt_canvas_polyline(c, px, py[s], ch->n, 2.5, dots, ch->series[s].color);
  }

  /* legend: one row between the title and the plot, where it hides no data */
  int legend_w = 0;
  for (int s = 0; s < ch->n_series; s++)
    legend_w += (s ? 24 : 0) + 40 + vt_text_width(ch->series[s].name ? ch->series[s].name : "", 2);
  int lx = left + ((int)pw - legend_w) / 2, ly = top - 10 - LEGEND_H / 2;
  for (int s = 0; s < ch->n_series; s++) {
    double sx[2] = {lx, lx + 30}, sy[2] = {ly, ly};
    vt_canvas_polyline(c, sx, sy, 2, 2.5, 0, ch->series[s].color);
    const char *name = ch->series[s].name ? ch->series[s].name : "";
    vt_canvas_text(c, lx + 40, ly - CAP_MID(2), name, 2, INK);
    lx += 40 + vt_text_width(name, 2) + 24;
  }
  for (int s = 0; s < ch->n_series; s++) free(py[s]);
  free(py);
  free(px);
#undef PX
#undef PY
}

/* ---- heatmap ---- */

#define LABEL_MAX_GLYPHS 24

/* "i name", cut to LABEL_MAX_GLYPHS glyphs with "..." */
static void heatmap_label(const vt_heatmap *hm, int i, char *buf, size_t size) {
  char full[256];
  if (hm->labels && hm->labels[i] && *hm->labels[i]) snprintf(full, sizeof full, "%d %s", i, hm->labels[i]);
  else snprintf(full, sizeof full, "%d", i);
  const char *s = full, *cut = full;
  int glyphs = 0;
  while (*s) {
    if (glyphs == LABEL_MAX_GLYPHS - 3) cut = s;
    glyph_at(&s);
    glyphs++;
  }
  if (glyphs <= LABEL_MAX_GLYPHS) snprintf(buf, size, "%s", full);
  else snprintf(buf, size, "%.*s...", (int)(cut - full), full);
}

static int label_width(const vt_heatmap *hm, int scale) {
  char buf[300];
  int w = 0;
  for (int i = 0; i < hm->n; i++) {
    heatmap_label(hm, i, buf, sizeof buf);
    int tw = vt_text_width(buf, scale);
    if (tw > w) w = tw;
  }
  return w;
}

/* Horizontal column labels when they fit in a cell, rotated otherwise. */
static int columns_flat(const vt_heatmap_geometry *g, int label_w) { return label_w <= g->cell - 6; }

#define BAR_GAP 24
#define BAR_W 18

void vt_heatmap_layout(const vt_heatmap *hm, vt_heatmap_geometry *g) {
  int n = hm->n > 0 ? hm->n : 1;
  g->cell = 600 / n < 12 ? 12 : 600 / n > 96 ? 96 : 600 / n;
  g->label_scale = g->cell >= 22 ? 2 : 1;
  int lw = label_width(hm, g->label_scale);
  int lh = VT_FONT_H * g->label_scale;
  g->x0 = 14 + (hm->ylabel ? 2 * VT_FONT_H + 12 : 0) + lw + 10;
  g->y0 = 16 + (hm->title ? 2 * VT_FONT_H + 18 : 0);
  int side = n * g->cell;
  int bar_labels = vt_text_width("100%", 2);
  g->width = g->x0 + side + BAR_GAP + BAR_W + 8 + bar_labels + 16;
  if (hm->title && vt_text_width(hm->title, 2) + 32 > g->width) g->width = vt_text_width(hm->title, 2) + 32;
  g->height = g->y0 + side + 8 + (columns_flat(g, lw) ? lh : lw) + 12 +
              (hm->xlabel ? 2 * VT_FONT_H + 8 : 0) + 8;
}

vt_color vt_heatmap_color(double t) {
  /* white through light blue to navy, evenly spaced stops */
  static const uint8_t stops[5][3] = {
      {255, 255, 255}, {200, 221, 240}, {110, 168, 214}, {36, 110, 180}, {10, 46, 104}};
  t = !(t > 0) ? 0 : t > 1 ? 1 : t;
  double f = t * 4;
  int k = f >= 4 ? 3 : (int)f;
  f -= k;
  vt_color col = 0;
  for (int ch = 0; ch < 3; ch++)
    col = col << 8 | (uint8_t)lround(stops[k][ch] + f * (stops[k + 1][ch] - stops[k][ch]));
  return col;
}

/* Relative luminance is low enough that white text reads better. */
static int is_dark(vt_color col) {
  return 0.299 * (col >> 16) + 0.587 * ((col >> 8) & 255) + 0.114 * (col & 255) < 140;
}

int vt_plot_heatmap(vt_canvas *c, const vt_heatmap *hm) {
  if (hm->n <= 0) return vt_fail("heatmap of %d classes", hm->n);
  vt_heatmap_geometry g;
  vt_heatmap_layout(hm, &g);
  if (vt_canvas_init(c, g.width, g.height, 0xFFFFFFu) < 0) return -1;
  int n = hm->n, cell = g.cell, side = n * cell, ls = g.label_scale;
  char buf[300];

  if (hm->title) vt_canvas_text(c, (g.width - vt_text_width(hm->title, 2)) / 2, 16, hm->title, 2, INK);
  for (int i = 0; i < n; i++) {
    long row = 0;
    for (int j = 0; j < n; j++) row += hm->counts[(size_t)i * n + j];
    for (int j = 0; j < n; j++) {
      long v = hm->counts[(size_t)i * n + j];
      double share = row > 0 ? (double)v / (double)row : 0;
      vt_color col = vt_heatmap_color(share);
      int cx = g.x0 + j * cell, cy = g.y0 + i * cell;
      vt_canvas_rect(c, cx, cy, cell, cell, col);
      snprintf(buf, sizeof buf, "%ld", v);
      for (int s = 2; s >= 1; s--) { /* the largest count font that fits */
        int tw = vt_text_width(buf, s);
        if (tw > cell - 6 || 7 * s > cell - 6) continue;
        vt_color ink = v == 0 ? 0xB0B0B0u : is_dark(col) ? 0xFFFFFFu : INK;
        vt_canvas_text(c, cx + (cell - tw + 1) / 2, cy + cell / 2 - CAP_MID(s), buf, s, ink);
        break;
      }
    }
  }
  if (cell >= 16) /* thin white grid separates equal-coloured neighbours */
    for (int i = 1; i < n; i++) {
      vt_canvas_rect(c, g.x0 + i * cell, g.y0, 1, side, 0xFFFFFFu);
      vt_canvas_rect(c, g.x0, g.y0 + i * cell, side, 1, 0xFFFFFFu);
    }
  vt_canvas_rect(c, g.x0 - 1, g.y0 - 1, side + 2, 1, AXIS);
  vt_canvas_rect(c, g.x0 - 1, g.y0 + side, side + 2, 1, AXIS);
  vt_canvas_rect(c, g.x0 - 1, g.y0 - 1, 1, side + 2, AXIS);
  vt_canvas_rect(c, g.x0 + side, g.y0 - 1, 1, side + 2, AXIS);

  /* class labels: rows right-aligned on the left, columns below */
  int lw = label_width(hm, ls), flat = columns_flat(&g, lw);
  for (int i = 0; i < n; i++) {
    heatmap_label(hm, i, buf, sizeof buf);
    int tw = vt_text_width(buf, ls), mid = g.y0 + i * cell + cell / 2;
    vt_canvas_text(c, g.x0 - 8 - tw, mid - CAP_MID(ls), buf, ls, INK);
    int colx = g.x0 + i * cell + cell / 2;
    if (flat) vt_canvas_text(c, colx - tw / 2, g.y0 + side + 8, buf, ls, INK);
    else vt_canvas_text_up(c, colx - CAP_MID(ls), g.y0 + side + 8, buf, ls, INK);
  }
  if (hm->ylabel)
    vt_canvas_text_up(c, 14, g.y0 + (side - vt_text_width(hm->ylabel, 2)) / 2, hm->ylabel, 2, INK);
  if (hm->xlabel)
    vt_canvas_text(c, g.x0 + (side - vt_text_width(hm->xlabel, 2)) / 2,
                   g.y0 + side + 8 + (flat ? VT_FONT_H * ls : lw) + 12, hm->xlabel, 2, INK);

  /* colour bar: share of the true class, 100% at the top */
  int bx = g.x0 + side + BAR_GAP, bh = side;
  for (int k = 0; k < bh; k++)
    vt_canvas_rect(c, bx, g.y0 + k, BAR_W, 1, vt_heatmap_color(1 - (k + 0.5) / bh));
  vt_canvas_rect(c, bx - 1, g.y0 - 1, BAR_W + 2, 1, AXIS);
  vt_canvas_rect(c, bx - 1, g.y0 + bh, BAR_W + 2, 1, AXIS);
  vt_canvas_rect(c, bx - 1, g.y0 - 1, 1, bh + 2, AXIS);
  vt_canvas_rect(c, bx + BAR_W, g.y0 - 1, 1, bh + 2, AXIS);
  int nt = bh >= 200 ? 4 : bh >= 80 ? 2 : 1;
  for (int k = 0; k <= nt; k++) {
    int ty = g.y0 + (int)lround((double)bh * k / nt);
    snprintf(buf, sizeof buf, "%d%%", 100 - 100 * k / nt);
    vt_canvas_rect(c, bx + BAR_W, ty, 4, 1, AXIS);
    vt_canvas_text(c, bx + BAR_W + 8, ty - CAP_MID(2), buf, 2, INK);
  }
  return 0;
}
