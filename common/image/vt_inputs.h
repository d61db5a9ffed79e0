/* vt_inputs.h: the list of images to process, with labels, in a
 * deterministic order (docs/STORE.md, "Row order"). */
#ifndef VT_INPUTS_H
#define VT_INPUTS_H

typedef struct {
  int n;          /* rows */
  char **path;    /* [n] path as recorded in the store (relative to root) */
  char **full;    /* [n] path to open */
  int *label;     /* [n] index into classes, -1 = unlabelled */
  char **split;   /* [n] manifest split column, "" if none */
  int n_classes;
  char **classes; /* [n_classes], sorted */
  const char *source; /* "folders", "manifest" or "files" */
  char *root;     /* data dir, manifest path, or "" for files */
  int n_ignored;  /* non-image files skipped while listing folders */
  int n_cycles;   /* symbolic links back to a folder being listed, not followed */
  int n_empty_classes;     /* folders: sub-folders holding no image file, not classes */
  char *first_empty_class; /* the first of them by name, or NULL */
  int n_root_images;       /* folders: image files in the data folder itself, ignored */
  int n_unreadable_entries;     /* folders: entries of the data folder stat() fails on */
  char *first_unreadable_entry; /* "name: reason" of the first, or NULL */
  int unused_columns;      /* manifest without a label column: its other columns, unused */
} vt_inputs;

/* One sub-folder per class (sorted names of the sub-folders holding image
 * files = labels); images found recursively inside each, sorted by relative
 * path. Files in the root are ignored (image files there are counted). */
int vt_inputs_from_folders(const char *dir, vt_inputs *in);
/* CSV with a header. label_col/split_col may be NULL: label defaults to the
 * column "label", else "class"; split to "split". Paths are relative to the
 * manifest's directory unless absolute. */
int vt_inputs_from_manifest(const char *csv, const char *label_col, const char *split_col,
                            vt_inputs *in);
/* Files in the order given; directories are expanded (recursively, sorted).
 * Unlabelled. */
int vt_inputs_from_files(int n, char *const *files, vt_inputs *in);
void vt_inputs_free(vt_inputs *in);

#endif
