/* train_options.h: vggtap-train's command line (its --help text, its
 * options and their checks), shared with `vggtap-config check`, which reads
 * a config's [train] section through it before any work starts. */
#ifndef VT_TRAIN_OPTIONS_H
#define VT_TRAIN_OPTIONS_H

#include "base/vt_args.h"
#include "vt_features.h"
#include "vt_head.h"
#include "vt_trainer.h"

extern const vt_program vt_train_program;

typedef struct {
  const char *store, *tap, *pool, *out, *eval, *report, *log, *hidden, *split, *features;
  const char *class_weight;
  const char *head;    /* auto (softmax, or mlp with --hidden), softmax, mlp, conv */
  const char *conv;    /* --conv widths, e.g. "64,64" or "1x1:32,64" (conv head; NULL: default) */
  /* --augment: auto (decided once the store is open: none for softmax and
   * MLP heads; conv heads flip when the store has mirrors), none, flip (the
   * store's mirror images: extra training rows, or for a conv head each
   * example's photo or mirror at random; mirror-averaged evaluation) or
   * mapflip (mirrored maps: conv heads only) */
  const char *augment;
  int is_conv, threads; /* threads: the conv head's team (0: every core) */
  int batch_given, smoothing_given, dropout_given;
  double cache_mb;     /* conv head: cache budget, < 0: half the available memory */
  double val_fraction, test_fraction; /* test_fraction < 0: auto */
  int quiet, lr_given, optimizer_given, epochs_given, patience_given, wd_given, wd_auto;
  int schedule_given;
  vt_train_config tc;
  /* parsed from the text above */
  vt_pooling pooling;
  int n_taps; /* 0: no --tap (the store's only tap is taken) */
  char taps[VT_RECIPE_MAX_TAPS][VT_TAP_NAME_MAX];
  int n_hidden, hidden_widths[VT_HEAD_MAX_LAYERS];
  vt_feature_source source;
} vt_train_options;

/* Reads the options of argv (after vt_args_start; optind is then at the
 * first operand) and sets the defaults that depend on the head: every value
 * is checked (taps, poolings, widths, numbers), nothing is read from disk.
 * 0, or -1 + a reason naming the flag. */
int vt_train_options_parse(int argc, char **argv, vt_train_options *o);

#endif
