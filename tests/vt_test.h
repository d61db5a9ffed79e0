/* vt_test.h: the check macro of the C tests. A failed check prints its file,
 * line, condition and an optional printf-style message, is counted, and the
 * test goes on; main returns failures != 0. */
#ifndef VT_TEST_H
#define VT_TEST_H

#include <stdarg.h>
#include <stdio.h>

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

#endif
