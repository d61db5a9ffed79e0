/* fuzz_file.h: for harnesses whose API takes a path (HDF5 files, configs):
 * one temporary file per process, rewritten for each input, removed at exit. */
#ifndef FUZZ_FILE_H
#define FUZZ_FILE_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_path[64];

static void fuzz_file_remove(void) { unlink(fuzz_path); }

/* The process's temporary file (named with suffix on the first call). */
static inline const char *fuzz_file_path(const char *suffix) {
  if (!fuzz_path[0]) {
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(fuzz_path, sizeof fuzz_path, "%.30s/vggtap-fuzz-%d%s", dir, (int)getpid(), suffix);
    atexit(fuzz_file_remove);
  }
  return fuzz_path;
}

/* Writes data to the process's temporary file and returns its path; aborts
 * if the file cannot be written (a harness problem, not a finding). */
static inline const char *fuzz_write_file(const uint8_t *data, size_t size, const char *suffix) {
  const char *path = fuzz_file_path(suffix);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd) != 0) {
    perror(path);
    abort();
  }
  return path;
}

/* FUZZ_VERBOSE=1 (running a harness on single files, e.g. to check that a
 * seed reaches what it should): prints what the reader said. */
static inline void fuzz_report(const char *what, int rc, const char *reason) {
  static int verbose = -1;
  if (verbose < 0) verbose = getenv("FUZZ_VERBOSE") != NULL;
  if (verbose) fprintf(stderr, "%s: %s\n", what, rc < 0 ? reason : "ok");
}

#endif
