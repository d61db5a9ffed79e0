/* extract_options.c: vggtap-extract's command line (extract_options.h). */
#include "extract_options.h"

#include <string.h>

#include "shard.h"
#include "base/vt_cli.h"
#include "base/vt_common.h"

static const char usage[] =
    "usage: vggtap-extract --weights FILE (--data DIR | --manifest CSV | --files IMAGE|DIR...)\n"
    "                      --tap LAYER[,LAYER...] --out STORE.h5 [options]\n"
    "\n"
    "Runs the frozen Keras VGG16 prefix once over every image and stores the\n"
    "activations at the tapped layers in an HDF5 feature store (docs/STORE.md).\n"
    "\n"
    "Input (one of):\n"
    "  --data DIR            one sub-folder per class; labels = sorted folder names\n"
    "  --manifest CSV        CSV with a header: path,label[,split] (paths relative to the CSV)\n"
    "  --label-column NAME   manifest column holding the label (default: label, else class)\n"
    "  --split-column NAME   manifest column holding the split (default: split, if present)\n"
    "  --files               the remaining arguments are images or folders (unlabelled)\n"
    "\n"
    "Network:\n"
    "  --weights FILE        Keras VGG16 weights .h5 (default: $VGGTAP_WEIGHTS, else the Keras\n"
    "                        cache ~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5,\n"
    "                        else, for taps up to block2_pool, the bundled data/weights file);\n"
    "                        a file holding only the first layers works for taps inside them\n"
    "  --tap LIST            layers to store, e.g. block1_pool,block2_pool (default block1_pool);\n"
    "                        any of block1_conv1 .. block5_conv3, block1_pool .. block5_pool.\n"
    "                        The network runs only as deep as the deepest tap.\n"
    "  --size N|HxW          network input size (default 224)\n"
    "  --resize POLICY       antialias (default: PIL-style antialiased bilinear), nearest\n"
    "                        (what Keras load_img does by default), or dct-antialias: JPEGs\n"
    "                        at least twice the input size are shrunk 2/4/8x while decoding\n"
    "                        (libjpeg DCT scaling, as PIL's draft), then antialias; faster\n"
    "  --preprocess MODE     caffe (default; Keras VGG16: BGR minus [103.939,116.779,123.68])\n"
    "                        or torch (RGB /255, ImageNet mean/std)\n"
    "  --max-pixels N        refuse images larger than N pixels (default 178956970)\n"
    "\n"
    "Store:\n"
    "  --out STORE.h5        the feature store to write (resumed if a run was interrupted)\n"
    "  --keep WHAT           what the store keeps of each tap: pooled (default), maps, or\n"
    "                        maps,pooled. At block1_pool pooled vectors are 11 KB per image\n"
    "                        (default grids), float32 maps 3.2 MB (12.8 MB at block1_conv1/2)\n"
    "  --grids LIST          pooling grids for pooled vectors: average and max over a GxG\n"
    "                        grid each (default 1,2,4: GAP/GMP, 2x2 and 4x4, those that fit\n"
    "                        every tap's map)\n"
    "  --map-dtype T         float32 (default) or float16 for stored maps\n"
    "  --map-pool P          none (default) or avg2 / avg4: store each map k x k averaged\n"
    "                        (a trailing odd row/column dropped), e.g. block2_pool 56x56x128\n"
    "                        -> 28x28x128, 200 KB per image as float16: maps for a conv head.\n"
    "                        Pooled vectors are still computed from the full maps\n"
    "  --augment A           none (default) or flip: also run the prefix on the left-right\n"
    "                        mirror image of every photo and store its maps and pooled\n"
    "                        vectors under /mirror/ (for training with mirrored rows).\n"
    "                        Costs about twice the extraction time\n"
    "  --compress L          shuffle + deflate level 1-9 for maps (default 0: none)\n"
    "  --overwrite           replace an existing or partial store made with other settings\n"
    "\n"
    "Run:\n"
    "  --config FILE         take options from the [extract] section (and `weights` in\n"
    "                        [vggtap]) of an INI file (docs/CONFIG.md); flags given here win\n"
    "  --threads N           worker threads, one image each (default: all cores)\n"
    "  --shard I/N           extract only shard I of N (0 <= I < N): a fixed contiguous block\n"
    "                        of the rows; vggtap-merge joins the N shard stores into one\n"
    "                        (docs/SCALING.md)\n"
    "  --strict              exit 3 if any image failed (default: only if all failed)\n"
    "  --quiet               no progress output: only failures and the final summary\n"
    "                        when rows failed\n"
    "  --help, --version     --version also names the kernel path in use\n"
    "\n"
    VT_NET_HELP_KERNELS
    "\n"
    "Bad images (truncated, corrupt, unsupported, too large) become failed rows with\n"
    "the reason in /images/error; the run goes on and ends with a summary.\n"
    "Interrupting (Ctrl-C, SIGTERM, or even kill -9) loses at most the last 30 s of\n"
    "work: run the same command again to continue. One extractor per store: a second\n"
    "one on the same --out is refused while the first runs.\n"
    "\n"
    "Exit status: 0 store complete; 1 error (nothing lost: bad weights, store made with\n"
    "other settings, another extractor on the store, a full disk or other I/O error);\n"
    "2 bad usage; 3 store complete but every image failed (or any, with --strict);\n"
    "130 stopped by Ctrl-C or SIGTERM (run again to resume). docs/RELIABILITY.md.\n";

