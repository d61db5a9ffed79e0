/* predict_options.h: vggtap-predict's command line (its --help text, its
 * options and their checks), shared with `vggtap-config check`, which reads
 * a config's [predict] section through it before any work starts. */
#ifndef VT_PREDICT_OPTIONS_H
#define VT_PREDICT_OPTIONS_H

#include "base/vt_args.h"
#include "net/vt_net_options.h"

extern const vt_program vt_predict_program;

typedef struct {
  const char *head, *store, *list, *out;
  int json;           /* --format json (else csv) */
  int top, strict;
  vt_net_options net; /* --weights, --threads; --size, --resize and --preprocess only
                       * where given, to be compared with the head's */
  int n_inputs;       /* the operands: images and folders (set by the program) */
  char **inputs;
} vt_predict_options;

/* Reads the options of argv (after vt_args_start; optind is then at the
 * first operand): every value is checked, nothing is read from disk. 0, or
 * -1 + a reason naming the flag. */
int vt_predict_options_parse(int argc, char **argv, vt_predict_options *o);

#endif
