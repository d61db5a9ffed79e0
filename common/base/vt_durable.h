/* vt_durable.h: publishing a finished file so that it survives a power cut
 * or an operating-system crash. rename() alone is atomic only while the
 * system runs: the file's data and the new directory entry may still be in
 * the page cache, and a crash can then leave the name pointing at an empty
 * or torn file. So the data goes to disk first, then the rename, then the
 * directory that holds the new name. */
#ifndef VT_DURABLE_H
#define VT_DURABLE_H

/* fsync(tmp), rename(tmp, path), fsync(path's directory). 0, or -1 + reason:
 * before the rename, tmp is left for the caller to remove; after it (the
 * directory could not be synced), path is the new file. A file system that
 * cannot sync (EINVAL) is not an error. */
int vt_rename_durable(const char *tmp, const char *path);

#endif
