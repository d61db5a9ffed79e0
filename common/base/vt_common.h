/* vt_common.h: errors, checked allocation and checked size arithmetic shared by
 * every vggtap module.
 *
 * Error convention (stb/libvips style): the function that detects a failure
 * calls vt_fail("what went wrong") once, which stores the reason in a
 * thread-local buffer and returns -1. Callers propagate -1 without adding
 * messages of their own (they may prefix context with vt_fail_prefix). The
 * top level prints vt_failure_reason(). */
#ifndef VT_COMMON_H
#define VT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define VT_VERSION "0.1.0"

#if defined(__GNUC__)
#define VT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VT_PRINTF(a, b)
#endif

/* Records the reason for the current failure (printf format); returns -1. */
int vt_fail(const char *fmt, ...) VT_PRINTF(1, 2);
/* Prepends "<context>: " to the stored reason; returns -1. */
int vt_fail_prefix(const char *fmt, ...) VT_PRINTF(1, 2);
/* The reason recorded by the last vt_fail on this thread ("" if none). */
const char *vt_failure_reason(void);

/* Allocation that cannot fail quietly: on out-of-memory it prints the caller's
 * file and line and exits (llm.c's mallocCheck). Use for sizes that are not
 * under an input file's control. */
#define vt_xmalloc(n) vt_xmalloc_at((n), __FILE__, __LINE__)
#define vt_xcalloc(n, s) vt_xcalloc_at((n), (s), __FILE__, __LINE__)
#define vt_xrealloc(p, n) vt_xrealloc_at((p), (n), __FILE__, __LINE__)
#define vt_xstrdup(s) vt_xstrdup_at((s), __FILE__, __LINE__)
/* The directory part of a path, as a new string: "." for a bare name, "/"
 * for a name at the root. */
#define vt_xdirname(path) vt_xdirname_at((path), __FILE__, __LINE__)
/* Page-aligned (4096 bytes), as O_DIRECT writes need; free with free().
 * From 2 MiB up, aligned to 2 MiB and backed by huge pages where the kernel
 * allows (MADV_HUGEPAGE): an O_DIRECT write pins every page of its buffer,
 * and a block1 map is 800 small pages but 2 huge ones (the pinning was ~3%
 * of vggtap-extract's CPU time with maps). */
#define vt_xpage_alloc(n) vt_xpage_alloc_at((n), __FILE__, __LINE__)
void *vt_xmalloc_at(size_t n, const char *file, int line);
void *vt_xcalloc_at(size_t n, size_t size, const char *file, int line);
void *vt_xrealloc_at(void *p, size_t n, const char *file, int line);
char *vt_xstrdup_at(const char *s, const char *file, int line);
char *vt_xdirname_at(const char *path, const char *file, int line);
void *vt_xpage_alloc_at(size_t n, const char *file, int line);

/* 64-byte aligned allocation for tensors; free with free(). NULL + vt_fail on failure. */
void *vt_aligned_alloc(size_t n);

/* Checked size arithmetic: return 0 and store the result, or return -1 (with a
 * vt_fail reason) on overflow. */
int vt_size_mul(size_t a, size_t b, size_t *out);
int vt_size_mul3(size_t a, size_t b, size_t c, size_t *out);
int vt_size_add(size_t a, size_t b, size_t *out);

/* Monotonic clock in seconds. */
double vt_now(void);

/* Number of online CPUs (at least 1). */
int vt_cpu_count(void);

/* Splits a comma-separated list in place; returns the number of items (at
 * most max), or -1 if there are more than max. Empty items are kept. */
int vt_split_commas(char *s, char **items, int max);

#endif