enum { O_DATA = VT_OPT_NET_END, O_MANIFEST, O_FILES, O_TAP, O_OUT, O_KEEP, O_STORE_RENAMED, O_GRIDS,
       O_MAP_DTYPE, O_MAP_POOL, O_AUGMENT, O_COMPRESS, O_MAX_PIXELS, O_OVERWRITE, O_STRICT, O_QUIET, O_LABEL_COLUMN,
       O_SPLIT_COLUMN, O_SHARD };

static const struct option options[] = {
    VT_NET_OPTIONS, VT_NET_OPTION_THREADS,
    {"data", required_argument, 0, O_DATA}, {"manifest", required_argument, 0, O_MANIFEST},
    {"files", no_argument, 0, O_FILES}, {"tap", required_argument, 0, O_TAP},
    {"out", required_argument, 0, O_OUT}, {"keep", required_argument, 0, O_KEEP},
    {"store", required_argument, 0, O_STORE_RENAMED},
    {"grids", required_argument, 0, O_GRIDS},
    {"map-dtype", required_argument, 0, O_MAP_DTYPE}, {"map-pool", required_argument, 0, O_MAP_POOL},
    {"augment", required_argument, 0, O_AUGMENT}, {"compress", required_argument, 0, O_COMPRESS},
    {"max-pixels", required_argument, 0, O_MAX_PIXELS}, {"overwrite", no_argument, 0, O_OVERWRITE},
    {"strict", no_argument, 0, O_STRICT}, {"quiet", no_argument, 0, O_QUIET},
    {"label-column", required_argument, 0, O_LABEL_COLUMN},
    {"split-column", required_argument, 0, O_SPLIT_COLUMN}, {"shard", required_argument, 0, O_SHARD},
    VT_OPTIONS_HELP_VERSION, {0, 0, 0, 0}};

const vt_program vt_extract_program = {"vggtap-extract", usage, options, "extract"};

/* --keep: a comma-separated list of pooled and maps. */
static int parse_keep(const char *s, vt_extract_options *o) {
  o->keep_maps = o->keep_pooled = 0;
  for (const char *p = s;; p++) {
    size_t n = strcspn(p, ",");
    if (n == 6 && !strncmp(p, "pooled", 6)) o->keep_pooled = 1;
    else if (n == 4 && !strncmp(p, "maps", 4)) o->keep_maps = 1;
    else return vt_fail("--keep: '%s' is not pooled, maps or maps,pooled", s);
    p += n;
    if (!*p) return 0;
  }
}

