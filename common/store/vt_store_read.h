/* vt_store_read.h: reads a vggtap feature store (docs/STORE.md).
 *
 * vt_store_open validates the format attributes and loads the per-row index
 * (path, label, split, status, error) and the classes; features are read on
 * demand: pooled vectors in blocks of rows, full maps one row at a time, so a
 * 75 GB store of block1 maps is read in a few MB of memory. Every failure says
 * which file, and which dataset or row, is wrong. */
#ifndef VT_STORE_READ_H
#define VT_STORE_READ_H

#include <hdf5.h>
#include <stdint.h>

typedef struct {
  char *path;
  hid_t file;
  int n_rows, n_classes;
  char **classes; /* [n_classes] */
  char **paths;   /* [n_rows] */
  int32_t *labels; /* [n_rows], -1 = unlabelled */
  char **splits;  /* [n_rows], "" if none */
  uint8_t *status; /* [n_rows], VT_ROW_OK or VT_ROW_FAILED */
  char **errors;  /* [n_rows], "" for ok rows */
  /* root attributes */
  int format_version;
  int input_height, input_width;
  char *tool_version, *weights_sha256, *taps, *preprocessing, *resize, *map_dtype, *grids,
      *source, *data_root, *command;
} vt_store;

/* Opens and validates a store; returns 0 or -1 + a reason that names the file
 * ("not an HDF5 file", "not a vggtap store", "format_version 2 is newer ...",
 * "/images/label has 9 rows, /images/path 10", ...). */
int vt_store_open(const char *path, vt_store *s);
/* The failure for a store path that cannot be opened (err: the errno):
 * the OS reason, or, when only PATH.partial/ exists, that its extraction is
 * unfinished and how to complete it. Returns -1. */
int vt_store_fail_unopenable(const char *path, int err);
/* OUT.partial (malloc'd): the folder where vggtap-extract keeps a store's
 * work until OUT is assembled. */
char *vt_store_partial_dir(const char *out);
void vt_store_close(vt_store *s);

/* The photo a row came from, as a path to open (malloc'd): the stored path
 * under the data folder, or the manifest's folder (docs/STORE.md), with a
 * name stored as \xHH escapes put back into bytes when only that exists. */
char *vt_store_image_path(const vt_store *s, int row);

/* 1 if tap is listed in the store's `taps` attribute, else 0. */
int vt_store_has_tap(const vt_store *s, const char *tap);

/* 1 if the store holds the features of every photo's mirror image
 * (vggtap-extract --augment flip: root attribute augment = flip), else 0. */
int vt_store_has_mirror(const vt_store *s);

/* Pooled dataset /pooled/<tap>/<name> (name like "avg1", "max2").
 * Returns 1 and its width (g*g*c) in *dim if present, 0 if absent, -1 + reason
 * if present but malformed. */
int vt_store_pooled_dim(const vt_store *s, const char *tap, const char *name, int *dim);
/* Reads rows [row0, row0 + n) of it into out [n][dim] (float32). */
int vt_store_pooled_read(const vt_store *s, const char *tap, const char *name, int row0, int n,
                         int dim, float *out);
/* The same for the datasets of a group of the store: "" (the photos, as
 * above) or "mirror/" (/mirror/pooled/<tap>/<name>: their mirror images). */
int vt_store_pooled_dim_in(const vt_store *s, const char *group, const char *tap, const char *name,
                           int *dim);
int vt_store_pooled_read_in(const vt_store *s, const char *group, const char *tap, const char *name,
                            int row0, int n, int dim, float *out);

/* Streaming access to the full maps /features/<tap> [N][h][w][c] (float32 or
 * float16 in the file, float32 out). */
typedef struct {
  hid_t dset, fspace, mspace;
  int n, h, w, c; /* rows, map shape */
  char reduction[16]; /* "avgK" for maps stored k x k averaged (--map-pool), "" for full maps */
} vt_store_maps;

/* Returns 1 (opened) if the store holds maps for tap, 0 if not, -1 + reason if
 * they are malformed. */
int vt_store_maps_open(const vt_store *s, const char *tap, vt_store_maps *m);
/* The same for /<group>features/<tap> (group "" or "mirror/"). */
int vt_store_maps_open_in(const vt_store *s, const char *group, const char *tap, vt_store_maps *m);
/* Reads one row into out [h][w][c]. */
int vt_store_maps_read(vt_store_maps *m, int row, float *out);
void vt_store_maps_close(vt_store_maps *m);

/* HDF5 helpers shared with the head file reader (attributes: see vt_h5.h).
 * A 1-D string dataset (variable or fixed length) -> *out [*n], each string
 * malloc'ed; 0 or -1 + reason naming the dataset. */
int vt_read_string_dataset(hid_t loc, const char *path, int *n, char ***out);
void vt_free_strings(char **s, int n);
/* 1 if the link path (e.g. "pooled/block1_pool/avg1") exists, else 0. */
int vt_link_exists(hid_t loc, const char *path);

#endif
