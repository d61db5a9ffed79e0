/* vt_convnet_train.h: training and prediction of the conv head
 * (vt_convnet.h) on maps from a vt_map_source: seeded epochs of shuffled
 * mini-batches, AdamW or SGD (vt_optim.h) with a learning-rate schedule,
 * label smoothing, class weights, mirror augmentation, early stopping on
 * the validation loss (keeping the best epoch's weights and batch norm
 * statistics) and the per-epoch log of report.h. The same seed gives
 * bitwise the same head whatever the number of threads. */
#ifndef VT_CONVNET_TRAIN_H
#define VT_CONVNET_TRAIN_H

#include "vt_convnet.h"
#include "vt_map_source.h"
#include "vt_trainer.h"

/* Mirror images: none; the stored maps of the mirrored photos (the source's
 * has_mirror); or the maps themselves mirrored in memory (cheaper, and not
 * the same: a conv of a mirrored photo is not the mirrored conv). */
typedef enum { VT_MIRROR_NONE, VT_MIRROR_STORED, VT_MIRROR_FLIP } vt_mirror_mode;
int vt_mirror_mode_parse(const char *name, vt_mirror_mode *out);
const char *vt_mirror_mode_name(vt_mirror_mode m);

typedef struct {
  /* epochs, batch_size, patience, seed, lr, schedule, lr_step_epochs, optim,
   * label_smoothing, balanced_class_weights, verbose (its dropout is unused:
   * the net's config has it) */
  vt_train_config t;
  int threads;
  vt_mirror_mode augment; /* each training example: the photo's map or its mirror's, at random */
  vt_mirror_mode eval;    /* validation: probabilities of photo and mirror averaged */
} vt_convnet_train_config;

/* Issue 24's recipe: 40 epochs of batch 32, AdamW (lr 1e-3, weight decay
 * 1e-2 on every parameter, as PyTorch's AdamW(model.parameters())), label
 * smoothing 0.1, no early stopping (patience 0), one thread, no mirrors. */
void vt_convnet_train_config_default(vt_convnet_train_config *c);

/* Labelled rows of a source. */
typedef struct {
  const int *rows; /* [n] source rows */
  const int *y;    /* [n] labels */
  int n;
} vt_rowset;

/* Initialises net (already shaped) from the seed and trains it on train,
 * validating on val each epoch when val->n > 0 (early stopping when
 * patience > 0). 0, or -1 + reason (a read failed, the loss diverged). */
int vt_convnet_train(vt_convnet *net, vt_map_source *src, const vt_rowset *train,
                     const vt_rowset *val, const vt_convnet_train_config *c, vt_train_result *res);

/* Class probabilities probs [n][classes] of source rows rows[0..n) in
 * evaluation mode, averaged with those of the mirror images (mirror not
 * VT_MIRROR_NONE), computed in batches of `batch` on `threads` threads.
 * 0, or -1 + reason. */
int vt_convnet_predict_rows(const vt_convnet *net, vt_map_source *src, const int *rows, int n,
                            vt_mirror_mode mirror, int batch, int threads, float *probs);

#endif
