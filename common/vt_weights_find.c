/* vt_weights_find.c: the weights lookup order (see vt_weights_find.h). */
#include "vt_weights_find.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vt_common.h"

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The Keras cache path of the weights file (whether or not it exists), in a
 * static buffer; "" if neither $KERAS_HOME nor $HOME is set. */
static const char *keras_cache_path(void) {
  static char path[4096];
  const char *keras_home = getenv("KERAS_HOME"), *home = getenv("HOME");
  if (keras_home && *keras_home)
    snprintf(path, sizeof path, "%s/models/%s", keras_home, VT_KERAS_WEIGHTS_NAME);
  else if (home && *home)
    snprintf(path, sizeof path, "%s/.keras/models/%s", home, VT_KERAS_WEIGHTS_NAME);
  else
    path[0] = '\0';
  return path;
}

/* The instructions every "not found" message ends with. */
#define HOW_TO_GET                                                                         \
  "Get the Keras VGG16 weights (%d bytes, md5 " VT_KERAS_WEIGHTS_MD5 "):\n"                \
  "  mkdir -p %s && curl -fL -o %s/" VT_KERAS_WEIGHTS_NAME " \\\n    " VT_KERAS_WEIGHTS_URL \
  "\nor point at a file you have: --weights FILE, `weights = FILE` in the config's [vggtap]\n" \
  "section, or export VGGTAP_WEIGHTS=FILE (docs/CONFIG.md, \"Weights\")."

static void cache_dir(char *dir, size_t n) {
  snprintf(dir, n, "%s", keras_cache_path());
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  else snprintf(dir, n, "~/.keras/models");
}

const char *vt_weights_find(const char *given) {
  char dir[4096];
  cache_dir(dir, sizeof dir);
  if (given) {
    if (is_file(given)) return given;
    vt_fail("weights file %s (from --weights or the config's `weights` key) does not exist.\n" HOW_TO_GET,
            given, VT_KERAS_WEIGHTS_BYTES, dir, dir);
    return NULL;
  }
  const char *env = getenv("VGGTAP_WEIGHTS");
  if (env && *env) {
    if (is_file(env)) return env;
    vt_fail("VGGTAP_WEIGHTS=%s: no such file.\n" HOW_TO_GET, env, VT_KERAS_WEIGHTS_BYTES, dir, dir);
    return NULL;
  }
  const char *cache = keras_cache_path();
  if (*cache && is_file(cache)) return cache;
  vt_fail("no VGG16 weights found (no --weights, no `weights` key, VGGTAP_WEIGHTS unset, and no %s).\n" HOW_TO_GET,
          *cache ? cache : "Keras cache file", VT_KERAS_WEIGHTS_BYTES, dir, dir);
  return NULL;
}
