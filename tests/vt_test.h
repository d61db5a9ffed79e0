/* vt_test.h: the check macro of the C tests. A failed check prints its file,
 * line, condition and an optional printf-style message, is counted, and the
 * test goes on; main returns failures != 0. Also: fixture files, and where
 * the repository's data is. */
#ifndef VT_TEST_H
#define VT_TEST_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

/* printf without a format attribute, so that an empty message is fine. */
static inline void vt_test_note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
}

/* CHECK(cond) or CHECK(cond, "format", args...) */
#define CHECK(cond, ...)                                     \
  do {                                                       \
    if (!(cond)) {                                           \
      printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      vt_test_note("" __VA_ARGS__);                          \
      printf("\n");                                          \
      fflush(stdout);                                        \
      failures++;                                            \
    }                                                        \
  } while (0)

/* fopen of a fixture file the test writes or reads back: a failure there is
 * the test's setup failing, so it stops with the caller's file and line. */
#define vt_fopen_check(path, mode) vt_fopen_check_at((path), (mode), __FILE__, __LINE__)
static inline FILE *vt_fopen_check_at(const char *path, const char *mode, const char *file, int line) {
  FILE *f = fopen(path, mode);
  if (!f) {
    fprintf(stderr, "cannot open %s (mode %s): %s [%s:%d]\n", path, mode, strerror(errno), file, line);
    exit(EXIT_FAILURE);
  }
  return f;
}

/* The path of `rel` in the checkout's data/ folder (the real weights and
 * photos the repository ships): under $VGGTAP_ROOT (tests/run.sh sets it),
 * else the current directory. */
static inline const char *vt_test_data(char *out, size_t n, const char *rel) {
  const char *root = getenv("VGGTAP_ROOT");
  snprintf(out, n, "%s/data/%s", root && *root ? root : ".", rel);
  return out;
}

#endif
