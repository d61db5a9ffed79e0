/* vggtap-mosaic: a picture of what the network sees. Draws the resized input
 * image beside a grid of one tap's channels (each normalised to its own
 * min..max), as a PNG, from a store row that holds maps or from an image run
 * through the weights. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/vt_args.h"
#include "base/vt_cli.h"
#include "base/vt_common.h"
#include "net/vt_extract.h"
#include "net/vt_net_options.h"
#include "store/vt_h5.h"
#include "plot/vt_png_plot.h"
#include "store/vt_store_read.h"
#include "store/vt_store_schema.h"
#include "base/vt_text.h"
#include "net/vt_weights_find.h"

static const char usage[] =
    "usage: vggtap-mosaic --store STORE.h5 --row N --tap LAYER --out PNG [options]\n"
    "       vggtap-mosaic --image IMAGE --tap LAYER --out PNG [--weights FILE] [options]\n"
    "\n"
    "Draws the network's input (the image resized as the network saw it) beside a\n"
    "grid of the tap's channels, each scaled to its own min..max (black = min,\n"
    "white = max; all-constant channels are drawn dark red). Channels run left to\n"
    "right, top to bottom, channel 0 first, each numbered above its tile.\n"
    "\n"
    "From a store (needs maps: vggtap-extract --keep maps or maps,pooled):\n"
    "  --store FILE      the feature store\n"
    "  --row N           the row to draw (0-based; vggtap-info lists the rows' classes)\n"
    "  --image FILE      the input image, if it is no longer where the store says\n"
    "\n"
    "From an image (runs the VGG16 prefix up to the tap):\n"
    "  --image FILE      a JPEG or PNG\n"
    "  --weights FILE    Keras VGG16 weights (default: $VGGTAP_WEIGHTS, else the Keras cache\n"
    "                    ~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5,\n"
    "                    else, for taps up to block2_pool, the bundled data/weights file)\n"
    "  --size N|HxW, --resize POLICY, --preprocess MODE\n"
    "                    as vggtap-extract (defaults 224, antialias, caffe)\n"
    "\n"
    "Both:\n"
    "  --tap LAYER       e.g. block1_pool, block2_conv2\n"
    "  --out FILE        the PNG to write\n"
    "  --channels N      draw only the first N channels (default: all)\n"
    "  --scale S         pixels per map pixel (default: enough for ~112-pixel tiles)\n"
    "  --help, --version\n"
    "\n"
    "Exit status: 0 written, 1 error (row failed, no maps, unreadable image), 2 usage.\n";

enum { O_STORE = VT_OPT_NET_END, O_ROW, O_IMAGE, O_TAP, O_OUT, O_CHANNELS, O_SCALE };

static const struct option options_table[] = {
    {"store", required_argument, 0, O_STORE}, {"row", required_argument, 0, O_ROW},
    {"image", required_argument, 0, O_IMAGE}, {"tap", required_argument, 0, O_TAP},
    {"out", required_argument, 0, O_OUT}, {"channels", required_argument, 0, O_CHANNELS},
    {"scale", required_argument, 0, O_SCALE}, VT_NET_OPTIONS, VT_OPTIONS_HELP_VERSION, {0, 0, 0, 0}};

static const vt_program program = {"vggtap-mosaic", usage, options_table, NULL};

typedef struct {
  const char *store, *image, *tap, *out;
  vt_net_options net;       /* --weights, --size, --resize, --preprocess */
  long row, channels, scale;
} options;

/* What to draw: the input (RGB, network size) and the tap's map [h][w][c]. */
typedef struct {
  vt_image input; /* rgb NULL if the image could not be read */
  char input_note[256];
  float *map;
  int h, w, c;
  char title[512], footer[512];
} mosaic;

/* Loads path and resizes it to the network input as extraction did. */
static void load_input(const char *path, int H, int W, vt_resize_policy policy, mosaic *m) {
  if (vt_image_load_resized(path, 178956970, W, H, policy, &m->input, NULL) < 0) {
    snprintf(m->input_note, sizeof m->input_note, "input not shown: %s: %s", path, vt_failure_reason());
    m->input.rgb = NULL;
  }
}

