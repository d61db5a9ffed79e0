/* vt_head_file.h: head.h5, a trained head with everything prediction needs
 * to reproduce its input: the tap, the pooling, the standardisation, the
 * class names and the store's preprocessing, resize policy, input size and
 * weights digest. Schema: docs/HEAD.md. */
#ifndef VT_HEAD_FILE_H
#define VT_HEAD_FILE_H

#include "store/vt_head_attrs.h"
#include "vt_convnet.h"
#include "vt_head.h"

typedef struct {
  vt_head head;
  float *mean, *std;  /* [head.dims[0]] standardisation */
  /* a conv head on the tap's maps (head = "conv"): conv instead of head,
   * mean and std (those stay empty) */
  int is_conv;
  vt_convnet conv;
  char *map_reduce;   /* how the stored maps were reduced from the tap's: "none", "avg2" or
                       * "avg4" (vggtap-extract --map-pool: k x k average pool) */
  char *mirror;       /* evaluation's average with the mirror image: "none", "stored" (the
                       * mirrored photo's maps), "flip" (the map mirrored) */
  int n_classes;
  char **classes;     /* [n_classes] */
  char *tap, *pooling; /* e.g. "block1_pool,block2_pool", "avg1,max4" (as trained) */
  /* the exact input: "block1_pool/avg1,block1_pool/max4,block2_pool/avg1,..."
   * (vt_recipe_parse); on reading a format_version 1 head, made from its tap
   * and '+'-joined pooling */
  char *features;
  char *preprocessing, *resize, *weights_sha256;
  char *precision; /* the store's: fp32 or bf16 (fp32 in heads made before it was recorded) */
  int input_height, input_width;
  /* provenance (written; on read, "" / 0 / NULL when absent) */
  char *store, *eval_store, *feature_source, *config, *command;
  /* "flip": trained with the mirror images (--augment flip), so predictions
   * average the probabilities of photo and mirror; "none" (also when absent) */
  char *augment;
  int best_epoch;
  int n_train, n_val, n_test;
  int *train_rows, *val_rows, *test_rows; /* store rows used for training / validation / the test
                                           * split (absent in heads before it: none) */
} vt_head_file;

/* Writing is two steps, so that a program can write its other outputs in
 * between and leave an existing head alone if any of them fails.
 * vt_head_file_stage writes the head complete into a temporary file beside
 * path (path.tmpPID, so the rename is atomic) and returns its malloc'd name,
 * or NULL + reason (nothing left behind). vt_head_file_commit renames it
 * over path and frees the name; 0 or -1 + reason (the staged file removed).
 * To give up instead: unlink and free the staged name. */
char *vt_head_file_stage(const char *path, const vt_head_file *hf);
int vt_head_file_commit(char *staged, const char *path);
/* Reads and validates a head file (shapes chain, finite values, class count). */
int vt_head_file_read(const char *path, vt_head_file *hf);
void vt_head_file_free(vt_head_file *hf);

/* "softmax" or "mlp". */
const char *vt_head_kind(const vt_head *h);
/* "softmax", "mlp" or "conv". */
const char *vt_head_file_kind(const vt_head_file *hf);

#endif
