/* vt_png_plot.h: a tiny plotting library for the training report. An RGB
 * canvas with antialiased lines, filled rectangles and text in a built-in 5x7
 * bitmap font (ASCII 32..126, 6x10 cell with descenders), written as PNG with
 * libpng. On top of it: a line chart (learning curves) and a heatmap
 * (confusion matrices). */
#ifndef VT_PNG_PLOT_H
#define VT_PNG_PLOT_H

#include <stdint.h>
#include <stdio.h>

typedef uint32_t vt_color; /* 0xRRGGBB */

typedef struct {
  int w, h;
  uint8_t *rgb; /* [h][w][3] */
} vt_canvas;

/* Allocates a w x h canvas filled with bg. Returns 0, or -1 + reason for a
 * size that is not positive or too large. */
int vt_canvas_init(vt_canvas *c, int w, int h, vt_color bg);
void vt_canvas_free(vt_canvas *c);
/* Filled rectangle, clipped to the canvas. */
void vt_canvas_rect(vt_canvas *c, int x, int y, int w, int h, vt_color col);
/* Antialiased polyline through (x[i], y[i]) in pixel coordinates (pixel
 * centres at +0.5). A NaN coordinate breaks the line; a point without a
 * finite neighbour is drawn as a dot. dot_radius > 0 marks every point. */
void vt_canvas_polyline(vt_canvas *c, const double *x, const double *y, int n, double width,
                        double dot_radius, vt_color col);

/* Text. (x, y) is the top-left of the first character cell; a cell is
 * VT_FONT_W x VT_FONT_H pixels times scale, the glyph's cap height 7 x scale.
 * Bytes outside ASCII 32..126 draw as '?' (one per UTF-8 sequence). */
#define VT_FONT_W 6
#define VT_FONT_H 10
/* Width in pixels of s drawn at scale (no spacing after the last glyph). */
int vt_text_width(const char *s, int scale);
void vt_canvas_text(vt_canvas *c, int x, int y, const char *s, int scale, vt_color col);
/* The same rotated 90 degrees counter-clockwise (reads bottom to top); (x, y)
 * is the top-left of its VT_FONT_H*scale x vt_text_width() bounding box. */
void vt_canvas_text_up(vt_canvas *c, int x, int y, const char *s, int scale, vt_color col);

/* Writes the canvas as an 8-bit RGB PNG. Returns 0 or -1 + reason. */
int vt_canvas_write_png(const vt_canvas *c, FILE *f);

/* Line chart: n points at x[i] (ascending), one line per series; NaN values
 * are skipped. The y range comes from the data, widened to round ticks and
 * then clipped to [y_lo, y_hi] where those are finite. integer_x puts x ticks
 * on whole numbers only (epochs). Draws into the rectangle (x, y, w, h). */
typedef struct {
  const char *name;
  const double *y; /* [n] */
  vt_color color;
} vt_plot_series;

typedef struct {
  const char *title, *xlabel, *ylabel;
  int n;
  const double *x;
  int n_series;
  const vt_plot_series *series;
  double y_lo, y_hi;
  int integer_x;
  /* a dashed vertical line at x = mark_x, labelled mark_label, when
   * mark_label is not NULL (the kept epoch of a training run) */
  double mark_x;
  const char *mark_label;
} vt_line_chart;

void vt_plot_line_chart(vt_canvas *c, int x, int y, int w, int h, const vt_line_chart *chart);

/* Heatmap of an n x n count matrix (row = true, column = predicted): colour is
 * the count's share of its row, counts are written in the cells when they
 * fit, labels[i] names row and column i. Cell size and margins follow from n
 * and the labels (vt_heatmap_layout), so the canvas is sized by the plot. */
typedef struct {
  const char *title, *xlabel, *ylabel;
  int n;
  const long *counts;         /* [n][n] */
  const char *const *labels;  /* [n] */
} vt_heatmap;

typedef struct {
  int width, height;     /* canvas size */
  int x0, y0, cell;      /* top-left of the matrix and cell size in pixels */
  int label_scale;       /* font scale of the class labels */
} vt_heatmap_geometry;

void vt_heatmap_layout(const vt_heatmap *hm, vt_heatmap_geometry *g);
/* Initialises c (free with vt_canvas_free) and draws the heatmap. Returns 0 or -1 + reason. */
int vt_plot_heatmap(vt_canvas *c, const vt_heatmap *hm);
/* Colour of row share t in [0, 1]: white to dark blue. */
vt_color vt_heatmap_color(double t);

#endif