/* One option's value into o: 0, or -1 + reason. */
static int parse_option(vt_extract_options *o, int c, const char *arg) {
  long v;
  switch (c) {
    case O_DATA: o->data = arg; return 0;
    case O_MANIFEST: o->manifest = arg; return 0;
    case O_FILES: o->files = 1; return 0;
    case O_TAP: o->taps = arg; return 0;
    case O_GRIDS: o->grids = arg; return 0;
    case O_OUT: o->out = arg; return 0;
    case O_LABEL_COLUMN: o->label_col = arg; return 0;
    case O_SPLIT_COLUMN: o->split_col = arg; return 0;
    case O_OVERWRITE: o->overwrite = 1; return 0;
    case O_STRICT: o->strict = 1; return 0;
    case O_QUIET: o->quiet = 1; return 0;
    case O_KEEP: return parse_keep(arg, o);
    case O_COMPRESS: return vt_parse_int(arg, 0, 9, "--compress", &o->compress);
    case O_MAP_DTYPE:
      return vt_parse_choice(arg, "--map-dtype", (const char *const[]){"float32", "float16", NULL}, &o->map_half);
    case O_MAP_POOL: {
      int i;
      if (vt_parse_choice(arg, "--map-pool", (const char *const[]){"none", "avg2", "avg4", NULL}, &i) < 0) return -1;
      o->map_pool = 1 << i;
      return 0;
    }
    case O_AUGMENT:
      return vt_parse_choice(arg, "--augment", (const char *const[]){"none", "flip", NULL}, &o->mirror);
    case O_MAX_PIXELS:
      if (vt_parse_long(arg, 1, 1L << 40, "--max-pixels", &v) < 0) return -1;
      o->net.cfg.max_pixels = (size_t)v;
      return 0;
    case O_SHARD:
      if (vt_shard_parse(arg, &o->shard_index, &o->shard_count) < 0) return vt_fail_prefix("--shard");
      return 0;
    case O_STORE_RENAMED: /* --keep's old name, which read like --store FILE */
      return vt_fail("--store is now --keep (what the store keeps: pooled, maps or maps,pooled); "
                     "--out names the store file");
    default: return -1; /* VT_OPT_BAD: the reason is set */
  }
}

int vt_extract_options_parse(int argc, char **argv, vt_extract_options *o) {
  memset(o, 0, sizeof *o);
  vt_net_options_default(&o->net);
  o->keep_pooled = 1;
  o->map_pool = 1;
  o->taps = "block1_pool";
  for (int c; (c = vt_net_args_next(&vt_extract_program, argc, argv, &o->net)) != -1;)
    if (parse_option(o, c, optarg) < 0) return -1;
  vt_extract_config *cfg = &o->net.cfg;
  if (vt_extract_parse_taps(cfg, o->taps) < 0) return vt_fail_prefix("--tap");
  if (o->grids && vt_extract_parse_grids(cfg, o->grids) < 0) return vt_fail_prefix("--grids");
  if (!o->grids) vt_extract_fit_grids(cfg);
  if (vt_extract_config_check(cfg) < 0) return -1;
  if (o->map_pool > 1 && !o->keep_maps)
    return vt_fail("--map-pool avg%d reduces stored maps: give --keep maps (or maps,pooled) too", o->map_pool);
  for (int t = 0; t < cfg->n_taps && o->map_pool > 1; t++) {
    int h, w, c;
    vt_vgg16_layer_shape(cfg->taps[t], cfg->height, cfg->width, &h, &w, &c);
    if (h < o->map_pool || w < o->map_pool)
      return vt_fail("--map-pool avg%d: the %dx%d map of %s is smaller than %dx%d", o->map_pool, h, w,
                     vt_vgg16_layers[cfg->taps[t]].name, o->map_pool, o->map_pool);
  }
  return 0;
}