static int from_store(const options *o, mosaic *m) {
  vt_store s;
  if (vt_store_open(o->store, &s) < 0) return -1;
  int rc = -1;
  vt_store_maps maps;
  int opened = 0;
  if (o->row >= s.n_rows) {
    vt_fail("%s: --row %ld is past the last row (%d rows)", o->store, o->row, s.n_rows);
    goto out;
  }
  int row = (int)o->row;
  if (!vt_store_has_tap(&s, o->tap)) {
    vt_fail("%s: no tap %s (it has %s)", o->store, o->tap, s.taps);
    goto out;
  }
  opened = vt_store_maps_open(&s, o->tap, &maps);
  if (opened < 0) goto out;
  if (opened == 0) {
    vt_fail("%s holds only pooled vectors for %s, not maps: extract with --keep maps,pooled, "
            "or draw from the image: vggtap-mosaic --image IMAGE --tap %s", o->store, o->tap, o->tap);
    goto out;
  }
  if (s.status[row] != VT_ROW_OK) {
    vt_fail("%s: row %d (%s) failed at extraction: %s", o->store, row, s.paths[row], s.errors[row]);
    goto out;
  }
  size_t len;
  if (vt_size_mul3((size_t)maps.h, (size_t)maps.w, (size_t)maps.c, &len) < 0) goto out;
  m->map = vt_xmalloc(len * sizeof *m->map);
  m->h = maps.h, m->w = maps.w, m->c = maps.c;
  if (vt_store_maps_read(&maps, row, m->map) < 0) goto out;
  vt_resize_policy policy = VT_RESIZE_ANTIALIAS;
  vt_resize_policy_parse(s.resize, &policy);
  char *path = o->image ? vt_xstrdup(o->image) : vt_store_image_path(&s, row);
  load_input(path, s.input_height, s.input_width, policy, m);
  free(path);
  const char *cls = s.labels[row] >= 0 && s.labels[row] < s.n_classes ? s.classes[s.labels[row]] : "unlabelled";
  snprintf(m->title, sizeof m->title, "%s  (row %d of %s, class %s)", s.paths[row], row, o->store, cls);
  snprintf(m->footer, sizeof m->footer, "weights sha256 %.16s...  %s  %s resize  %dx%d input  maps %s%s%s",
           s.weights_sha256, s.preprocessing, s.resize, s.input_height, s.input_width, s.map_dtype,
           maps.reduction[0] ? ", stored " : "", maps.reduction);
  rc = 0;
out:
  if (opened == 1) vt_store_maps_close(&maps);
  vt_store_close(&s);
  return rc;
}

static int from_image(const options *o, mosaic *m) {
  vt_extract_config cfg = o->net.cfg;
  if (vt_extract_parse_taps(&cfg, o->tap) < 0) return vt_fail_prefix("--tap");
  if (cfg.n_taps != 1) return vt_fail("--tap: give one layer");
  cfg.n_grids = 1;
  cfg.grids[0] = 1;
  if (vt_extract_config_check(&cfg) < 0) return -1;
  int n_conv = vt_extract_convs_needed(&cfg);
  const char *weights = vt_weights_find(o->net.weights, 0, n_conv);
  if (!weights) return -1;
  vt_weights w;
  if (vt_weights_load(weights, n_conv, &w) < 0) return vt_fail_prefix("--tap %s", o->tap);
  vt_extractor x;
  int rc = -1;
  if (vt_extractor_init(&x, &cfg, &w) < 0) {
    vt_weights_free(&w);
    return -1;
  }
  if (vt_extractor_run_file(&x, o->image) < 0) {
    vt_fail_prefix("%s", o->image);
    goto out;
  }
  int layer = cfg.taps[0];
  m->h = x.ws.oh[layer], m->w = x.ws.ow[layer], m->c = x.ws.oc[layer];
  size_t len = vt_extract_map_len(&x, 0);
  m->map = vt_xmalloc(len * sizeof *m->map);
  memcpy(m->map, x.ws.out[layer], len * sizeof *m->map);
  load_input(o->image, cfg.height, cfg.width, cfg.resize, m);
  snprintf(m->title, sizeof m->title, "%s", o->image);
  snprintf(m->footer, sizeof m->footer, "weights sha256 %.16s...  %s  %s resize  %dx%d input", w.sha256,
           vt_preprocess_name(cfg.preprocess), vt_resize_policy_name(cfg.resize), cfg.height, cfg.width);
  rc = 0;
out:
  vt_extractor_free(&x);
  vt_weights_free(&w);
  return rc;
}

