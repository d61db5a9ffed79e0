/* vt_h5.h: small checked helpers over the HDF5 C API (attributes, string
 * datasets, the IEEE half type) used by the store and head writers. */
#ifndef VT_H5_H
#define VT_H5_H

#include <hdf5.h>

/* Turns off HDF5's own error-stack printing on this thread (vggtap reports
 * errors itself) and starts recording the OS error behind failing calls. */
void vt_h5_quiet(void);
/* Every program calls this first in main, before any other HDF5 call: HDF5
 * then leaves open files alone at exit. After a failed H5Fclose (a full
 * disk, or corrupt metadata in a file being read) the file stays half-open
 * in the library, and HDF5 1.10's exit-time close of it crashes or loops
 * ("infinite loop closing library"). vggtap closes every file it writes
 * itself, and a written file whose close failed is a temporary one that is
 * deleted. */
void vt_h5_no_close_at_exit(void);
/* The OS reason (strerror, e.g. "No space left on device") behind the last
 * failing HDF5 call after vt_h5_quiet, or `otherwise` if it had none. */
const char *vt_h5_os_error(const char *otherwise);

/* A variable-length UTF-8 string type (H5Tclose it). */
hid_t vt_h5_str_type(void);
/* IEEE 754 binary16, little-endian, as h5py's <f2 (H5Tclose it). */
hid_t vt_h5_half_type(void);

int vt_h5_write_str_attr(hid_t obj, const char *name, const char *value);
int vt_h5_write_int_attr(hid_t obj, const char *name, long long value);
/* Returns a malloc'd string, or NULL + reason if missing or not a string. */
char *vt_h5_read_str_attr(hid_t obj, const char *name);
/* A malloc'd copy of a string read from a file, with every byte that is not
 * UTF-8 escaped as \xHH: what vggtap writes is always UTF-8, so only a damaged
 * or foreign file gets here, and its strings must not reach a terminal, a CSV
 * or a JSON file as raw bytes. */
char *vt_h5_utf8_dup(const char *s);
int vt_h5_read_int_attr(hid_t obj, const char *name, long long *value);

/* 1-D vlen string dataset of n strings. */
int vt_h5_write_strings(hid_t loc, const char *name, const char *const *s, size_t n);
/* 1-D dataset of n values of a native type. */
int vt_h5_write_1d(hid_t loc, const char *name, hid_t type, const void *data, size_t n);
/* Creates intermediate groups for "a/b/c" (the last component is not created). */
hid_t vt_h5_lcpl(void);

#endif
