/* vt_map_source.h: where the conv head's training reads its maps from: an
 * abstract source of rows [h][w][c] (float32 out), optionally with the map
 * of each row's mirrored photo, and two implementations: arrays in memory
 * (tests, tools) and a feature store's /features/<tap> maps (read row by
 * row, or cached in memory as stored when they fit a budget). */
#ifndef VT_MAP_SOURCE_H
#define VT_MAP_SOURCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct vt_map_source vt_map_source;
struct vt_map_source {
  int n_rows, h, w, c;
  int has_mirror; /* read() can give the mirrored photo's maps */
  int thread_safe; /* read() may run on several threads at once (into different out) */
  /* Fills out [n][h][w][c] with the maps of rows[0..n) (any order, repeats
   * allowed); mirror (NULL: none) [n]: 1 to read the mirrored photo's map of
   * that row instead. 0, or -1 + reason naming the file and row. */
  int (*read)(vt_map_source *s, const int *rows, const uint8_t *mirror, int n, float *out);
  void (*close)(vt_map_source *s);
  void *ctx;
};

void vt_map_source_close(vt_map_source *s);

/* Maps already in memory: maps [n_rows][h][w][c], mirrors the same shape or
 * NULL; neither is copied (they must outlive the source). Thread-safe. */
void vt_map_source_memory(vt_map_source *s, const float *maps, const float *mirrors, int n_rows,
                          int h, int w, int c);

/* The maps of `tap` in the store at path (/features/<tap>, float16 or
 * float32), and, with want_mirror, those of the mirrored photos in the same
 * store (/mirror/features/<tap>, vggtap-extract --augment flip: same rows).
 * When the maps (both) take at most cache_bytes as stored, they are read
 * once into memory (float16 stays float16) and *cached is set to 1;
 * otherwise every read() goes to the file, one row at a time, in memory
 * bounded by one row (then not thread-safe: HDF5 is not; cached, it is).
 * Non-finite values are refused naming the row (rows whose extraction
 * failed hold NaN: leave them out). A store without the maps is refused
 * saying how to extract them. 0, or -1 + reason. */
int vt_map_source_store(vt_map_source *s, const char *path, const char *tap, int want_mirror,
                        size_t cache_bytes, int *cached);

/* n float16 values (as stored) to float32: the fast branch-free conversion
 * the store source uses, equal to vt_half_to_float on every value. */
void vt_halves_to_floats(const uint16_t *in, size_t n, float *out);

#endif