/* ---- drawing ---- */

/* Layout (tests/test_mosaic.py checks pixels at these places): a title and
 * a subtitle (2 lines of 10 x TEXT_SCALE pixels) in the top MARGIN, then from
 * y = MARGIN + 2 lines + 8: the input at x = MARGIN, and the channel tiles
 * at x = 2 MARGIN + input width, each tile the map scaled by an integer
 * factor, GAP pixels apart, in a grid of `cols` = the smallest power of two
 * with cols^2 >= channels. Above each row of tiles, a band of LABEL pixels
 * holds their channel numbers, left-aligned over the tiles: every tile's
 * where the widest number fits in a tile and a gap, else every k-th
 * column's. The footer (provenance) is the last line. */
enum { MARGIN = 16, GAP = 2, TEXT_SCALE = 2, LABEL = VT_FONT_H };

/* Which columns get a channel number: every `every`-th. */
static int label_every(int n, int tile_w) {
  char widest[16];
  snprintf(widest, sizeof widest, "%d", n - 1);
  int need = vt_text_width(widest, 1) + GAP;
  return (need + tile_w + GAP - 1) / (tile_w + GAP);
}

/* The channels drawn: the first --channels of the tap's, else all. */
static int channels_shown(const options *o, const mosaic *m) {
  return o->channels > 0 && o->channels < m->c ? (int)o->channels : m->c;
}

static int draw(const options *o, mosaic *m, vt_canvas *cv) {
  int n = channels_shown(o, m);
  /* A grid about twice as wide as tall, in powers of two where they fit (64 -> 8x8, 128 -> 16x8). */
  int cols = 1;
  while (cols * cols < n) cols *= 2;
  int rows = (n + cols - 1) / cols;
  int big = m->h > m->w ? m->h : m->w;
  int scale = o->scale > 0 ? (int)o->scale : (big >= 112 ? 1 : (112 + big - 1) / big);
  int tw = m->w * scale, th = m->h * scale;
  int grid_w = cols * tw + (cols - 1) * GAP, grid_h = rows * (LABEL + th) + (rows - 1) * GAP;
  int in_w = m->input.rgb ? m->input.width : 224, in_h = m->input.rgb ? m->input.height : 224;
  int line = VT_FONT_H * TEXT_SCALE;
  int top = MARGIN + 2 * line + 8, left_w = in_w + MARGIN;
  int width = MARGIN + left_w + grid_w + MARGIN;
  int height = top + (grid_h > in_h ? grid_h : in_h) + MARGIN + line;
  int min_w = MARGIN * 2 + vt_text_width(m->footer, 1);
  if (width < min_w) width = min_w;
  long long px = (long long)width * height;
  if (px > 200LL * 1000 * 1000) return vt_fail("the mosaic would be %dx%d pixels; use --channels or --scale", width, height);
  if (vt_canvas_init(cv, width, height, 0xffffff) < 0) return -1;

  char sub[256];
  int dead = 0, every = label_every(n, tw);
  for (int ch = 0; ch < n; ch++) {
    float lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < m->h * m->w; i++) {
      float v = m->map[(size_t)i * m->c + ch];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    int x0 = MARGIN + left_w + (ch % cols) * (tw + GAP), y0 = top + (ch / cols) * (LABEL + th + GAP) + LABEL;
    if (ch % cols % every == 0) {
      char label[16];
      snprintf(label, sizeof label, "%d", ch);
      vt_canvas_text(cv, x0, y0 - LABEL + 1, label, 1, 0x333333);
    }
    if (!(hi > lo)) {
      dead++;
      vt_canvas_rect(cv, x0, y0, tw, th, 0x400000);
      continue;
    }
    for (int y = 0; y < th; y++)
      for (int x = 0; x < tw; x++) {
        float v = m->map[((size_t)(y / scale) * m->w + (size_t)(x / scale)) * m->c + ch];
        uint8_t g = (uint8_t)lrintf(255.0f * (v - lo) / (hi - lo));
        uint8_t *p = cv->rgb + 3 * ((size_t)(y0 + y) * cv->w + (size_t)(x0 + x));
        p[0] = p[1] = p[2] = g;
      }
  }
  if (m->input.rgb) {
    for (int y = 0; y < in_h; y++)
      memcpy(cv->rgb + 3 * ((size_t)(top + y) * cv->w + MARGIN), m->input.rgb + 3 * (size_t)y * in_w, 3 * (size_t)in_w);
  } else {
    vt_canvas_rect(cv, MARGIN, top, in_w, in_h, 0xdddddd);
    vt_canvas_text(cv, MARGIN + 4, top + 4, "input not found", 1, 0x000000);
  }
  vt_canvas_text(cv, MARGIN, MARGIN, m->title, TEXT_SCALE, 0x000000);
  snprintf(sub, sizeof sub, "%s: %dx%dx%d, %d of %d channels shown, each min..max normalised%s%d constant",
           o->tap, m->h, m->w, m->c, n, m->c, dead ? ", " : " (", dead);
  if (!dead) strcat(sub, ")");
  vt_canvas_text(cv, MARGIN, MARGIN + line, sub, TEXT_SCALE, 0x333333);
  vt_canvas_text(cv, MARGIN, height - MARGIN / 2 - VT_FONT_H, m->footer, 1, 0x555555);
  if (m->input_note[0]) vt_canvas_text(cv, MARGIN, height - MARGIN / 2 - 2 * VT_FONT_H, m->input_note, 1, 0x990000);
  return 0;
}

