/* vt_net_options.c: the network options (vt_net_options.h). */
#include "net/vt_net_options.h"

#include <string.h>

#include "base/vt_cli.h"
#include "base/vt_common.h"

void vt_net_options_default(vt_net_options *n) {
  memset(n, 0, sizeof *n);
  vt_extract_config_default(&n->cfg);
}

/* If c is one of the network options, checks and applies value: 1, or -1 +
 * a reason naming the flag; 0 if c is another option. */
static int net_option(vt_net_options *n, int c, const char *value) {
  int rc;
  switch (c) {
    case VT_OPT_WEIGHTS: n->weights = value; return 1;
    case VT_OPT_THREADS: rc = vt_parse_int(value, 1, 1024, "--threads", &n->threads); break;
    case VT_OPT_SIZE:
      rc = vt_parse_size(value, "--size", &n->cfg.height, &n->cfg.width);
      n->size_given = 1;
      break;
    case VT_OPT_RESIZE:
      rc = vt_resize_policy_parse(value, &n->cfg.resize) == 0 ? 0
           : vt_fail("--resize: unknown policy '%s' (antialias, nearest or dct-antialias)", value);
      n->resize_given = 1;
      break;
    case VT_OPT_PREPROCESS:
      rc = vt_preprocess_parse(value, &n->cfg.preprocess) == 0 ? 0
           : vt_fail("--preprocess: unknown mode '%s' (caffe or torch)", value);
      n->preprocess_given = 1;
      break;
    default: return 0;
  }
  return rc < 0 ? -1 : 1;
}

int vt_net_args_next(const vt_program *p, int argc, char **argv, vt_net_options *n) {
  for (;;) {
    int c = vt_args_next(p, argc, argv), taken = c == -1 ? 0 : net_option(n, c, optarg);
    if (taken < 0) return VT_OPT_BAD;
    if (!taken) return c;
  }
}
