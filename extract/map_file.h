/* map_file.h: uncompressed feature maps written once, straight to their
 * place in the finished store.
 *
 * OUT.partial/maps.h5 is the store-to-be: it is created (as maps.h5.tmp,
 * renamed when closed) with every /features/<tap> dataset at full size and
 * every chunk allocated but not written, so each row's chunk has a fixed
 * file offset from the start. Rows are then written with pwrite() at those
 * offsets: HDF5's own metadata is never touched while extracting, so a kill
 * at any moment leaves the file as valid as it was created. Assembly adds
 * the rest of the store to this file and renames it to OUT, instead of
 * copying every map from the parts (which wrote the maps twice).
 *
 * When every row is a whole number of 4096-byte blocks (block1..block4
 * maps at the default sizes: the file aligns its chunks to 4096 bytes) and
 * the file system allows it, rows are written with O_DIRECT: the kernel
 * then does not copy 3.2 MB per image into the page cache (at block1 that
 * copy cost as much CPU as the convolutions), and the data goes straight
 * from the caller's buffer, which must then be page-aligned, to the disk.
 *
 * Compressed maps (--compress) have no fixed chunk size: they still go
 * through the parts. */
#ifndef VT_MAP_FILE_H
#define VT_MAP_FILE_H

#include <hdf5.h>

#include "store_writer.h"

/* Whether maps of this layout are written in place (uncompressed, on a
 * little-endian host: the file's types are little-endian). */
int vt_map_file_applies(const vt_store_layout *lay);

/* Dataset creation properties and file type of /features/<tap>: one image
 * per chunk, NaN where nothing was written, optional shuffle + deflate. */
hid_t vt_map_dcpl(const vt_store_layout *lay, int t);
hid_t vt_map_file_type(const vt_store_layout *lay);
/* Writes /features/<tap>'s attributes: layer, and reduction ("avgK") for
 * maps stored reduced (--map-pool). */
int vt_map_attrs(hid_t d, const vt_store_layout *lay, int t);

typedef struct vt_map_file vt_map_file;

/* Its name inside OUT.partial/. */
#define VT_MAP_FILE_NAME "maps.h5"

/* Opens dir/VT_MAP_FILE_NAME for writing rows, creating it first if
 * absent. NULL with a reason naming the file on failure. */
vt_map_file *vt_map_file_open(const char *dir, const vt_store_layout *lay, long long n_rows);
/* Writes row `row` of tap t (NULL data: a failed row, written as NaN).
 * data must be 4096-byte aligned (vt_xpage_alloc). */
int vt_map_file_write(vt_map_file *m, int t, long long row, const void *data);
/* Puts the rows written so far on disk (a part that counts them as done is
 * about to be published). 0 or -1 + reason. */
int vt_map_file_sync(vt_map_file *m);
const char *vt_map_file_path(const vt_map_file *m);
void vt_map_file_close(vt_map_file *m);

/* Undoes an interrupted assembly of a map file: removes every object and
 * root attribute but /features. -1 if the file cannot be trusted (then its
 * maps must be redone). */
int vt_map_file_reset(const char *path);

#endif
