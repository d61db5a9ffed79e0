#include "store/vt_h5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "base/vt_text.h"

/* errno behind the last failing HDF5 call on this thread (0: none). HDF5's
 * file drivers put it in the error description ("..., errno = 28, error
 * message = 'No space left on device', ..."); nothing else exposes it. */
static _Thread_local int last_os_errno;

static herr_t find_errno(unsigned n, const H5E_error2_t *e, void *found) {
  (void)n;
  const char *at = e->desc ? strstr(e->desc, "errno = ") : NULL;
  if (at && sscanf(at, "errno = %d", (int *)found) == 1) return 1; /* stop walking */
  return 0;
}

/* The automatic error handler: instead of printing the stack, remember the
 * OS error, if any, for vt_h5_os_error. */
static herr_t record_os_error(hid_t stack, void *data) {
  (void)data;
  int found = 0;
  H5Ewalk2(stack, H5E_WALK_UPWARD, find_errno, &found);
  last_os_errno = found;
  return 0;
}

void vt_h5_quiet(void) {
  last_os_errno = 0;
  H5Eset_auto2(H5E_DEFAULT, record_os_error, NULL);
}

static int write_error(const char *kind, const char *name) {
  return vt_fail("cannot write %s %s: %s", kind, name, vt_h5_os_error("HDF5 error"));
}

void vt_h5_no_close_at_exit(void) { H5dont_atexit(); }

const char *vt_h5_os_error(const char *otherwise) {
  return last_os_errno ? strerror(last_os_errno) : otherwise;
}

hid_t vt_h5_str_type(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

hid_t vt_h5_half_type(void) {
  hid_t t = H5Tcopy(H5T_IEEE_F32LE);
  /* sign bit 15, exponent bits 10..14, mantissa bits 0..9, bias 15 */
  H5Tset_fields(t, 15, 10, 5, 0, 10);
  H5Tset_size(t, 2);
  H5Tset_ebias(t, 15);
  H5Tset_precision(t, 16);
  return t;
}

int vt_h5_write_str_attr(hid_t obj, const char *name, const char *value) {
  char *escaped = vt_utf8_escaped(value); /* the type says UTF-8: file names may not be */
  if (escaped) value = escaped;
  hid_t t = vt_h5_str_type(), sp = H5Screate(H5S_SCALAR);
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  int rc = (a < 0 || H5Awrite(a, t, &value) < 0) ? write_error("attribute", name) : 0;
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
  free(escaped);
  return rc;
}

int vt_h5_write_int_attr(hid_t obj, const char *name, long long value) {
  hid_t sp = H5Screate(H5S_SCALAR);
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  hid_t type = (value >= INT32_MIN && value <= INT32_MAX) ? H5T_STD_I32LE : H5T_STD_I64LE;
  hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
  int rc = (a < 0 || H5Awrite(a, H5T_NATIVE_LLONG, &value) < 0)
               ? write_error("attribute", name) : 0;
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  return rc;
}

/* 1 if the attribute holds exactly one value (scalar, or an array of one):
 * reading an array into a single value's buffer would overflow it. */
static int holds_one_value(hid_t a) {
  hid_t sp = H5Aget_space(a);
  hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
  if (sp >= 0) H5Sclose(sp);
  return n == 1;
}

char *vt_h5_utf8_dup(const char *s) {
  char *escaped = vt_utf8_escaped(s);
  return escaped ? escaped : vt_xstrdup(s);
}

char *vt_h5_read_str_attr(hid_t obj, const char *name) {
  if (H5Aexists(obj, name) <= 0) {
    vt_fail("attribute '%s' is missing", name);
    return NULL;
  }
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t ft = H5Aget_type(a);
  char *out = NULL;
  if (H5Tget_class(ft) != H5T_STRING) {
    vt_fail("attribute '%s' is not a string", name);
  } else if (!holds_one_value(a)) {
    vt_fail("attribute '%s' is not a single string", name);
  } else if (H5Tis_variable_str(ft) > 0) {
    hid_t mt = vt_h5_str_type();
    char *s = NULL;
    if (H5Aread(a, mt, &s) >= 0 && s) {
      out = vt_h5_utf8_dup(s);
      H5free_memory(s);
    } else {
      vt_fail("cannot read attribute '%s'", name);
    }
    H5Tclose(mt);
  } else {
    size_t n = H5Tget_size(ft);
    out = vt_xcalloc(n + 1, 1);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, n + 1);
    if (H5Aread(a, mt, out) < 0) {
      free(out);
      out = NULL;
      vt_fail("cannot read attribute '%s'", name);
    } else {
      char *escaped = vt_utf8_escaped(out);
      if (escaped) free(out), out = escaped;
    }
    H5Tclose(mt);
  }
  H5Tclose(ft);
  H5Aclose(a);
  return out;
}

int vt_h5_read_int_attr(hid_t obj, const char *name, long long *value) {
  if (H5Aexists(obj, name) <= 0) return vt_fail("attribute '%s' is missing", name);
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t ft = H5Aget_type(a);
  int rc = 0;
  if (H5Tget_class(ft) != H5T_INTEGER || !holds_one_value(a) || H5Aread(a, H5T_NATIVE_LLONG, value) < 0)
    rc = vt_fail("attribute '%s' is not an integer", name);
  H5Tclose(ft);
  H5Aclose(a);
  return rc;
}

hid_t vt_h5_lcpl(void) {
  hid_t p = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(p, 1);
  return p;
}

int vt_h5_write_strings(hid_t loc, const char *name, const char *const *s, size_t n) {
  /* The type says UTF-8; file names and labels may not be: escape those. */
  const char **valid = NULL;
  char **escaped = NULL;
  for (size_t i = 0; i < n; i++) {
    char *e = vt_utf8_escaped(s[i]);
    if (!e) continue;
    if (!valid) {
      valid = vt_xmalloc(n * sizeof *valid);
      memcpy(valid, s, n * sizeof *valid);
      escaped = vt_xcalloc(n, sizeof *escaped);
    }
    valid[i] = escaped[i] = e;
  }
  if (valid) s = valid;
  hid_t t = vt_h5_str_type();
  hsize_t dim = n;
  hid_t sp = H5Screate_simple(1, &dim, NULL), lcpl = vt_h5_lcpl();
  hid_t d = H5Dcreate2(loc, name, t, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  int rc = 0;
  if (d < 0 || (n && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0))
    rc = write_error("dataset", name);
  if (d >= 0 && H5Dclose(d) < 0) rc = write_error("dataset", name); /* closing flushes */
  H5Pclose(lcpl);
  H5Sclose(sp);
  H5Tclose(t);
  for (size_t i = 0; escaped && i < n; i++) free(escaped[i]);
  free(escaped);
  free(valid);
  return rc;
}

int vt_h5_write_1d(hid_t loc, const char *name, hid_t type, const void *data, size_t n) {
  hsize_t dim = n;
  hid_t sp = H5Screate_simple(1, &dim, NULL), lcpl = vt_h5_lcpl();
  hid_t d = H5Dcreate2(loc, name, type, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  int rc = 0;
  if (d < 0 || (n && H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0))
    rc = write_error("dataset", name);
  if (d >= 0 && H5Dclose(d) < 0) rc = write_error("dataset", name); /* closing flushes */
  H5Pclose(lcpl);
  H5Sclose(sp);
  return rc;
}