static int parse_options(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  vt_net_options_default(&o->net);
  o->row = -1;
  if (vt_args_start(&program, &argc, &argv) < 0) return -1;
  for (int c; (c = vt_net_args_next(&program, argc, argv, &o->net)) != -1;) {
    switch (c) {
      case O_STORE: o->store = optarg; break;
      case O_ROW:
        if (vt_parse_long(optarg, 0, 1L << 40, "--row", &o->row) < 0) return -1;
        break;
      case O_IMAGE: o->image = optarg; break;
      case O_TAP: o->tap = optarg; break;
      case O_OUT: o->out = optarg; break;
      case O_CHANNELS:
        if (vt_parse_long(optarg, 1, 1 << 20, "--channels", &o->channels) < 0) return -1;
        break;
      case O_SCALE:
        if (vt_parse_long(optarg, 1, 64, "--scale", &o->scale) < 0) return -1;
        break;
      default: return -1; /* VT_OPT_BAD: the reason is set */
    }
  }
  if (optind < argc) return vt_fail("unexpected argument '%s'", argv[optind]);
  if (!o->tap) return vt_fail("--tap LAYER is required");
  if (!o->out) return vt_fail("--out PNG is required");
  int net_given = o->net.weights || o->net.size_given || o->net.resize_given || o->net.preprocess_given;
  if (o->store) {
    if (o->row < 0) return vt_fail("--store needs --row N");
    if (net_given) return vt_fail("--store draws stored maps: --weights, --size, --resize, --preprocess do not apply");
  } else {
    if (!o->image) return vt_fail("give --store STORE --row N, or --image IMAGE");
    if (o->row >= 0) return vt_fail("--row goes with --store");
  }
  return 0;
}

static int write_png(FILE *f, const void *canvas) { return vt_canvas_write_png(canvas, f); }

int main(int argc, char **argv) {
  vt_h5_no_close_at_exit();
  options o;
  if (parse_options(argc, argv, &o) < 0) return vt_exit_usage(&program);
  vt_h5_quiet();
  mosaic m;
  memset(&m, 0, sizeof m);
  vt_canvas cv = {0};
  int rc = VT_EXIT_ERROR;
  if ((o.store ? from_store(&o, &m) : from_image(&o, &m)) < 0 || draw(&o, &m, &cv) < 0) goto out;
  /* Written beside and renamed: the PNG is whole or absent. */
  if (vt_write_file_atomic(o.out, write_png, &cv) == 0) {
    printf("vggtap-mosaic: wrote %s (%dx%d): %s, %d of %d channels of %dx%d\n", o.out, cv.w, cv.h, o.tap,
           channels_shown(&o, &m), m.c, m.h, m.w);
    rc = VT_EXIT_OK;
  }
out:
  if (rc != VT_EXIT_OK) vt_exit_error(&program);
  vt_canvas_free(&cv);
  free(m.map);
  free(m.input.rgb);
  return rc;
}
