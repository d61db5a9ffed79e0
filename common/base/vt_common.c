#define _GNU_SOURCE
#include "base/vt_common.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char failure_reason[1024];

int vt_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(failure_reason, sizeof failure_reason, fmt, ap);
  va_end(ap);
  return -1;
}

int vt_fail_prefix(const char *fmt, ...) {
  char prefix[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  /* Shift the old reason right and put "prefix: " in front, truncating. */
  size_t lp = strlen(prefix) + 2, cap = sizeof failure_reason;
  size_t lo = strnlen(failure_reason, cap - 1);
  if (lp + lo > cap - 1) lo = cap - 1 - lp;
  memmove(failure_reason + lp, failure_reason, lo);
  failure_reason[lp + lo] = '\0';
  memcpy(failure_reason, prefix, lp - 2);
  failure_reason[lp - 2] = ':';
  failure_reason[lp - 1] = ' ';
  return -1;
}

const char *vt_failure_reason(void) { return failure_reason; }

static void out_of_memory(size_t n, const char *file, int line) {
  fprintf(stderr, "vggtap: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
  exit(EXIT_FAILURE);
}

void *vt_xmalloc_at(size_t n, const char *file, int line) {
  void *p = malloc(n ? n : 1);
  if (!p) out_of_memory(n, file, line);
  return p;
}

void *vt_xpage_alloc_at(size_t n, const char *file, int line) {
  enum { PAGE = 4096, HUGE_PAGE = 2 << 20 };
  void *p = NULL;
  size_t align = n >= HUGE_PAGE && n <= SIZE_MAX - HUGE_PAGE ? HUGE_PAGE : PAGE;
  if (align == HUGE_PAGE) n = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE; /* no part-used huge page */
  if (posix_memalign(&p, align, n ? n : 1) != 0) out_of_memory(n, file, line);
  /* Only a hint: where huge pages are off or unavailable, nothing changes. */
  if (align == HUGE_PAGE) madvise(p, n, MADV_HUGEPAGE);
  return p;
}

void *vt_xcalloc_at(size_t n, size_t size, const char *file, int line) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) out_of_memory(n * size, file, line);
  return p;
}

void *vt_xrealloc_at(void *p, size_t n, const char *file, int line) {
  void *q = realloc(p, n ? n : 1);
  if (!q) out_of_memory(n, file, line);
  return q;
}

char *vt_xstrdup_at(const char *s, const char *file, int line) {
  size_t n = strlen(s) + 1;
  char *p = vt_xmalloc_at(n, file, line);
  memcpy(p, s, n);
  return p;
}

char *vt_xdirname_at(const char *path, const char *file, int line) {
  const char *slash = strrchr(path, '/');
  if (!slash) return vt_xstrdup_at(".", file, line);
  size_t n = (size_t)(slash - path) + (slash == path); /* "/x" -> "/" */
  char *p = vt_xmalloc_at(n + 1, file, line);
  memcpy(p, path, n);
  p[n] = '\0';
  return p;
}

void *vt_aligned_alloc(size_t n) {
  void *p = NULL;
  if (posix_memalign(&p, 64, n ? n : 64) != 0) {
    vt_fail("out of memory allocating %zu bytes", n);
    return NULL;
  }
  return p;
}

int vt_size_mul(size_t a, size_t b, size_t *out) {
  if (__builtin_mul_overflow(a, b, out)) return vt_fail("size overflow (%zu x %zu)", a, b);
  return 0;
}

int vt_size_mul3(size_t a, size_t b, size_t c, size_t *out) {
  size_t ab;
  if (vt_size_mul(a, b, &ab) < 0) return -1;
  return vt_size_mul(ab, c, out);
}

int vt_size_add(size_t a, size_t b, size_t *out) {
  if (__builtin_add_overflow(a, b, out)) return vt_fail("size overflow (%zu + %zu)", a, b);
  return 0;
}

double vt_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int vt_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (int)n;
}

int vt_split_commas(char *s, char **items, int max) {
  int n = 0;
  for (;;) {
    if (n == max) return -1;
    items[n++] = s;
    char *comma = strchr(s, ',');
    if (!comma) return n;
    *comma = '\0';
    s = comma + 1;
  }
}
