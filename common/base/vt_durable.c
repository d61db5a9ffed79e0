#include "base/vt_durable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/vt_common.h"

/* Linux syncs through a read-only descriptor too: the data and metadata of
 * the file (or directory), not of the descriptor. */
static int sync_path(const char *path, int flags) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
  if (fd < 0) return vt_fail("cannot open %s to sync it: %s", path, strerror(errno));
  int rc = 0;
  if (fsync(fd) != 0 && errno != EINVAL) rc = vt_fail("cannot sync %s to disk: %s", path, strerror(errno));
  close(fd);
  return rc;
}

int vt_rename_durable(const char *tmp, const char *path) {
  if (sync_path(tmp, 0) < 0) return -1;
  if (rename(tmp, path) != 0) return vt_fail("cannot rename %s to %s: %s", tmp, path, strerror(errno));
  char *dir = vt_xdirname(path);
  int rc = sync_path(dir, O_DIRECTORY);
  free(dir);
  return rc;
}
