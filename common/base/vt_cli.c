#include "base/vt_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/vt_common.h"
#include "base/vt_signal_hold.h"

int vt_parse_long(const char *s, long lo, long hi, const char *flag, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi)
    return vt_fail("%s wants a whole number in %ld..%ld, not '%s'", flag, lo, hi, s);
  *out = v;
  return 0;
}

int vt_parse_choice(const char *s, const char *flag, const char *const *names, int *out) {
  char list[256] = "";
  int n = 0;
  for (; names[n]; n++)
    if (!strcmp(s, names[n])) return *out = n, 0;
  for (int i = 0; i < n; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i == 0 ? "" : i + 1 < n ? ", " : " or ",
             names[i]);
  return vt_fail("%s is %s, not '%s'", flag, list, s);
}

int vt_parse_int(const char *s, int lo, int hi, const char *flag, int *out) {
  long v;
  if (vt_parse_long(s, lo, hi, flag, &v) < 0) return -1;
  *out = (int)v;
  return 0;
}

/* %g without the exponent's leading zero: 1e-9, not 1e-09 */
static const char *short_g(double v, char buf[32]) {
  snprintf(buf, 32, "%g", v);
  char *e = strchr(buf, 'e');
  if (e && (e[1] == '-' || e[1] == '+') && e[2] == '0' && e[3]) memmove(e + 2, e + 3, strlen(e + 3) + 1);
  return buf;
}

int vt_parse_double(const char *s, double lo, double hi, const char *flag, double *out) {
  char *end, a[32], b[32];
  errno = 0;
  double v = strtod(s, &end);
  /* !(in range) also refuses nan; errno refuses values that under- or overflow */
  if (errno || end == s || *end || !(v >= lo && v <= hi))
    return vt_fail("%s wants a number in %s..%s, not '%s'", flag, short_g(lo, a), short_g(hi, b), s);
  *out = v;
  return 0;
}

int vt_parse_float(const char *s, double lo, double hi, const char *flag, float *out) {
  double v;
  if (vt_parse_double(s, lo, hi, flag, &v) < 0) return -1;
  *out = (float)v;
  return 0;
}

int vt_parse_size(const char *s, const char *flag, int *height, int *width) {
  int h, w, n = 0;
  char x;
  if (sscanf(s, "%d%c%d%n", &h, &x, &w, &n) == 3 && (x == 'x' || x == 'X') && !s[n]) {
  } else if (sscanf(s, "%d%n", &h, &n) == 1 && !s[n]) {
    w = h;
  } else {
    return vt_fail("%s: '%s' is not N or HxW", flag, s);
  }
  if (h < 8 || w < 8 || h > 4096 || w > 4096) return vt_fail("%s: %dx%d is outside 8..4096", flag, h, w);
  *height = h;
  *width = w;
  return 0;
}

const char *vt_plural(long long n, const char *one, const char *many) { return n == 1 ? one : many; }

/* Edit distance with swaps of neighbours (optimal string alignment); names
 * longer than 40 characters are never near. */
static int distance(const char *a, const char *b) {
  int la = (int)strlen(a), lb = (int)strlen(b);
  if (la > 40 || lb > 40) return 99;
  int d[41][41];
  for (int i = 0; i <= la; i++) d[i][0] = i;
  for (int j = 0; j <= lb; j++) d[0][j] = j;
  for (int i = 1; i <= la; i++)
    for (int j = 1; j <= lb; j++) {
      int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[la][lb];
}

const char *vt_nearest_name(const char *name, const char *const *candidates, int n) {
  int limit = strlen(name) <= 4 ? 1 : 2;
  const char *best = NULL;
  for (int i = 0; i < n; i++) {
    int d = distance(name, candidates[i]);
    if (d <= limit) best = candidates[i], limit = d - 1;
  }
  return best;
}

char *vt_join_args(int argc, char *const *argv) {
  size_t n = 1;
  for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 1;
  char *s = vt_xmalloc(n);
  s[0] = '\0';
  for (int i = 0; i < argc; i++) {
    if (i) strcat(s, " ");
    strcat(s, argv[i]);
  }
  return s;
}

char *vt_temp_name(const char *path) {
  size_t len = strlen(path) + 32;
  char *tmp = vt_xmalloc(len);
  snprintf(tmp, len, "%s.tmp%ld", path, (long)getpid());
  return tmp;
}

int vt_try_create(const char *path) {
  vt_signal_hold(); /* an interrupt must not leave the probe behind */
  FILE *f = fopen(path, "wb");
  int err = f ? 0 : errno;
  if (f) {
    fclose(f);
    unlink(path);
  }
  vt_signal_release();
  return err;
}

int vt_check_writable(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return vt_fail("cannot write %s: it is a directory", path);
  char *tmp = vt_temp_name(path);
  int err = vt_try_create(tmp);
  free(tmp);
  return err ? vt_fail("cannot write %s: %s", path, strerror(err)) : 0;
}

int vt_write_file_atomic(const char *path, int (*write)(FILE *f, const void *ctx), const void *ctx) {
  char *tmp = vt_temp_name(path);
  vt_signal_hold(); /* an interrupt waits for the rename: no .tmp left */
  int rc = 0;
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    rc = vt_fail("cannot write %s: %s", path, strerror(errno));
  } else {
    if (write(f, ctx) < 0) rc = vt_fail_prefix("cannot write %s", path);
    int stream_error = ferror(f); /* a failed write that the final flush does not repeat */
    if (fclose(f) != 0 && rc == 0) rc = vt_fail("cannot write %s: %s", path, strerror(errno));
    if (stream_error && rc == 0) rc = vt_fail("cannot write %s: write error", path);
    if (rc == 0 && rename(tmp, path) != 0)
      rc = vt_fail("cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc < 0) unlink(tmp);
  }
  vt_signal_release();
  free(tmp);
  return rc;
}

/* The canonical path of the directory holding path ("." for a bare name),
 * malloc'd, or NULL if it does not resolve. */
static char *parent_realpath(const char *path) {
  char *dir = vt_xdirname(path);
  char *real = realpath(dir, NULL);
  free(dir);
  return real;
}

int vt_same_file(const char *a, const char *b) {
  if (strcmp(a, b) == 0) return 1;
  struct stat sa, sb;
  int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
  if (ea || eb) return ea && eb && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  /* neither exists yet: the same name in the same directory */
  const char *na = strrchr(a, '/'), *nb = strrchr(b, '/');
  na = na ? na + 1 : a;
  nb = nb ? nb + 1 : b;
  if (strcmp(na, nb) != 0) return 0;
  char *da = parent_realpath(a), *db = parent_realpath(b);
  int same = da && db && strcmp(da, db) == 0;
  free(da);
  free(db);
  return same;
}
