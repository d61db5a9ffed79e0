#include "store_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/vt_common.h"
#include "store/vt_store_read.h"

/* The pid the holder wrote into the lock file, or 0 if unreadable. */
static long holder_pid(int fd) {
  char buf[32] = "";
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  return n > 0 ? strtol(buf, NULL, 10) : 0;
}

static int refuse(const char *out, const char *path, int fd) {
  long pid = holder_pid(fd);
  char who[48] = "";
  if (pid > 0) snprintf(who, sizeof who, " (pid %ld)", pid);
  return vt_fail("%s is being written by another vggtap-extract%s, which holds %s: wait for it to "
                 "finish or stop it (Ctrl-C keeps its work), then run this again",
                 out, who, path);
}

/* The pid is only for another run's refusal message: failing to write it
 * (a full disk) must not stop this run. */
static void note_pid(int fd) {
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  int ok = ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) == len;
  (void)ok;
}

/* Opens and locks `path`: the fd, -1 with a reason, or -2 when the file was
 * removed meanwhile (try again). */
static int try_lock(const char *out, const char *dir, const char *path) {
  if (mkdir(dir, 0777) != 0 && errno != EEXIST)
    return vt_fail("cannot create %s: %s", dir, strerror(errno));
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return errno == ENOENT ? -2 : vt_fail("cannot create %s: %s", path, strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int rc = errno == EWOULDBLOCK ? refuse(out, path, fd)
                                  : vt_fail("cannot lock %s: %s", path, strerror(errno));
    close(fd);
    return rc;
  }
  /* A run that finishes removes OUT.partial/ with the lock file in it; a
   * lock on that removed file protects nothing. */
  struct stat held, now;
  if (fstat(fd, &held) != 0 || stat(path, &now) != 0 || held.st_ino != now.st_ino ||
      held.st_dev != now.st_dev) {
    close(fd);
    return -2;
  }
  note_pid(fd);
  return fd;
}

int vt_store_lock(const char *out) {
  char *dir = vt_store_partial_dir(out);
  size_t n = strlen(dir) + sizeof "/lock";
  char *path = vt_xmalloc(n);
  snprintf(path, n, "%s/lock", dir);
  int fd = -2;
  for (int attempt = 0; attempt < 100 && fd == -2; attempt++) fd = try_lock(out, dir, path);
  if (fd == -2) fd = vt_fail("cannot lock %s: it keeps being removed", path);
  free(dir);
  free(path);
  return fd;
}
