/* predict_options.c: vggtap-predict's command line (predict_options.h). */
#include "predict_options.h"

#include <stdio.h>
#include <string.h>

#include "base/vt_cli.h"
#include "base/vt_common.h"

static const char usage[] =
    "usage: vggtap-predict --weights FILE --head HEAD.h5 [options] IMAGE|DIR...\n"
    "       vggtap-predict --head HEAD.h5 --store STORE.h5 [options]\n"
    "\n"
    "Prints the top-k classes of each image with their probabilities. Runs the\n"
    "Keras VGG16 prefix only up to the head's deepest tap, pools and concatenates\n"
    "the taps as the head was trained (its recipe, e.g. block1_pool/avg1,block2_pool/max4),\n"
    "standardises with the head's statistics and applies the head. A conv head\n"
    "(vggtap-train --head conv) takes the tap's map instead, reduced as its store's\n"
    "were, and averages with the mirror image's when it was trained so. With --store,\n"
    "predicts every row of an existing feature store without re-extracting.\n"
    "\n"
    "Input:\n"
    "  IMAGE|DIR...          images (JPEG, PNG) and folders of images (recursive, sorted)\n"
    "  --list FILE           also read image paths from FILE, one per line\n"
    "  --store FILE          predict the rows of this feature store instead\n"
    "\n"
    "Model:\n"
    "  --head FILE           head file written by vggtap-train (required)\n"
    "  --weights FILE        Keras VGG16 weights .h5 (default: $VGGTAP_WEIGHTS, else the Keras\n"
    "                        cache ~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5,\n"
    "                        else, for taps up to block2_pool, the bundled data/weights file);\n"
    "                        must be the file the head's store was extracted with (same sha256)\n"
    "  --size N|HxW, --resize POLICY, --preprocess MODE\n"
    "                        optional: if given, must equal what the head was trained\n"
    "                        with (it records them); a mismatch is refused\n"
    "  --precision P         fp32 or bf16 (default: the head's, i.e. its store's; images only).\n"
    "                        bf16 needs a CPU with AMX or AVX512_BF16. The other precision than\n"
    "                        the head's is allowed, with a note: its features differ by ~1%\n"
    "                        (e.g. --precision fp32 for a bf16 head on a CPU without bf16)\n"
    "  (a head trained with --augment flip averages each image's probabilities with its\n"
    "  mirror image's: the prefix runs twice per image; a --store must hold the mirror\n"
    "  images, vggtap-extract --augment flip)\n"
    "\n"
    "Output:\n"
    "  --top K               classes per image (default 5, at most the head's classes)\n"
    "  --format F            csv (default) or json\n"
    "  --out FILE            write there (atomically) instead of standard output\n"
    "  --strict              exit 3 if any image failed, or any --store row failed extraction\n"
    "                        (default: only if all did)\n"
    "  --threads N           images predicted in parallel (default: all cores)\n"
    "  --config FILE         options from the [predict] section (and `weights` in [vggtap])\n"
    "                        of an INI file (docs/CONFIG.md); flags given here win\n"
    "  --help, --version     --version also names the kernel path in use\n"
    "\n"
    VT_NET_HELP_KERNELS
    "\n"
    "CSV columns: path, [true_class (--store),] class_1, probability_1, ...,\n"
    "class_K, probability_K, error (empty unless the image could not be read).\n"
    "\n"
    "Exit status: 0 success, 1 error (bad head, weights, store or a mismatch),\n"
    "2 usage, 3 images failed (all of them, or any with --strict; with --store, rows whose\n"
    "extraction failed).\n";

enum { O_HEAD = VT_OPT_NET_END, O_STORE, O_LIST, O_TOP, O_FORMAT, O_OUT, O_STRICT };

static const struct option options[] = {
    {"head", required_argument, 0, O_HEAD}, {"store", required_argument, 0, O_STORE},
    {"list", required_argument, 0, O_LIST}, {"top", required_argument, 0, O_TOP},
    {"format", required_argument, 0, O_FORMAT}, {"out", required_argument, 0, O_OUT},
    {"strict", no_argument, 0, O_STRICT}, VT_NET_OPTIONS, VT_NET_OPTION_THREADS,
    VT_NET_OPTION_PRECISION, VT_OPTIONS_HELP_VERSION, {0, 0, 0, 0}};

const vt_program vt_predict_program = {"vggtap-predict", usage, options, "predict"};

/* One option's value into o: 0, or -1 + reason. */
static int parse_option(vt_predict_options *o, int c, const char *arg) {
  switch (c) {
    case O_HEAD: o->head = arg; return 0;
    case O_STORE: o->store = arg; return 0;
    case O_LIST: o->list = arg; return 0;
    case O_OUT: o->out = arg; return 0;
    case O_STRICT: o->strict = 1; return 0;
    case O_TOP: return vt_parse_int(arg, 1, 100000, "--top", &o->top);
    case O_FORMAT: return vt_parse_choice(arg, "--format", (const char *const[]){"csv", "json", NULL}, &o->json);
    default: return -1; /* VT_OPT_BAD: the reason is set */
  }
}

int vt_predict_options_parse(int argc, char **argv, vt_predict_options *o) {
  memset(o, 0, sizeof *o);
  vt_net_options_default(&o->net);
  o->top = 5;
  for (int c; (c = vt_net_args_next(&vt_predict_program, argc, argv, &o->net)) != -1;)
    if (parse_option(o, c, optarg) < 0) return -1;
  return 0;
}
