/* vt_vds.h: HDF5 virtual datasets in a merged store (vggtap-merge,
 * docs/SCALING.md).
 *
 * A merged store maps the rows of its /features and /pooled datasets into
 * the shard files, named by their path relative to the merged file's own
 * directory (HDF5 1.10+ looks there first), so the merged file and its
 * shards can move together and be opened from any working directory. HDF5
 * reads a missing source as fill values without any error, so readers check
 * the sources first. */
#ifndef VT_VDS_H
#define VT_VDS_H

#include <hdf5.h>

/* The path of `target` relative to the directory `base_dir` (both must exist;
 * symbolic links are resolved). malloc'd, or NULL + reason. */
char *vt_relative_path(const char *target, const char *base_dir);

/* For every virtual dataset in the store at `path` (open as `file`): each
 * source file exists beside it (relative names resolve against the store's
 * directory, never the working directory), opens, is still the shard that
 * was merged (same image list and first row, same extraction settings as
 * the store's attributes), and holds the source dataset with the mapped
 * shape. 0, or -1 + a reason naming the dataset, the source file and its
 * rows. Sets *n_virtual to the number of virtual datasets (may be NULL). */
int vt_vds_check_sources(hid_t file, const char *path, int *n_virtual);

#endif
